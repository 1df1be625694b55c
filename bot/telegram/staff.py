"""The helpdesk's staff group on Telegram (optional: TELEGRAM_STAFF_CHAT_ID).

For teams that live in Telegram, next to the web console (/helpdesk):

- every new ticket is announced in the group — who, why, what they look for, their last words —
  with buttons to claim, hand back and close; the announcement's status line follows the ticket
  (claimed by whom, handed back, closed), whichever tool was used;
- the ticket's later messages (the user's, console replies, status lines) are posted below it;
- a staff member answers the user by *replying* to any of those messages: the reply reaches the
  user in their own channel (web widget or Telegram) as "Helpdesk — <name>".

Only members whose Telegram account is linked to a staff account can act (`python -m bot.helpdesk
link-telegram <username> <telegram user id>`; `/whoami` in the group tells the id). Nothing else
said in the group reaches the assistant. The group's chat id: add the bot, send /whoami there.
"""

from __future__ import annotations

import asyncio
import html
import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.helpdesk import texts as helpdesk_texts
from bot.telegram import render
from bot.telegram.send import NO_PREVIEWS, send_one, send_text
from db import handoff, staff_group
from db.handoff import HandoffError, Ticket

logger = logging.getLogger(__name__)
CALLBACK_PREFIX = "hd:"
REASONS = {
    "asked_for_person": "asked for a person",
    "not_understood": "was not understood twice",
    "introduction": "asked for an introduction",
}
CHANNELS = {"socketio": "web chat", "telegram": "Telegram", "rest": "REST API"}
PROFILE_LABELS = {
    "introduction_to": "introduction to",
    "profile_sector": "their sector",
    "profile_country": "their country",
    "profile_target": "looking for",
    "sector": "sector",
    "place": "place",
    "country": "country",
    "org_name": "organisation",
    "focus_org": "organisation",
    "site_cluster": "came from site",
}
SENDERS = {"user": "👤", "staff": "🧑‍💼", "assistant": "🤖", "system": "ℹ️"}
EXCERPT = 600

NOT_LINKED = (
    "Your Telegram account is not linked to a helpdesk account. Ask an admin to run: "
    "python -m bot.helpdesk link-telegram <your username> {user_id}"
)
WHOAMI = "Your Telegram user id is {user_id}; this chat's id is {chat_id}.{linked}"
HELP = (
    "Helpdesk group: new tickets appear here. Press Claim, then reply to the ticket's message "
    "(or any message under it) to answer the user. /queue lists open tickets, /whoami shows your ids."
)
NOT_A_TICKET = "I can't tell which ticket that is — reply to a ticket's announcement or a message under it."
QUEUE_EMPTY = "No open tickets."


def _e(value: object) -> str:
    return html.escape(str(value), quote=False)


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_line(ticket: Ticket) -> str:
    if ticket.status == "waiting":
        return "🟡 waiting for someone to claim it"
    if ticket.status == "closed":
        return "⚪ closed" + (f" by {ticket.closed_by}" if ticket.closed_by else "")
    who = ticket.claimed_by_name or ticket.claimed_by or "someone"
    if ticket.assistant_paused:
        return f"🟢 claimed by {who}"
    return f"🔵 claimed by {who}; the assistant has the conversation again"


def announcement(ticket: Ticket) -> str:
    """The ticket's announcement, as Telegram HTML (every value escaped)."""
    who = ticket.display_name or "a visitor"
    lines = [
        f"<b>Ticket #{ticket.id}</b> — {_e(status_line(ticket))}",
        f"{_e(who)} on {_e(CHANNELS.get(ticket.channel, ticket.channel))} "
        f"{_e(REASONS.get(ticket.reason, ticket.reason))}.",
    ]
    wants = [
        f"{label}: {_e(_excerpt(str(ticket.profile[key]), 200))}"
        for key, label in PROFILE_LABELS.items()
        if isinstance(ticket.profile, dict) and ticket.profile.get(key)
    ]
    if wants:
        lines.append("; ".join(wants))
    if ticket.last_user_text:
        lines.append(f"Last message: “{_e(_excerpt(ticket.last_user_text, 300))}”")
    if ticket.status != "closed":
        lines.append("<i>Reply to this message to answer the user (claim it first).</i>")
    return "\n".join(lines)


