"""Helpdesk handoff: tickets (a conversation handed to a person), their messages and staff notes,
staff accounts and their login sessions.

A ticket's life:

    open_ticket ──► waiting ──claim──► claimed ──close──► closed
                      │  ▲               │
                      │  └───release─────┘
                      └──cancel_by_user / close──► closed

While an open ticket *holds* its conversation (`assistant_paused`), the assistant stays silent
in it: the channels ask `active_ticket(conversation_id)` (or call `add_user_message`, which stores
the message on the holding ticket and returns None when there is none). A ticket opened because
the user asked for a person (or was not understood) holds the conversation at once; an
introduction request is a lead that holds it only once staff claim it or write. `hand_back`
releases the conversation to the assistant and leaves the ticket open for follow-up (notes,
closing); `close` ends the ticket and releases the conversation too.

A staff reply is stored and queued for delivery in the same transaction: a row in the channel
outbox (`db.channel_state.ChannelOutbox`, the table the Telegram bot already delivers from)
with `sender_label` "Helpdesk — <name>"; each channel's process delivers the rows of its own
channel (docs/handoff.md).

Every function opens its own short session on `url` (default: the configured database) and
returns plain dataclasses. Nothing here knows Rasa, aiohttp or a channel's API.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from db.channel_state import ChannelOutbox, recipient_of
from db.engine import session_scope
from db.models import Base

REASONS = ("asked_for_person", "not_understood", "introduction")
STATUSES = ("waiting", "claimed", "closed")
SENDERS = ("user", "staff", "assistant", "system")
# Channels whose process delivers outbox rows (Telegram: bot/telegram/outbox.py; the web widget:
# the socket.io channel). Replies on other channels (plain REST) are kept but cannot be pushed.
DELIVERABLE_CHANNELS = ("telegram", "socketio")
STAFF_LABEL_PREFIX = "Helpdesk — "
MAX_TEXT = 20_000
MAX_TRANSCRIPT = 200
MAX_NAME = 200
MAX_CONVERSATION_ID = 200
MAX_RECIPIENT = 64  # db.channel_state.MAX_CHAT_ID: the outbox's recipient column
MAX_USERNAME = 64
MIN_PASSWORD = 10
SESSION_TTL = dt.timedelta(hours=12)
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
# scrypt: n=2**14, r=8, p=1 — 16 MB and ~50 ms per check; stored with the hash so it can change.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32


# --------------------------------------------------------------------------- tables


class StaffAccount(Base):
    """A helpdesk staff member who can log in to the console."""

    __tablename__ = "staff_accounts"
    id = Column(Integer, primary_key=True)
    username = Column(String(MAX_USERNAME), nullable=False, unique=True)
    password_hash = Column(String(300), nullable=False)
    display_name = Column(String(MAX_NAME), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class StaffSession(Base):
    """A console login: only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "staff_sessions"
    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    staff_id = Column(Integer, ForeignKey("staff_accounts.id", ondelete="CASCADE"), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    expires_at = Column(DateTime(timezone=True), nullable=False)
    __table_args__ = (Index("ix_staff_sessions_expires", "expires_at"),)


class TicketRow(Base):
    """A conversation handed to the helpdesk."""

    __tablename__ = "tickets"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(MAX_CONVERSATION_ID), nullable=False)
    channel = Column(String(20), nullable=False)
    recipient = Column(String(MAX_CONVERSATION_ID), nullable=False)
    display_name = Column(String(MAX_NAME))
    reason = Column(String(20), nullable=False)
    profile = Column(JSON)
    status = Column(String(10), nullable=False, default="waiting")
    assistant_paused = Column(Boolean, nullable=False, default=True)
    claimed_by = Column(Integer, ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    closed_by = Column(String(MAX_USERNAME))  # a staff username, or "user"
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    claimed_at = Column(DateTime(timezone=True))
    closed_at = Column(DateTime(timezone=True))
    __table_args__ = (
        # At most one open ticket per conversation, even when two processes open one at once.
        Index(
            "uq_tickets_open_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text("status <> 'closed'"),
            postgresql_where=text("status <> 'closed'"),
        ),
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_conversation", "conversation_id", "id"),
    )


class TicketMessageRow(Base):
    """One line of a ticket's conversation: the transcript before the handoff and all after."""

    __tablename__ = "ticket_messages"
    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False)
    sender = Column(String(10), nullable=False)  # user | staff | assistant | system
    author = Column(String(MAX_NAME))
    text = Column(Text, nullable=False)
    outbox_id = Column(Integer)  # channel_outbox.id of a message sent to the user
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    __table_args__ = (Index("ix_ticket_messages_ticket", "ticket_id", "id"),)


