"""The bot's handlers: commands, text, button presses, everything else, and errors; and the
python-telegram-bot Application that routes updates to them."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.guard import sign
from bot.telegram import state, texts
from bot.telegram.botapi import TolerantBot
from bot.telegram.config import TelegramConfig
from bot.telegram.conversation import Conversations
from bot.telegram.ratelimit import ChatRateLimit, FloodLimiter, Verdict
from bot.telegram.relay import Assistant
from bot.telegram.send import send_text
from bot.telegram.staff import StaffGroup

logger = logging.getLogger(__name__)
DEEP_LINK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what t.me/<bot>?start=<payload> allows


def addressed(message: Message) -> bool:
    """Whether the bot should answer: always in a private chat; in a group only when the message
    mentions @the_bot, is a /command@the_bot, or replies to the bot."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    bot = message.get_bot()
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == bot.id:
        return True
    handle = f"@{bot.username}".lower()
    for entity, text in {**message.parse_entities(), **message.parse_caption_entities()}.items():
        if entity.type == MessageEntity.MENTION and text.lower() == handle:
            return True
        if entity.type == MessageEntity.BOT_COMMAND and text.lower().endswith(handle):
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
            return True
    return False


class _Addressed(filters.MessageFilter):
    def filter(self, message: Message) -> bool:
        return addressed(message)


ADDRESSED = _Addressed(name="addressed")


def without_mention(text: str, username: str) -> str:
    """The message without the @mention of the bot that addressed it."""
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).strip()


