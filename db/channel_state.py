"""What the chat channels (the Telegram bot) keep between restarts, and the outbox through which any
part of the product can send a message to a channel user.

- conversations: the current conversation generation of each chat (`/reset` starts a new one), so
  the assistant's conversation id for a chat is stable across restarts;
- callbacks: button payloads too long for a channel's button data, stored under a short key;
- pending: messages the assistant could not take (it was down), answered when it is back;
- outbox: proactive messages (helpdesk replies, alerts) waiting to be delivered by a channel.

Every function opens its own short session on `url` (default: the configured database) and
returns plain dataclasses. Nothing here knows Rasa or Telegram's API.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, String, Text, delete, func, select, update

from db.engine import session_scope
from db.models import Base

TELEGRAM = "telegram"
CONVERSATION_PREFIX = {TELEGRAM: "tg"}
MAX_CHAT_ID = 64
MAX_TEXT = 20_000
MAX_BUTTONS = 12
MAX_LABEL = 100
OUTBOX_MAX_ATTEMPTS = 5
STATUSES = ("queued", "delivered", "failed")
_CONVERSATION_RE = re.compile(r"^(?P<prefix>[a-z]+)-(?P<chat>-?[0-9]{1,20})(?::(?P<gen>[0-9]{1,9}))?$")


# --------------------------------------------------------------------------- tables


class ChannelConversation(Base):
    """The current conversation generation of a chat: 0 until the first `/reset`."""

    __tablename__ = "channel_conversations"
    channel = Column(String(20), primary_key=True)
    chat_id = Column(String(MAX_CHAT_ID), primary_key=True)
    generation = Column(Integer, nullable=False, default=0)
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class ChannelCallback(Base):
    """A button payload stored under a short random key (the channel sends only the key)."""

    __tablename__ = "channel_callbacks"
    key = Column(String(32), primary_key=True)
    channel = Column(String(20), nullable=False)
    chat_id = Column(String(MAX_CHAT_ID), nullable=False)
    conversation_id = Column(String(200), nullable=False)
    payload = Column(Text, nullable=False)
    title = Column(String(300))
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    __table_args__ = (Index("ix_channel_callbacks_created", "created_at"),)


class ChannelPending(Base):
    """A user message the assistant has not answered yet because it could not be reached."""

    __tablename__ = "channel_pending"
    id = Column(Integer, primary_key=True)
    channel = Column(String(20), nullable=False)
    chat_id = Column(String(MAX_CHAT_ID), nullable=False)
    conversation_id = Column(String(200), nullable=False)
    text = Column(Text, nullable=False)
    meta = Column(JSON)
    reply_to = Column(BigInteger)
    attempts = Column(Integer, nullable=False, default=0)
    received_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    __table_args__ = (Index("ix_channel_pending_chat", "channel", "chat_id", "id"),)


class ChannelOutbox(Base):
    """A message to deliver to a channel user on behalf of another part of the product."""

    __tablename__ = "channel_outbox"
    id = Column(Integer, primary_key=True)
    channel = Column(String(20), nullable=False)
    recipient = Column(String(MAX_CHAT_ID), nullable=False)
    text = Column(Text, nullable=False)
    buttons = Column(JSON)
    sender_label = Column(String(MAX_LABEL))
    status = Column(String(12), nullable=False, default="queued")
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(Text)
    next_attempt_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    delivered_at = Column(DateTime(timezone=True))
    __table_args__ = (Index("ix_channel_outbox_due", "channel", "status", "next_attempt_at"),)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class StoredCallback:
    key: str
    chat_id: str
    conversation_id: str
    payload: str
    title: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class PendingMessage:
    id: int
    channel: str
    chat_id: str
    conversation_id: str
    text: str
    metadata: dict[str, Any]
    reply_to: int | None
    attempts: int
    received_at: dt.datetime


@dataclass(frozen=True)
class OutboundMessage:
    id: int
    channel: str
    recipient: str
    text: str
    buttons: list[dict[str, str]]
    sender_label: str | None
    status: str
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _chat(chat_id: str | int) -> str:
    value = str(chat_id).strip()
    if not value or len(value) > MAX_CHAT_ID:
        raise ValueError(f"chat id must be 1-{MAX_CHAT_ID} characters, got {chat_id!r}")
    return value


def _clean(text: str, limit: int) -> str:
    return str(text).replace("\x00", "")[:limit]  # PostgreSQL rejects NUL characters


# --------------------------------------------------------------------------- conversations


def conversation_id(channel: str, chat_id: str | int, generation: int = 0) -> str:
    """The assistant's conversation (sender) id for a chat: "tg-<chat>", then "tg-<chat>:<n>"
    after the n-th reset."""
    prefix = CONVERSATION_PREFIX.get(channel, channel)
    base = f"{prefix}-{_chat(chat_id)}"
    return base if generation == 0 else f"{base}:{generation}"


def recipient_of(conversation: str) -> tuple[str, str] | None:
    """(channel, chat id) of a conversation id made by `conversation_id`, else None: lets the
    helpdesk answer an introduction request on the channel it came from."""
    match = _CONVERSATION_RE.match(conversation or "")
    if not match:
        return None
    channels = {prefix: channel for channel, prefix in CONVERSATION_PREFIX.items()}
    channel = channels.get(match["prefix"])
    return (channel, match["chat"]) if channel else None


def conversation_generation(channel: str, chat_id: str | int, url: str | None = None) -> int:
    """The chat's current conversation generation (0 if it never reset)."""
    with session_scope(url) as session:
        row = session.get(ChannelConversation, (channel, _chat(chat_id)))
        return row.generation if row else 0