class TicketNoteRow(Base):
    """A staff-only note on a ticket."""

    __tablename__ = "ticket_notes"
    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False)
    staff_id = Column(Integer, ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    text = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    __table_args__ = (Index("ix_ticket_notes_ticket", "ticket_id", "id"),)


# --------------------------------------------------------------------------- results


class HandoffError(ValueError):
    """A request the ticket's state does not allow (e.g. replying to a ticket someone else holds)."""


class StaffExists(ValueError):
    """create_staff: the username is taken."""


@dataclass(frozen=True)
class Staff:
    id: int
    username: str
    display_name: str
    active: bool

    @property
    def label(self) -> str:
        """How the user sees this person's messages: "Helpdesk — <name>"."""
        return STAFF_LABEL_PREFIX + self.display_name


@dataclass(frozen=True)
class Ticket:
    id: int
    conversation_id: str
    channel: str
    recipient: str
    display_name: str | None
    reason: str
    profile: dict[str, Any]
    status: str
    assistant_paused: bool
    claimed_by: str | None  # username
    claimed_by_name: str | None
    closed_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    claimed_at: dt.datetime | None
    closed_at: dt.datetime | None
    last_user_text: str | None = None  # filled by queue() and ticket_detail()
    last_message_id: int = 0

    @property
    def is_open(self) -> bool:
        return self.status != "closed"

    @property
    def deliverable(self) -> bool:
        """Whether staff replies can reach the user (the channel delivers the outbox)."""
        return self.channel in DELIVERABLE_CHANNELS


@dataclass(frozen=True)
class TicketMessage:
    id: int
    ticket_id: int
    sender: str
    author: str | None
    text: str
    created_at: dt.datetime
    delivery: str | None = None  # outbox status of a message sent to the user: queued | delivered | failed


@dataclass(frozen=True)
class Note:
    id: int
    ticket_id: int
    author: str | None
    text: str
    created_at: dt.datetime


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    messages: list[TicketMessage] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _clean(value: Any, limit: int) -> str:
    """Text as stored: without NUL characters (PostgreSQL rejects them), cut to `limit`."""
    return str(value).replace("\x00", "")[:limit]


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("text must be a non-empty string")
    return _clean(value, MAX_TEXT)


def _name(value: Any) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(_clean(value, MAX_NAME * 2).split())[:MAX_NAME]
    return cleaned or None


def _conversation(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("conversation_id must be a non-empty string")
    return _clean(value, MAX_CONVERSATION_ID)


def _json_safe(value: Any, depth: int = 0) -> Any:
    """A profile as JSON both backends store alike: strings without NUL, bounded."""
    if depth > 4:
        return None
    if isinstance(value, Mapping):
        return {_clean(k, 100): _json_safe(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple):
        return [_json_safe(v, depth + 1) for v in list(value)[:50]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clean(value, 1000)


def _staff_names(session, ids: Iterable[int | None]) -> dict[int, StaffAccount]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {s.id: s for s in session.scalars(select(StaffAccount).where(StaffAccount.id.in_(wanted)))}


def _ticket(row: TicketRow, staff: dict[int, StaffAccount], last_user_text: str | None = None, last_id: int = 0):
    claimer = staff.get(row.claimed_by) if row.claimed_by is not None else None
    return Ticket(
        id=row.id,
        conversation_id=row.conversation_id,
        channel=row.channel,
        recipient=row.recipient,
        display_name=row.display_name,
        reason=row.reason,
        profile=dict(row.profile or {}),
        status=row.status,
        assistant_paused=bool(row.assistant_paused),
        claimed_by=claimer.username if claimer else None,
        claimed_by_name=claimer.display_name if claimer else None,
        closed_by=row.closed_by,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        claimed_at=_utc(row.claimed_at),
        closed_at=_utc(row.closed_at),
        last_user_text=last_user_text,
        last_message_id=last_id,
    )


def _load_ticket(session, row: TicketRow) -> Ticket:
    return _ticket(row, _staff_names(session, [row.claimed_by]))


def _message(row: TicketMessageRow, delivery: str | None = None) -> TicketMessage:
    return TicketMessage(row.id, row.ticket_id, row.sender, row.author, row.text, _utc(row.created_at), delivery)


def _add_message(
    session, ticket_id: int, sender: str, text_: str, author: str | None = None, at=None, outbox_id=None
) -> TicketMessageRow:
    row = TicketMessageRow(
        ticket_id=ticket_id,
        sender=sender,
        author=_name(author),
        text=_clean(text_, MAX_TEXT),
        outbox_id=outbox_id,
        created_at=at or _now(),
    )
    session.add(row)
    session.flush()
    return row


def _enqueue(session, ticket: TicketRow, text_: str, sender_label: str | None) -> int | None:
    """Queue `text_` for the ticket's user in the channel outbox (same transaction); None when the
    channel cannot be reached proactively."""
    if ticket.channel not in DELIVERABLE_CHANNELS or len(ticket.recipient) > MAX_RECIPIENT:
        return None
    now = _now()
    row = ChannelOutbox(
        channel=ticket.channel,
        recipient=ticket.recipient,
        text=_clean(text_, MAX_TEXT),
        sender_label=_clean(sender_label, 100) if sender_label else None,
        status="queued",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def _staff_row(session, staff: Staff | int) -> StaffAccount:
    staff_id = staff.id if isinstance(staff, Staff) else staff
    row = session.get(StaffAccount, staff_id)
    if row is None or not row.active:
        raise HandoffError("unknown or inactive staff account")
    return row


def _when(value: Any) -> dt.datetime | None:
    """A transcript entry's time: a datetime, or a Unix timestamp (Rasa events' `timestamp`)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


# --------------------------------------------------------------------------- tickets


def route_for(conversation_id: str, input_channel: str | None) -> tuple[str, str]:
    """(channel, recipient) to reach the user behind an assistant conversation: Telegram chats
    are recognised by their conversation id ("tg-<chat>", relayed over REST); otherwise the input
    channel (e.g. "socketio", whose recipient is the session id = the conversation id)."""
    target = recipient_of(conversation_id)
    if target is not None:
        return target
    return (_clean(input_channel or "rest", 20) or "rest", _conversation(conversation_id))


def open_ticket(
    conversation_id: str,
    channel: str,
    recipient: str,
    reason: str,
    transcript: Iterable[Mapping[str, Any]] = (),
    profile: Mapping[str, Any] | None = None,
    display_name: str | None = None,
    url: str | None = None,
) -> Ticket:
    """Hand a conversation to the helpdesk; returns its open ticket (idempotent: a conversation
    has at most one open ticket — asking again returns it, merging the profile, and makes it hold
    the conversation unless the reason is an introduction).

    `transcript`: the conversation so far, oldest first, as {"sender": "user"|"assistant",
    "text": ..., "at": datetime or Unix time (optional)}; kept only when the ticket is new."""
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)}, got {reason!r}")
    conversation_id = _conversation(conversation_id)
    channel = _clean(channel, 20)
    if not channel or not isinstance(recipient, str | int) or not str(recipient).strip():
        raise ValueError("channel and recipient are required")
    recipient = _clean(recipient, MAX_CONVERSATION_ID)
    profile = _json_safe(dict(profile or {}))
    holds = reason != "introduction"
    entries = [e for e in transcript if isinstance(e, Mapping)][-MAX_TRANSCRIPT:]
    for _attempt in range(3):
        try:
            with session_scope(url, write=True) as session:
                row = session.scalar(
                    select(TicketRow).where(TicketRow.conversation_id == conversation_id, TicketRow.status != "closed")
                )
                now = _now()
                if row is not None:
                    merged = {**(row.profile or {}), **profile}
                    before, asked = (row.profile or {}).get("introduction_to"), profile.get("introduction_to")
                    if before and asked and asked not in str(before).split("; "):
                        merged["introduction_to"] = f"{before}; {asked}"  # every organisation asked for
                    elif before:
                        merged["introduction_to"] = before
                    row.profile = merged
                    row.display_name = _name(display_name) or row.display_name
                    if holds and not row.assistant_paused:
                        row.assistant_paused = True
                        _add_message(session, row.id, "system", f"The user asked for a person again ({reason}).")
                    elif reason == "introduction" and profile.get("introduction_to"):
                        _add_message(session, row.id, "system", f"Introduction requested: {profile['introduction_to']}")
                    row.updated_at = now
                    session.flush()
                    return _load_ticket(session, row)
                row = TicketRow(
                    conversation_id=conversation_id,
                    channel=channel,
                    recipient=recipient,
                    display_name=_name(display_name),
                    reason=reason,
                    profile=profile,
                    status="waiting",
                    assistant_paused=holds,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                for entry in entries:
                    sender = entry.get("sender")
                    body = entry.get("text")
                    if sender not in SENDERS or not isinstance(body, str) or not body.strip():
                        continue
                    _add_message(session, row.id, sender, body, entry.get("author"), _when(entry.get("at")) or now)
                _add_message(session, row.id, "system", f"Handed to the helpdesk ({reason}).", at=now)
                return _load_ticket(session, row)
        except IntegrityError:
            continue  # another process opened it at the same moment: read theirs
    raise HandoffError(f"could not open a ticket for {conversation_id!r}")


def current_ticket(conversation_id: str, url: str | None = None) -> Ticket | None:
    """The conversation's open ticket, holding it or not."""
    with session_scope(url) as session:
        row = session.scalar(
            select(TicketRow).where(
                TicketRow.conversation_id == _conversation(conversation_id), TicketRow.status != "closed"
            )
        )
        return _load_ticket(session, row) if row else None


def active_ticket(conversation_id: str, url: str | None = None) -> Ticket | None:
    """The open ticket holding the conversation — the assistant must stay silent in it — or None."""
    ticket = current_ticket(conversation_id, url=url)
    return ticket if ticket is not None and ticket.assistant_paused else None


def add_user_message(
    conversation_id: str, text_: str, display_name: str | None = None, url: str | None = None
) -> TicketMessage | None:
    """Store a user's message on the ticket holding the conversation; None when no ticket holds it
    (then the message is for the assistant). This is the channels' one call per incoming message."""
    if not isinstance(text_, str) or not text_.strip():
        return None
    with session_scope(url, write=True) as session:
        query = select(TicketRow).where(
            TicketRow.conversation_id == _conversation(conversation_id),
            TicketRow.status != "closed",
            TicketRow.assistant_paused.is_(True),
        )
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update()  # a concurrent hand-back waits for this message
        row = session.scalar(query)
        if row is None:
            return None
        now = _now()
        row.updated_at = now
        if display_name and not row.display_name:
            row.display_name = _name(display_name)
        return _message(_add_message(session, row.id, "user", text_, row.display_name, now))


def add_staff_message(ticket_id: int, staff: Staff | int, text_: str, url: str | None = None) -> TicketMessage:
    """A staff reply: stored, and queued for the user in the channel outbox in the same transaction
    (shown as "Helpdesk — <name>"). The staff member must hold the claim; the ticket then holds the
    conversation (a person is talking: the assistant steps aside until hand_back)."""
    body = _text(text_)
    with session_scope(url, write=True) as session:
        person = _staff_row(session, staff)
        now = _now()
        won = session.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket_id, TicketRow.status == "claimed", TicketRow.claimed_by == person.id)
            .values(assistant_paused=True, updated_at=now)
        ).rowcount
        if not won:
            raise HandoffError("claim the ticket before replying")
        row = session.get(TicketRow, ticket_id)
        outbox_id = _enqueue(session, row, body, STAFF_LABEL_PREFIX + person.display_name)
        message = _add_message(session, ticket_id, "staff", body, person.display_name, now, outbox_id)
        return _message(message, "queued" if outbox_id else None)


def add_system_message(ticket_id: int, text_: str, url: str | None = None) -> TicketMessage:
    """A line in the ticket's log for staff (never sent to the user)."""
    with session_scope(url, write=True) as session:
        if session.get(TicketRow, ticket_id) is None:
            raise HandoffError(f"no ticket {ticket_id}")
        return _message(_add_message(session, ticket_id, "system", _text(text_)))


def claim(ticket_id: int, staff: Staff | int, notice: str | None = None, url: str | None = None) -> bool:
    """Take a waiting ticket; False when it is not waiting any more (someone else was faster, the
    user cancelled). Atomic: of staff racing for a ticket exactly one wins. `notice` (e.g. "Aiko
    joined the chat") is sent to the user from the staff member."""
    with session_scope(url, write=True) as session:
        person = _staff_row(session, staff)
        now = _now()
        won = session.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket_id, TicketRow.status == "waiting")
            .values(status="claimed", claimed_by=person.id, claimed_at=now, updated_at=now, assistant_paused=True)
        ).rowcount
        if won != 1:
            return False
        row = session.get(TicketRow, ticket_id)
        _add_message(session, ticket_id, "system", f"Claimed by {person.display_name} ({person.username}).", at=now)
        if notice:
            outbox_id = _enqueue(session, row, notice, STAFF_LABEL_PREFIX + person.display_name)
            _add_message(session, ticket_id, "staff", notice, person.display_name, now, outbox_id)
        return True


def release(ticket_id: int, staff: Staff | int, url: str | None = None) -> bool:
    """Put a ticket one holds back in the queue for someone else; False if one does not hold it."""
    with session_scope(url, write=True) as session:
        person = _staff_row(session, staff)
        done = session.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket_id, TicketRow.status == "claimed", TicketRow.claimed_by == person.id)
            .values(status="waiting", claimed_by=None, claimed_at=None, updated_at=_now())
        ).rowcount
        if done:
            _add_message(session, ticket_id, "system", f"Released by {person.display_name} for someone else.")
        return bool(done)


