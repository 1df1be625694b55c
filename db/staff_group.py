"""The helpdesk's staff group on Telegram: which staff account a Telegram user is, and which
message in the group stands for which ticket.

The Telegram bot (bot/telegram/staff.py) announces each new ticket in the group, keeps the
announcement's status line current, and mirrors the ticket's later messages below it; a staff
member answers a user by replying to any of those messages. Three small tables (migration 0006):

- staff_telegram_links: Telegram user id → staff account (made by `python -m bot.helpdesk
  link-telegram`); only linked users can claim, reply, hand back or close from the group;
- staff_group_tickets: the announcement message of a ticket, the status it shows, and the last
  ticket message it already covers (later ones are mirrored);
- staff_group_posts: every other group message that belongs to a ticket (mirrored messages and
  staff replies typed in the group), so a mirrored message is posted once, even across restarts.

Every function opens its own short session on `url` (default: the configured database) and
returns plain values. Nothing here knows Telegram's API.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, String, and_, func, select
from sqlalchemy.exc import IntegrityError

from db import handoff
from db.engine import session_scope
from db.handoff import StaffAccount, Ticket, TicketMessage, TicketMessageRow, TicketRow
from db.models import Base

ANNOUNCE_MAX_AGE = dt.timedelta(days=7)  # older open tickets are in the console, not re-announced


class StaffTelegramLink(Base):
    __tablename__ = "staff_telegram_links"
    staff_id = Column(Integer, ForeignKey("staff_accounts.id", ondelete="CASCADE"), primary_key=True)
    telegram_user_id = Column(BigInteger, nullable=False, unique=True)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class StaffGroupTicket(Base):
    __tablename__ = "staff_group_tickets"
    chat_id = Column(String(64), primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    message_id = Column(BigInteger, nullable=False)
    shown = Column(String(200), nullable=False)
    after_message_id = Column(Integer, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())


class StaffGroupPost(Base):
    __tablename__ = "staff_group_posts"
    chat_id = Column(String(64), primary_key=True)
    message_id = Column(BigInteger, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False)
    ticket_message_id = Column(Integer, ForeignKey("ticket_messages.id", ondelete="CASCADE"))
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    __table_args__ = (Index("uq_staff_group_posts_message", "chat_id", "ticket_message_id", unique=True),)


@dataclass(frozen=True)
class Announced:
    """A ticket's announcement in the group: its message, and the status text it shows."""

    ticket: Ticket
    message_id: int
    shown: str


@dataclass(frozen=True)
class ToMirror:
    """A ticket message not yet shown in the group, and the announcement to post it under."""

    message: TicketMessage
    ticket: Ticket
    announcement_id: int


def shown_state(ticket: Ticket) -> str:
    """What an announcement's status line depends on; it is edited when this changes."""
    return f"{ticket.status}|{ticket.claimed_by or ''}|{int(ticket.assistant_paused)}"


# --------------------------------------------------------------------------- staff accounts


def link_telegram(username: str, telegram_user_id: int, url: str | None = None) -> handoff.Staff:
    """Let the Telegram user act for the staff account `username` in the staff group (replacing
    an earlier link of either). Raises ValueError for an unknown account or a malformed id."""
    if isinstance(telegram_user_id, bool) or not isinstance(telegram_user_id, int) or telegram_user_id <= 0:
        raise ValueError("a Telegram user id is a positive number (the bot's /whoami in the staff group tells it)")
    name = handoff.normalise_username(username)
    with session_scope(url, write=True) as session:
        account = session.scalar(select(StaffAccount).where(StaffAccount.username == name))
        if account is None:
            raise ValueError(f"no staff account {name!r} (create it first: python -m bot.helpdesk create-staff)")
        for row in session.scalars(
            select(StaffTelegramLink).where(
                (StaffTelegramLink.staff_id == account.id) | (StaffTelegramLink.telegram_user_id == telegram_user_id)
            )
        ):
            session.delete(row)
        session.flush()
        session.add(StaffTelegramLink(staff_id=account.id, telegram_user_id=telegram_user_id))
        return handoff.Staff(account.id, account.username, account.display_name, bool(account.active))


def unlink_telegram(username: str, url: str | None = None) -> bool:
    """Remove the account's Telegram link; False when it had none."""
    name = handoff.normalise_username(username)
    with session_scope(url, write=True) as session:
        account = session.scalar(select(StaffAccount).where(StaffAccount.username == name))
        link = session.get(StaffTelegramLink, account.id) if account else None
        if link is None:
            return False
        session.delete(link)
        return True


def staff_for_telegram(telegram_user_id: int, url: str | None = None) -> handoff.Staff | None:
    """The active staff account linked to this Telegram user, or None."""
    with session_scope(url) as session:
        account = session.scalar(
            select(StaffAccount)
            .join(StaffTelegramLink, StaffTelegramLink.staff_id == StaffAccount.id)
            .where(StaffTelegramLink.telegram_user_id == int(telegram_user_id), StaffAccount.active.is_(True))
        )
        return handoff.Staff(account.id, account.username, account.display_name, True) if account else None


# --------------------------------------------------------------------------- announcements