def new_conversation(channel: str, chat_id: str | int, url: str | None = None) -> int:
    """Start a fresh conversation for the chat (and forget its unanswered messages); returns the
    new generation."""
    chat = _chat(chat_id)
    with session_scope(url, write=True) as session:
        row = session.get(ChannelConversation, (channel, chat))
        if row is None:
            row = ChannelConversation(channel=channel, chat_id=chat, generation=0)
            session.add(row)
        row.generation += 1
        row.updated_at = _now()
        session.execute(delete(ChannelPending).where(ChannelPending.channel == channel, ChannelPending.chat_id == chat))
        return row.generation


# --------------------------------------------------------------------------- callbacks


def store_callback(
    channel: str, chat_id: str | int, conversation: str, payload: str, title: str | None = None, url: str | None = None
) -> str:
    """Keep `payload` for a button in this chat; returns the short key to put in the button."""
    key = secrets.token_urlsafe(12)  # 16 characters, 96 random bits
    with session_scope(url, write=True) as session:
        session.add(
            ChannelCallback(
                key=key,
                channel=channel,
                chat_id=_chat(chat_id),
                conversation_id=conversation,
                payload=_clean(payload, MAX_TEXT),
                title=_clean(title or "", 300) or None,
                created_at=_now(),
            )
        )
    return key


def load_callback(
    channel: str, chat_id: str | int, key: str, max_age: dt.timedelta | None = None, url: str | None = None
) -> StoredCallback | None:
    """The payload stored under `key` for this chat, or None when unknown, of another chat, or
    older than `max_age`."""
    if not isinstance(key, str) or not key or len(key) > 32:
        return None
    with session_scope(url) as session:
        row = session.get(ChannelCallback, key)
        if row is None or row.channel != channel or row.chat_id != _chat(chat_id):
            return None
        created = _utc(row.created_at)
        if max_age is not None and created < _now() - max_age:
            return None
        return StoredCallback(row.key, row.chat_id, row.conversation_id, row.payload, row.title, created)


def purge_callbacks(older_than: dt.timedelta, url: str | None = None) -> int:
    """Forget button payloads older than `older_than`; returns how many."""
    with session_scope(url, write=True) as session:
        return session.execute(delete(ChannelCallback).where(ChannelCallback.created_at < _now() - older_than)).rowcount