def hand_back(ticket_id: int, staff: Staff | int, notice: str | None = None, url: str | None = None) -> bool:
    """Give the conversation back to the assistant (it answers the user's next message, with the
    context it had); the ticket stays open, claimed, for notes and follow-up until closed. `notice`
    (e.g. "You're back with the assistant") is sent to the user as the assistant. False when one
    does not hold the ticket or it does not hold the conversation."""
    with session_scope(url, write=True) as session:
        person = _staff_row(session, staff)
        now = _now()
        done = session.execute(
            update(TicketRow)
            .where(
                TicketRow.id == ticket_id,
                TicketRow.status == "claimed",
                TicketRow.claimed_by == person.id,
                TicketRow.assistant_paused.is_(True),
            )
            .values(assistant_paused=False, updated_at=now)
        ).rowcount
        if not done:
            return False
        row = session.get(TicketRow, ticket_id)
        _add_message(session, ticket_id, "system", f"Handed back to the assistant by {person.display_name}.", at=now)
        if notice:
            outbox_id = _enqueue(session, row, notice, None)
            _add_message(session, ticket_id, "assistant", notice, None, now, outbox_id)
        return True


def close(ticket_id: int, staff: Staff | int, notice: str | None = None, url: str | None = None) -> bool:
    """Close a waiting ticket or one's own claimed ticket; the assistant answers the conversation
    again. `notice` goes to the user (as the assistant) only if the ticket was holding the
    conversation. False when the ticket is closed already or held by someone else."""
    with session_scope(url, write=True) as session:
        person = _staff_row(session, staff)
        now = _now()
        row = session.get(TicketRow, ticket_id)
        if row is None:
            return False
        was_holding = bool(row.assistant_paused)
        done = session.execute(
            update(TicketRow)
            .where(
                TicketRow.id == ticket_id,
                or_(
                    TicketRow.status == "waiting",
                    and_(TicketRow.status == "claimed", TicketRow.claimed_by == person.id),
                ),
            )
            .values(status="closed", assistant_paused=False, closed_at=now, closed_by=person.username, updated_at=now)
        ).rowcount
        if not done:
            return False
        _add_message(session, ticket_id, "system", f"Closed by {person.display_name}.", at=now)
        if notice and was_holding:
            outbox_id = _enqueue(session, row, notice, None)
            _add_message(session, ticket_id, "assistant", notice, None, now, outbox_id)
        return True