def keyboard(ticket: Ticket) -> InlineKeyboardMarkup | None:
    if ticket.status == "closed":
        return None
    buttons = []
    if ticket.status == "waiting":
        buttons.append(("Claim", "claim"))
    elif ticket.assistant_paused:
        buttons.append(("Hand back to the assistant", "back"))
    buttons.append(("Close", "close"))
    row = [InlineKeyboardButton(title, callback_data=f"{CALLBACK_PREFIX}{what}:{ticket.id}") for title, what in buttons]
    return InlineKeyboardMarkup([row])


def mirrored(item: staff_group.ToMirror) -> str:
    """A ticket message as posted in the group, below the ticket's announcement."""
    message = item.message
    who = {
        "user": item.ticket.display_name or "user",
        "staff": message.author or "staff",
        "assistant": "assistant",
        "system": "",
    }.get(message.sender, message.sender)
    head = f"{SENDERS.get(message.sender, '')} <b>#{item.ticket.id}</b>" + (f" {_e(who)}" if who else "")
    room = render.MAX_MESSAGE - render.tg_len(head) - 10
    body = message.text
    if render.tg_len(body) > room:
        body = body[: room // 2] + "…"
    return f"{head}: {_e(body)}"


class StaffGroup:
    """The staff group's side of the bot: a loop that announces and mirrors, and the handlers for
    what staff do in the group."""

    def __init__(self, bot: Bot, chat_id: int, poll_seconds: float = 1.0) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._syncing = asyncio.Lock()

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Until `stop` is set: announce new tickets, refresh changed ones, post new ticket
        messages. A round under way when `stop` is set is finished (posted and recorded)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("telegram staff group: syncing tickets failed; retrying")
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waits, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    async def sync(self) -> None:
        async with self._syncing:
            await self._sync()

    async def _sync(self) -> None:
        for ticket in await asyncio.to_thread(staff_group.to_announce, self.chat_id):
            sent = await send_one(self.bot, self.chat_id, announcement(ticket), markup=keyboard(ticket))
            await asyncio.to_thread(staff_group.record_announcement, self.chat_id, ticket, sent.message_id)
        for item in await asyncio.to_thread(staff_group.to_refresh, self.chat_id):
            try:
                await self.bot.edit_message_text(
                    announcement(item.ticket),
                    chat_id=self.chat_id,
                    message_id=item.message_id,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEWS,
                    reply_markup=keyboard(item.ticket),
                )
            except BadRequest as exc:  # "message is not modified", or deleted by someone in the group
                logger.info("telegram staff group: announcement of ticket %s not edited: %s", item.ticket.id, exc)
            await asyncio.to_thread(staff_group.set_shown, self.chat_id, item.ticket)
        for item in await asyncio.to_thread(staff_group.to_mirror, self.chat_id):
            sent = await send_one(self.bot, self.chat_id, mirrored(item), item.announcement_id)
            await asyncio.to_thread(
                staff_group.record_post, self.chat_id, sent.message_id, item.ticket.id, item.message.id
            )

    # ------------------------------------------------------------------ handlers

    async def _staff(self, update: Update) -> handoff.Staff | None:
        user = update.effective_user
        return await asyncio.to_thread(staff_group.staff_for_telegram, user.id) if user else None

    async def button(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """Claim / hand back / close, pressed on an announcement."""
        query = update.callback_query
        if query.message is None or query.message.chat.id != self.chat_id:
            await query.answer()
            return
        staff = await self._staff(update)
        if staff is None:
            await query.answer(NOT_LINKED.format(user_id=query.from_user.id), show_alert=True)
            return
        try:
            action, ticket_id = query.data.removeprefix(CALLBACK_PREFIX).split(":")
            ticket_id = int(ticket_id)
        except ValueError:
            await query.answer()
            return
        if action == "claim":
            notice = helpdesk_texts.JOINED.format(name=staff.display_name)
            ok = await asyncio.to_thread(handoff.claim, ticket_id, staff, notice)
            answer = "It's yours — reply to the ticket's message to answer." if ok else "Someone else has it already."
        elif action == "back":
            ok = await asyncio.to_thread(handoff.hand_back, ticket_id, staff, helpdesk_texts.HANDED_BACK)
            answer = "The assistant has the conversation again." if ok else "You do not hold this conversation."
        elif action == "close":
            ok = await asyncio.to_thread(handoff.close, ticket_id, staff, helpdesk_texts.HANDED_BACK)
            answer = "Closed." if ok else "It is closed already, or someone else holds it."
        else:
            await query.answer()
            return
        await query.answer(answer, show_alert=not ok)
        self.wake()

    async def reply(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """A staff member's reply to a ticket's message: sent to the user."""
        message = update.effective_message
        async with self._syncing:  # a message just posted is recorded before it is looked up
            ticket_id = await asyncio.to_thread(
                staff_group.ticket_for_message, self.chat_id, message.reply_to_message.message_id
            )
        if ticket_id is None:
            if message.reply_to_message.from_user and message.reply_to_message.from_user.id == self.bot.id:
                await self._say(NOT_A_TICKET, message.message_id)
            return
        staff = await self._staff(update)
        if staff is None:
            await self._say(NOT_LINKED.format(user_id=update.effective_user.id), message.message_id)
            return
        try:
            sent = await asyncio.to_thread(handoff.add_staff_message, ticket_id, staff, message.text)
        except HandoffError as exc:
            await self._say(f"Not sent to the user of ticket #{ticket_id}: {exc}.", message.message_id)
            return
        # The reply is in the group already: remember it, so it is not posted again.
        await asyncio.to_thread(staff_group.record_post, self.chat_id, message.message_id, ticket_id, sent.id)
        self.wake()

    async def whoami(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        staff = await self._staff(update)
        linked = (
            f" You act as {staff.display_name} ({staff.username})."
            if staff
            else " " + NOT_LINKED.format(user_id=update.effective_user.id)
        )
        await self._say(
            WHOAMI.format(user_id=update.effective_user.id, chat_id=self.chat_id, linked=linked),
            update.effective_message.message_id,
        )

    async def queue(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        tickets = await asyncio.to_thread(handoff.queue)
        lines = [f"#{t.id} {t.display_name or 'a visitor'} — {status_line(t)}" for t in tickets[:30]]
        await self._say("\n".join(lines) or QUEUE_EMPTY, update.effective_message.message_id)

    async def help(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await self._say(HELP, update.effective_message.message_id)

    async def ignore(self, _update: Update, _ctx: ContextTypes.DEFAULT_TYPE) -> None:
        """Anything else said in the staff group: staff talking among themselves."""

    async def _say(self, text: str, reply_to: int | None = None) -> None:
        try:
            await send_text(self.bot, self.chat_id, text, reply_to)
        except TelegramError as exc:
            logger.warning("telegram staff group: could not answer: %s", exc)

    def register(self, app: Application) -> None:
        """The group's handlers, ahead of the user handlers: nothing said in the group is relayed
        to the assistant."""
        here = filters.Chat(self.chat_id)
        app.add_handler(CallbackQueryHandler(self.button, pattern=f"^{CALLBACK_PREFIX}"))
        app.add_handler(CommandHandler("whoami", self.whoami, filters=here))
        app.add_handler(CommandHandler("queue", self.queue, filters=here))
        app.add_handler(CommandHandler(["help", "start"], self.help, filters=here))
        app.add_handler(MessageHandler(here & filters.REPLY & filters.TEXT & ~filters.COMMAND, self.reply))
        app.add_handler(MessageHandler(here, self.ignore))