# --------------------------------------------------------------------------- pending messages


def _pending(row: ChannelPending) -> PendingMessage:
    return PendingMessage(
        row.id,
        row.channel,
        row.chat_id,
        row.conversation_id,
        row.text,
        dict(row.meta or {}),
        row.reply_to,
        row.attempts,
        _utc(row.received_at),
    )


def add_pending(
    channel: str,
    chat_id: str | int,
    conversation: str,
    text: str,
    metadata: dict[str, Any] | None = None,
    reply_to: int | None = None,
    url: str | None = None,
) -> PendingMessage:
    """Keep a message the assistant could not take, to answer it when the assistant is back."""
    with session_scope(url, write=True) as session:
        row = ChannelPending(
            channel=channel,
            chat_id=_chat(chat_id),
            conversation_id=conversation,
            text=_clean(text, MAX_TEXT),
            meta=metadata or None,
            reply_to=reply_to,
            attempts=0,
            received_at=_now(),
        )
        session.add(row)
        session.flush()
        return _pending(row)


def pending_count(channel: str, chat_id: str | int, url: str | None = None) -> int:
    with session_scope(url) as session:
        return session.scalar(
            select(func.count())
            .select_from(ChannelPending)
            .where(ChannelPending.channel == channel, ChannelPending.chat_id == _chat(chat_id))
        )


def oldest_pending(channel: str, limit: int = 50, url: str | None = None) -> list[PendingMessage]:
    """Unanswered messages, oldest first (so each chat's messages come in the order sent)."""
    with session_scope(url) as session:
        rows = session.scalars(
            select(ChannelPending).where(ChannelPending.channel == channel).order_by(ChannelPending.id).limit(limit)
        )
        return [_pending(r) for r in rows]


def get_pending(pending_id: int, url: str | None = None) -> PendingMessage | None:
    """A pending message, or None once it was answered or dropped (e.g. by a reset)."""
    with session_scope(url) as session:
        row = session.get(ChannelPending, pending_id)
        return _pending(row) if row else None


def pending_attempted(pending_id: int, url: str | None = None) -> None:
    """Count one more failed attempt at answering a pending message."""
    with session_scope(url, write=True) as session:
        session.execute(
            update(ChannelPending).where(ChannelPending.id == pending_id).values(attempts=ChannelPending.attempts + 1)
        )


def remove_pending(pending_id: int, url: str | None = None) -> bool:
    """Forget a pending message (answered, or given up); False if it was already gone."""
    with session_scope(url, write=True) as session:
        return session.execute(delete(ChannelPending).where(ChannelPending.id == pending_id)).rowcount > 0


# --------------------------------------------------------------------------- outbox


def _outbound(row: ChannelOutbox) -> OutboundMessage:
    return OutboundMessage(
        row.id,
        row.channel,
        row.recipient,
        row.text,
        list(row.buttons or []),
        row.sender_label,
        row.status,
        row.attempts,
        row.last_error,
        _utc(row.created_at),
        _utc(row.delivered_at),
    )


def _buttons(buttons: list[dict[str, str]] | None) -> list[dict[str, str]]:
    out = []
    for b in (buttons or [])[:MAX_BUTTONS]:
        if not isinstance(b, dict) or not isinstance(b.get("title"), str) or not b["title"].strip():
            raise ValueError(f"each button needs a 'title' and a 'payload' or 'url': {b!r}")
        target = {k: b[k] for k in ("payload", "url") if isinstance(b.get(k), str) and b[k].strip()}
        if len(target) != 1:
            raise ValueError(f"each button needs exactly one of 'payload' or 'url': {b!r}")
        out.append({"title": _clean(b["title"], 64), **{k: _clean(v, 2000) for k, v in target.items()}})
    return out