def cancel_by_user(conversation_id: str, url: str | None = None) -> Ticket | None:
    """The user stops waiting: a waiting ticket is closed; a claimed one stops holding the
    conversation (staff see it and close it). Returns the ticket as it is now, or None when no
    ticket held the conversation."""
    with session_scope(url, write=True) as session:
        row = session.scalar(
            select(TicketRow).where(
                TicketRow.conversation_id == _conversation(conversation_id),
                TicketRow.status != "closed",
                TicketRow.assistant_paused.is_(True),
            )
        )
        if row is None:
            return None
        now = _now()
        if row.status == "waiting":
            done = session.execute(
                update(TicketRow)
                .where(TicketRow.id == row.id, TicketRow.status == "waiting")
                .values(status="closed", assistant_paused=False, closed_at=now, closed_by="user", updated_at=now)
            ).rowcount
        else:
            done = 0
        if not done:  # claimed (or claimed just now): the staff member keeps the ticket
            session.execute(
                update(TicketRow).where(TicketRow.id == row.id).values(assistant_paused=False, updated_at=now)
            )
        _add_message(session, row.id, "system", "The user cancelled and went back to the assistant.", at=now)
        session.flush()
        session.refresh(row)
        return _load_ticket(session, row)


def add_note(ticket_id: int, staff: Staff | int, text_: str, url: str | None = None) -> Note:
    """A note on a ticket, for staff only."""
    body = _text(text_)
    with session_scope(url, write=True) as session:
        person = _staff_row(session, staff)
        if session.get(TicketRow, ticket_id) is None:
            raise HandoffError(f"no ticket {ticket_id}")
        row = TicketNoteRow(ticket_id=ticket_id, staff_id=person.id, text=body, created_at=_now())
        session.add(row)
        session.flush()
        return Note(row.id, ticket_id, person.display_name, row.text, _utc(row.created_at))