def to_announce(chat_id: int | str, limit: int = 20, url: str | None = None) -> list[Ticket]:
    """Open tickets (of the last week) not yet announced in the group, oldest first."""
    since = dt.datetime.now(dt.UTC) - ANNOUNCE_MAX_AGE
    with session_scope(url) as session:
        rows = session.scalars(
            select(TicketRow)
            .outerjoin(
                StaffGroupTicket,
                and_(StaffGroupTicket.ticket_id == TicketRow.id, StaffGroupTicket.chat_id == str(chat_id)),
            )
            .where(TicketRow.status != "closed", TicketRow.created_at >= since, StaffGroupTicket.ticket_id.is_(None))
            .order_by(TicketRow.id)
            .limit(limit)
        ).all()
        return handoff.tickets_of_rows(session, list(rows))


def record_announcement(chat_id: int | str, ticket: Ticket, message_id: int, url: str | None = None) -> None:
    """The ticket was announced as `message_id`; messages after `ticket.last_message_id` are
    mirrored below it."""
    with session_scope(url, write=True) as session:
        session.merge(
            StaffGroupTicket(
                chat_id=str(chat_id),
                ticket_id=ticket.id,
                message_id=message_id,
                shown=shown_state(ticket),
                after_message_id=ticket.last_message_id,
            )
        )


def to_refresh(chat_id: int | str, limit: int = 50, url: str | None = None) -> list[Announced]:
    """Announcements whose ticket changed status since they were posted or last edited."""
    with session_scope(url) as session:
        rows = session.execute(
            select(StaffGroupTicket, TicketRow)
            .join(TicketRow, TicketRow.id == StaffGroupTicket.ticket_id)
            .where(StaffGroupTicket.chat_id == str(chat_id), StaffGroupTicket.shown.not_like("closed|%"))
            .order_by(StaffGroupTicket.ticket_id)
        ).all()
        tickets = handoff.tickets_of_rows(session, [row for _, row in rows])
        changed = [
            Announced(ticket, int(post.message_id), post.shown)
            for (post, _), ticket in zip(rows, tickets, strict=True)
            if shown_state(ticket) != post.shown
        ]
        return changed[:limit]


def set_shown(chat_id: int | str, ticket: Ticket, url: str | None = None) -> None:
    """The announcement now shows the ticket as it is."""
    with session_scope(url, write=True) as session:
        row = session.get(StaffGroupTicket, (str(chat_id), ticket.id))
        if row is not None:
            row.shown = shown_state(ticket)


# --------------------------------------------------------------------------- mirrored messages


def to_mirror(chat_id: int | str, limit: int = 50, url: str | None = None) -> list[ToMirror]:
    """Messages of announced tickets that came after the announcement and are not in the group
    yet (user messages, console replies, status lines), oldest first."""
    chat = str(chat_id)
    with session_scope(url) as session:
        rows = session.execute(
            select(TicketMessageRow, StaffGroupTicket.message_id)
            .join(
                StaffGroupTicket,
                and_(StaffGroupTicket.ticket_id == TicketMessageRow.ticket_id, StaffGroupTicket.chat_id == chat),
            )
            .outerjoin(
                StaffGroupPost,
                and_(StaffGroupPost.chat_id == chat, StaffGroupPost.ticket_message_id == TicketMessageRow.id),
            )
            .where(TicketMessageRow.id > StaffGroupTicket.after_message_id, StaffGroupPost.message_id.is_(None))
            .order_by(TicketMessageRow.id)
            .limit(limit)
        ).all()
        ids = sorted({message.ticket_id for message, _ in rows})
        found = session.scalars(select(TicketRow).where(TicketRow.id.in_(ids))).all() if ids else []
        tickets = {t.id: t for t in handoff.tickets_of_rows(session, list(found))}
        return [
            ToMirror(handoff.message_of_row(message), tickets[message.ticket_id], int(announcement_id))
            for message, announcement_id in rows
        ]


def record_post(
    chat_id: int | str, message_id: int, ticket_id: int, ticket_message_id: int | None = None, url: str | None = None
) -> bool:
    """Remember that group message `message_id` belongs to the ticket (and shows, or is, ticket
    message `ticket_message_id`). False when that ticket message was recorded already."""
    try:
        with session_scope(url, write=True) as session:
            session.add(
                StaffGroupPost(
                    chat_id=str(chat_id),
                    message_id=message_id,
                    ticket_id=ticket_id,
                    ticket_message_id=ticket_message_id,
                )
            )
    except IntegrityError:
        return False
    return True


def ticket_for_message(chat_id: int | str, message_id: int, url: str | None = None) -> int | None:
    """The ticket a group message (an announcement, a mirrored message, a staff reply) is about."""
    chat = str(chat_id)
    with session_scope(url) as session:
        found = session.scalar(
            select(StaffGroupTicket.ticket_id).where(
                StaffGroupTicket.chat_id == chat, StaffGroupTicket.message_id == message_id
            )
        )
        if found is None:
            found = session.scalar(
                select(StaffGroupPost.ticket_id).where(
                    StaffGroupPost.chat_id == chat, StaffGroupPost.message_id == message_id
                )
            )
        return found