def enqueue_outbound(
    channel: str,
    recipient: str | int,
    text: str,
    buttons: list[dict[str, str]] | None = None,
    sender_label: str | None = None,
    url: str | None = None,
) -> int:
    """Queue a message for a channel user; the channel's process delivers it within seconds.

    `recipient` is the channel's chat id (for Telegram: the chat id; see `recipient_of` to get it
    from a conversation id). `text` is plain text (never markup). `buttons`: up to 12 of
    {"title", "payload"} (an assistant command such as "/ask_details", signed by the channel for
    the recipient's conversation) or {"title", "url"}. `sender_label` (e.g. "Helpdesk") is shown
    above the text. Returns the outbox id, to follow with `outbound_status`."""
    if channel not in CONVERSATION_PREFIX:
        raise ValueError(f"unknown channel {channel!r}; known: {', '.join(CONVERSATION_PREFIX)}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty string")
    row = ChannelOutbox(
        channel=channel,
        recipient=_chat(recipient),
        text=_clean(text, MAX_TEXT),
        buttons=_buttons(buttons) or None,
        sender_label=_clean(sender_label, MAX_LABEL) if sender_label else None,
        status="queued",
        attempts=0,
        created_at=_now(),
        next_attempt_at=_now(),
    )
    with session_scope(url, write=True) as session:
        session.add(row)
        session.flush()
        return row.id


def enqueue_for_conversation(
    conversation: str,
    text: str,
    buttons: list[dict[str, str]] | None = None,
    sender_label: str | None = None,
    url: str | None = None,
) -> int | None:
    """`enqueue_outbound` to whoever is behind an assistant conversation id, when that
    conversation came from a channel that can be reached proactively; else None."""
    target = recipient_of(conversation)
    if target is None:
        return None
    return enqueue_outbound(target[0], target[1], text, buttons, sender_label, url=url)


def outbound_due(
    channel: str, limit: int = 20, url: str | None = None, recipients: Iterable[str] | None = None
) -> list[OutboundMessage]:
    """Queued messages whose (next) attempt is due, oldest first; only those for `recipients`
    when given (e.g. the web sessions connected to this process: rows for visitors who left must
    not hold up the others)."""
    query = select(ChannelOutbox).where(
        ChannelOutbox.channel == channel,
        ChannelOutbox.status == "queued",
        ChannelOutbox.next_attempt_at <= _now(),
    )
    if recipients is not None:
        wanted = sorted({str(r) for r in recipients})
        if not wanted:
            return []
        query = query.where(ChannelOutbox.recipient.in_(wanted))
    with session_scope(url) as session:
        rows = session.scalars(query.order_by(ChannelOutbox.id).limit(limit))
        return [_outbound(r) for r in rows]


def mark_delivered(outbound_id: int, url: str | None = None) -> None:
    with session_scope(url, write=True) as session:
        session.execute(
            update(ChannelOutbox)
            .where(ChannelOutbox.id == outbound_id)
            .values(status="delivered", delivered_at=_now(), attempts=ChannelOutbox.attempts + 1, last_error=None)
        )


def mark_attempt_failed(outbound_id: int, error: str, retry_in: dt.timedelta | None, url: str | None = None) -> str:
    """Record a failed delivery: retried after `retry_in`, or given up when `retry_in` is None or
    after OUTBOX_MAX_ATTEMPTS. Returns the new status."""
    with session_scope(url, write=True) as session:
        row = session.get(ChannelOutbox, outbound_id)
        if row is None:
            return "failed"
        row.attempts += 1
        row.last_error = _clean(error, 1000)
        if retry_in is None or row.attempts >= OUTBOX_MAX_ATTEMPTS:
            row.status = "failed"
        else:
            row.next_attempt_at = _now() + retry_in
        return row.status


def outbound_status(outbound_id: int, url: str | None = None) -> OutboundMessage | None:
    """An outbox message with its delivery status ("queued", "delivered" or "failed")."""
    with session_scope(url) as session:
        row = session.get(ChannelOutbox, outbound_id)
        return _outbound(row) if row else None