def _last_user_texts(session, ticket_ids: list[int]) -> dict[int, tuple[str | None, int]]:
    """(last user message, last message id) per ticket."""
    if not ticket_ids:
        return {}
    last_user = (
        select(TicketMessageRow.ticket_id, func.max(TicketMessageRow.id).label("mid"))
        .where(TicketMessageRow.ticket_id.in_(ticket_ids), TicketMessageRow.sender == "user")
        .group_by(TicketMessageRow.ticket_id)
        .subquery()
    )
    texts = dict(
        session.execute(
            select(TicketMessageRow.ticket_id, TicketMessageRow.text).join(
                last_user, TicketMessageRow.id == last_user.c.mid
            )
        ).all()
    )
    last_ids = dict(
        session.execute(
            select(TicketMessageRow.ticket_id, func.max(TicketMessageRow.id))
            .where(TicketMessageRow.ticket_id.in_(ticket_ids))
            .group_by(TicketMessageRow.ticket_id)
        ).all()
    )
    return {t: (texts.get(t), last_ids.get(t) or 0) for t in ticket_ids}


def tickets_of_rows(session, rows: list[TicketRow]) -> list[Ticket]:
    """Tickets for rows read in `session`, with each user's last message (for other db modules)."""
    staff = _staff_names(session, [r.claimed_by for r in rows])
    extra = _last_user_texts(session, [r.id for r in rows])
    return [_ticket(r, staff, *extra.get(r.id, (None, 0))) for r in rows]