class Handlers:
    """The update handlers, sharing the conversations and the per-chat rate limit."""

    def __init__(self, conversations: Conversations, config: TelegramConfig) -> None:
        self.conversations = conversations
        self.config = config
        self.limit = ChatRateLimit(config.messages_per_minute)

    async def _allowed(self, update: Update) -> bool:
        """The per-chat spam limit: warn once, then ignore until the minute has room again."""
        verdict = self.limit.check(update.effective_chat.id)
        if verdict is Verdict.WARN:
            await send_text(update.get_bot(), update.effective_chat.id, texts.SLOW_DOWN)
        return verdict is Verdict.ALLOW

    @staticmethod
    def _who(update: Update) -> dict[str, str] | None:
        """The user's name, for the helpdesk (a ticket shows who is asking), and the language of
        their Telegram app (the conversation's language until their own words say otherwise)."""
        user = update.effective_user
        name = user.full_name.strip() if user and user.full_name else ""
        meta = {"display_name": name[:200]} if name else {}
        if user and user.language_code:
            meta["language"] = str(user.language_code)[:10]
        return meta or None

    @staticmethod
    def _reply_to(update: Update) -> int | None:
        """In groups, answers quote the message they answer; in private chats that is noise."""
        message = update.effective_message
        return message.message_id if message and update.effective_chat.type != ChatType.PRIVATE else None

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start [deep-link payload]: the assistant's welcome and what it can do."""
        if not await self._allowed(update):
            return
        chat_id = update.effective_chat.id
        sender = await state.sender_for(chat_id)
        payload = context.args[0] if context.args else ""
        # A deep link (t.me/<bot>?start=<payload>) names where the user came from, like the web
        # widget's site_cluster; anything not shaped like a deep-link payload is ignored.
        metadata = {"site_cluster": payload} if DEEP_LINK.match(payload) else None
        await self.conversations.relay(
            chat_id,
            [sign("/greet", sender), sign("/help", sender)],
            metadata=metadata,
            keep=False,
            offline_text=texts.WELCOME_OFFLINE,
        )

    async def help(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """/help: the assistant's help."""
        if not await self._allowed(update):
            return
        chat_id = update.effective_chat.id
        sender = await state.sender_for(chat_id)
        await self.conversations.relay(
            chat_id,
            [sign("/help", sender)],
            reply_to=self._reply_to(update),
            keep=False,
            offline_text=texts.HELP_OFFLINE,
        )

    async def reset(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """/reset: a fresh conversation."""
        if await self._allowed(update):
            await self.conversations.reset(update.effective_chat.id)

    async def unknown_command(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """Any other /command."""
        if await self._allowed(update):
            await send_text(update.get_bot(), update.effective_chat.id, texts.UNKNOWN_COMMAND, self._reply_to(update))

    async def text(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """A text message: relayed to the assistant (kept for later if it is down)."""
        if not await self._allowed(update):
            return
        chat_id, bot = update.effective_chat.id, update.get_bot()
        text = without_mention(update.effective_message.text, bot.username)
        if len(text) > self.config.max_input_chars:
            await send_text(
                bot,
                chat_id,
                texts.TOO_LONG.format(count=len(text), limit=self.config.max_input_chars),
                self._reply_to(update),
            )
        elif not text:
            await send_text(bot, chat_id, texts.ADDRESSED_EMPTY, self._reply_to(update))
        else:
            await self.conversations.relay(
                chat_id,
                [text],
                metadata=self._who(update),
                reply_to=self._reply_to(update),
                message_id=update.effective_message.message_id,
                typed=True,
            )

    async def button(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """A pressed inline button: its stored, signed payload goes to the assistant."""
        query = update.callback_query
        chat = update.effective_chat
        max_age = dt.timedelta(days=self.config.callback_max_age_days)
        stored = await state.button_payload(chat.id, query.data, max_age) if chat else None
        # A button from before a /reset carries a payload signed for the old conversation.
        if stored is None or stored.conversation_id != await state.sender_for(chat.id):
            await query.answer(texts.BUTTON_EXPIRED, show_alert=True)
            return
        verdict = self.limit.check(chat.id)
        if verdict is not Verdict.ALLOW:
            await query.answer(texts.SLOW_DOWN, show_alert=True)
            return
        await query.answer(f"› {stored.title}" if stored.title else None)
        await self.conversations.relay(chat.id, [stored.payload], reply_to=self._reply_to(update))

    async def edited(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """An edited message: not re-answered; the user is told to send it again."""
        if await self._allowed(update):
            await send_text(update.get_bot(), update.effective_chat.id, texts.EDITED, self._reply_to(update))

    async def not_text(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, photos, documents, voice, locations …: the bot reads text only."""
        if await self._allowed(update):
            await send_text(update.get_bot(), update.effective_chat.id, texts.NOT_TEXT, self._reply_to(update))

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the error and, when it happened on a chat's message, apologise there."""
        logger.error("telegram: handling an update failed", exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                await send_text(context.bot, update.effective_chat.id, texts.ERROR)
            except Exception:
                logger.exception("telegram: could not apologise to chat %s", update.effective_chat.id)
        if isinstance(update, Update) and update.callback_query is not None:
            with contextlib.suppress(Exception):  # already answered, or too old: nothing to do
                await update.callback_query.answer()


def build_application(config: TelegramConfig) -> tuple[Application, Conversations, Assistant, StaffGroup | None]:
    """The Application with every handler registered (the staff group's first, when configured);
    the caller runs it (see __main__)."""
    bot = TolerantBot(config.token, base_url=config.api_base_url, rate_limiter=FloodLimiter())
    app = Application.builder().bot(bot).concurrent_updates(64).job_queue(None).build()
    assistant = Assistant(config.assistant_url, config.assistant_timeout)
    conversations = Conversations(app.bot, assistant, config)
    h = Handlers(conversations, config)
    staff = StaffGroup(app.bot, config.staff_chat_id, config.outbox_poll_seconds) if config.staff_chat_id else None
    if staff is not None:
        staff.register(app)
    new = filters.UpdateType.MESSAGE & ADDRESSED
    app.add_handler(CommandHandler("start", h.start, filters=new))
    app.add_handler(CommandHandler("help", h.help, filters=new))
    app.add_handler(CommandHandler("reset", h.reset, filters=new))
    app.add_handler(MessageHandler(new & filters.COMMAND, h.unknown_command))
    app.add_handler(MessageHandler(new & filters.TEXT, h.text))
    app.add_handler(CallbackQueryHandler(h.button))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & ADDRESSED, h.edited))
    app.add_handler(MessageHandler(new & ~filters.StatusUpdate.ALL, h.not_text))
    app.add_error_handler(h.error)
    return app, conversations, assistant, staff