def message_of_row(row: TicketMessageRow) -> TicketMessage:
    """A ticket message read in another db module's session."""
    return _message(row)


def queue(include_closed: int = 0, url: str | None = None) -> list[Ticket]:
    """Open tickets — waiting ones first, oldest first — with each user's last message; plus the
    `include_closed` most recently closed."""
    with session_scope(url) as session:
        rows = list(
            session.scalars(
                select(TicketRow)
                .where(TicketRow.status != "closed")
                .order_by((TicketRow.status == "waiting").desc(), TicketRow.created_at, TicketRow.id)
            )
        )
        if include_closed:
            rows += list(
                session.scalars(
                    select(TicketRow)
                    .where(TicketRow.status == "closed")
                    .order_by(TicketRow.closed_at.desc(), TicketRow.id.desc())
                    .limit(include_closed)
                )
            )
        return tickets_of_rows(session, rows)


def get_ticket(ticket_id: int, url: str | None = None) -> Ticket | None:
    with session_scope(url) as session:
        row = session.get(TicketRow, ticket_id)
        if row is None:
            return None
        extra = _last_user_texts(session, [row.id])
        return _ticket(row, _staff_names(session, [row.claimed_by]), *extra[row.id])


def messages_since(ticket_id: int, after_id: int = 0, limit: int = 500, url: str | None = None) -> list[TicketMessage]:
    """The ticket's messages with an id above `after_id`, oldest first (for live updates), with the
    delivery status of those sent to the user."""
    with session_scope(url) as session:
        rows = session.execute(
            select(TicketMessageRow, ChannelOutbox.status)
            .outerjoin(ChannelOutbox, ChannelOutbox.id == TicketMessageRow.outbox_id)
            .where(TicketMessageRow.ticket_id == ticket_id, TicketMessageRow.id > (after_id or 0))
            .order_by(TicketMessageRow.id)
            .limit(limit)
        ).all()
        return [_message(row, status) for row, status in rows]


def delivery_states(ticket_id: int, url: str | None = None) -> dict[int, str]:
    """Message id → outbox status ("queued", "delivered", "failed") of what was sent to the user."""
    with session_scope(url) as session:
        rows = session.execute(
            select(TicketMessageRow.id, ChannelOutbox.status)
            .join(ChannelOutbox, ChannelOutbox.id == TicketMessageRow.outbox_id)
            .where(TicketMessageRow.ticket_id == ticket_id)
        ).all()
        return dict(rows)


def notes(ticket_id: int, url: str | None = None) -> list[Note]:
    with session_scope(url) as session:
        rows = session.execute(
            select(TicketNoteRow, StaffAccount.display_name)
            .outerjoin(StaffAccount, StaffAccount.id == TicketNoteRow.staff_id)
            .where(TicketNoteRow.ticket_id == ticket_id)
            .order_by(TicketNoteRow.id)
        ).all()
        return [Note(r.id, r.ticket_id, name, r.text, _utc(r.created_at)) for r, name in rows]


def ticket_detail(ticket_id: int, url: str | None = None) -> TicketDetail | None:
    """A ticket with its whole conversation and notes."""
    ticket = get_ticket(ticket_id, url=url)
    if ticket is None:
        return None
    return TicketDetail(ticket, messages_since(ticket_id, 0, limit=100_000, url=url), notes(ticket_id, url=url))


def tickets_of(conversation_id: str, url: str | None = None) -> list[Ticket]:
    """Every ticket of a conversation, newest first."""
    with session_scope(url) as session:
        rows = list(
            session.scalars(
                select(TicketRow)
                .where(TicketRow.conversation_id == _conversation(conversation_id))
                .order_by(TicketRow.id.desc())
            )
        )
        staff = _staff_names(session, [r.claimed_by for r in rows])
        return [_ticket(r, staff) for r in rows]


# --------------------------------------------------------------------------- staff accounts


def hash_password(password: str) -> str:
    """scrypt with a random per-user salt: "scrypt$n$r$p$salt$hash" (base64)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError, AttributeError):
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(secrets.token_hex(16)))
    return _DUMMY_HASH[0]


def _staff(row: StaffAccount) -> Staff:
    return Staff(row.id, row.username, row.display_name, bool(row.active))


def normalise_username(username: str) -> str:
    value = (username or "").strip().lower()
    if not USERNAME_RE.match(value):
        raise ValueError("a username is 2-64 characters of a-z 0-9 . _ - (starting with a letter or digit)")
    return value


def create_staff(username: str, password: str, display_name: str | None = None, url: str | None = None) -> Staff:
    """A new staff account; raises StaffExists when the username is taken, ValueError when the
    username or password is not acceptable."""
    username = normalise_username(username)
    hashed = hash_password(password)
    try:
        with session_scope(url, write=True) as session:
            if session.scalar(select(StaffAccount.id).where(StaffAccount.username == username)) is not None:
                raise StaffExists(f"a staff account {username!r} exists already")
            row = StaffAccount(
                username=username,
                password_hash=hashed,
                display_name=_name(display_name) or username,
                active=True,
                created_at=_now(),
            )
            session.add(row)
            session.flush()
            return _staff(row)
    except IntegrityError as exc:
        raise StaffExists(f"a staff account {username!r} exists already") from exc


def set_password(username: str, password: str, url: str | None = None) -> bool:
    """Change a password (and log the account out everywhere); False for an unknown username."""
    hashed = hash_password(password)
    with session_scope(url, write=True) as session:
        row = session.scalar(select(StaffAccount).where(StaffAccount.username == normalise_username(username)))
        if row is None:
            return False
        row.password_hash = hashed
        session.execute(delete(StaffSession).where(StaffSession.staff_id == row.id))
        return True


def set_staff_active(username: str, active: bool, url: str | None = None) -> bool:
    """Enable or disable an account (disabling logs it out); False for an unknown username."""
    with session_scope(url, write=True) as session:
        row = session.scalar(select(StaffAccount).where(StaffAccount.username == normalise_username(username)))
        if row is None:
            return False
        row.active = active
        if not active:
            session.execute(delete(StaffSession).where(StaffSession.staff_id == row.id))
        return True


def list_staff(url: str | None = None) -> list[Staff]:
    with session_scope(url) as session:
        return [_staff(r) for r in session.scalars(select(StaffAccount).order_by(StaffAccount.username))]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(username: str, password: str, ttl: dt.timedelta = SESSION_TTL, url: str | None = None) -> str | None:
    """A new session token for a correct username and password of an active account, else None
    (taking as long either way, so the answer does not tell which accounts exist)."""
    if not isinstance(username, str) or not isinstance(password, str) or len(password) > 1024:
        return None
    try:
        username = normalise_username(username)
    except ValueError:
        verify_password(password, _dummy_hash())
        return None
    with session_scope(url) as session:
        row = session.scalar(select(StaffAccount).where(StaffAccount.username == username))
        stored = row.password_hash if row is not None and row.active else None
        staff_id = row.id if row is not None else None
    if not verify_password(password, stored or _dummy_hash()) or stored is None:
        return None
    token = secrets.token_urlsafe(32)
    now = _now()
    with session_scope(url, write=True) as session:
        session.execute(delete(StaffSession).where(StaffSession.expires_at < now))
        session.add(
            StaffSession(token_hash=_token_hash(token), staff_id=staff_id, created_at=now, expires_at=now + ttl)
        )
    return token


def staff_for_token(token: str | None, url: str | None = None) -> Staff | None:
    """The active staff member a session token belongs to, or None (unknown, expired, disabled)."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    with session_scope(url) as session:
        row = session.execute(
            select(StaffAccount, StaffSession.expires_at)
            .join(StaffSession, StaffSession.staff_id == StaffAccount.id)
            .where(StaffSession.token_hash == _token_hash(token))
        ).first()
        if row is None:
            return None
        account, expires = row
        if _utc(expires) <= _now() or not account.active:
            return None
        return _staff(account)


def end_session(token: str | None, url: str | None = None) -> None:
    """Log out: forget the session."""
    if isinstance(token, str) and token:
        with session_scope(url, write=True) as session:
            session.execute(delete(StaffSession).where(StaffSession.token_hash == _token_hash(token)))
