"""Relaying a chat's messages to the assistant, one at a time per chat and in order; keeping
messages the assistant could not take, and answering them once it is back (bounded backoff)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from telegram import Bot
from telegram.error import TelegramError

from bot.guard import screen
from bot.helpdesk.relay import route_user_message
from bot.telegram import state, texts
from bot.telegram.config import TelegramConfig
from bot.telegram.relay import Assistant, AssistantUnavailable
from bot.telegram.send import send_answers, send_text, typing
from db import channel_state as cs

logger = logging.getLogger(__name__)
RETRY_MIN_S = 1.0
IDLE_CHECK_S = 30.0


class ChatLocks:
    """One lock per chat, so that a chat's messages are answered one after the other."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: Counter[int] = Counter()

    @contextlib.asynccontextmanager
    async def hold(self, chat_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._users[chat_id] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[chat_id] -= 1
            if not self._users[chat_id]:
                del self._users[chat_id], self._locks[chat_id]


class Conversations:
    """The bot's side of every chat's conversation with the assistant."""

    def __init__(self, bot: Bot, assistant: Assistant, config: TelegramConfig) -> None:
        self.bot = bot
        self.assistant = assistant
        self.config = config
        self.locks = ChatLocks()
        self._wake = asyncio.Event()

    async def relay(
        self,
        chat_id: int,
        messages: list[str],
        *,
        metadata: dict[str, Any] | None = None,
        reply_to: int | None = None,
        message_id: int | None = None,
        keep: bool = True,
        offline_text: str = texts.UNAVAILABLE,
        typed: bool = False,
    ) -> None:
        """Send `messages` to the assistant as this chat and its answers back (quoting `reply_to`).
        When the assistant cannot take them: keep the (single) message to answer later, quoting
        the user's `message_id` then, or say `offline_text`. A `typed` message goes to the
        helpdesk instead while a person holds the conversation — straight into the database, so
        it reaches the staff even while the assistant is down."""
        async with self.locks.hold(chat_id):
            sender = await state.sender_for(chat_id)
            if typed and await self._to_helpdesk(chat_id, sender, messages[0], metadata, reply_to):
                return
            waiting = await state.pending_count(chat_id) if keep else 0
            if waiting:  # answer in order: after the ones still waiting
                if waiting >= self.config.pending_per_chat:
                    await send_text(self.bot, chat_id, texts.QUEUE_FULL.format(count=waiting), reply_to)
                else:
                    await state.keep_pending(chat_id, sender, messages[0], metadata, reply_to or message_id)
                    await send_text(self.bot, chat_id, texts.QUEUED_TOO, reply_to)
                    self.wake()
                return
            try:
                async with typing(self.bot, chat_id):
                    answers = [a for m in messages for a in await self.assistant.ask(sender, m, metadata)]
            except AssistantUnavailable as exc:
                logger.warning("telegram: assistant unavailable for chat %s: %s", chat_id, exc)
                if keep:
                    await state.keep_pending(chat_id, sender, messages[0], metadata, reply_to or message_id)
                    self.wake()
                await send_text(self.bot, chat_id, texts.UNAVAILABLE if keep else offline_text, reply_to)
                return
            # An empty answer is deliberate (the REST channel turns failures into an apology), e.g.
            # while a person from the helpdesk holds the conversation: say nothing.
            await send_answers(self.bot, chat_id, sender, answers, reply_to)

    async def _to_helpdesk(
        self, chat_id: int, sender: str, text: str, metadata: dict[str, Any] | None, reply_to: int | None
    ) -> bool:
        """Whether a person holds the conversation and took the message (bot/helpdesk/relay.py)."""
        name = (metadata or {}).get("display_name")
        try:
            routed = await asyncio.to_thread(route_user_message, sender, screen(text, sender), name)
        except Exception:  # the database is down: the assistant answers (or the message is kept)
            logger.exception("telegram: helpdesk routing failed for chat %s", chat_id)
            return False
        if routed.to_helpdesk and routed.reply:
            await send_text(self.bot, chat_id, routed.reply, reply_to)
        return routed.to_helpdesk

    async def reset(self, chat_id: int) -> None:
        """A fresh conversation for the chat (its unanswered messages are dropped)."""
        async with self.locks.hold(chat_id):
            await state.reset(chat_id)
            await send_text(self.bot, chat_id, texts.RESET_DONE)

    def wake(self) -> None:
        """Have the pending worker look again now."""
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def answer_pending(self) -> None:
        """Forever: answer kept messages, oldest first, retrying while the assistant is down with
        a backoff doubling from 1 s to TELEGRAM_RETRY_MAX_SECONDS."""
        delay = RETRY_MIN_S
        while True:
            try:
                items = await asyncio.to_thread(cs.oldest_pending, state.CHANNEL, 50)
                if not items:
                    delay = RETRY_MIN_S
                    await self._sleep(IDLE_CHECK_S)
                    continue
                if await self._answer(items):
                    delay = RETRY_MIN_S
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("telegram: answering kept messages failed")
            await self._sleep(delay)
            delay = min(delay * 2, self.config.retry_max_seconds)

    async def _answer(self, items: list[cs.PendingMessage]) -> bool:
        """Answer `items` in order; False as soon as the assistant is still unavailable."""
        max_age = dt.timedelta(hours=self.config.pending_max_age_hours)
        for item in items:
            chat_id = int(item.chat_id)
            async with self.locks.hold(chat_id):
                if await asyncio.to_thread(cs.get_pending, item.id) is None:
                    continue  # the chat was reset meanwhile
                if item.received_at < dt.datetime.now(dt.UTC) - max_age:
                    await asyncio.to_thread(cs.remove_pending, item.id)
                    excerpt = item.text if len(item.text) <= 60 else item.text[:57] + "…"
                    await self._tell(chat_id, texts.GAVE_UP.format(excerpt=excerpt), item.reply_to)
                    continue
                try:
                    async with typing(self.bot, chat_id):
                        answers = await self.assistant.ask(item.conversation_id, item.text, item.metadata)
                except AssistantUnavailable as exc:
                    logger.info("telegram: assistant still unavailable (%s); %d message(s) waiting", exc, len(items))
                    await asyncio.to_thread(cs.pending_attempted, item.id)
                    return False
                await asyncio.to_thread(cs.remove_pending, item.id)
                try:
                    await send_answers(self.bot, chat_id, item.conversation_id, answers, item.reply_to)
                except TelegramError as exc:
                    logger.warning("telegram: could not deliver a late answer to chat %s: %s", chat_id, exc)
        return True

    async def _tell(self, chat_id: int, text: str, reply_to: int | None) -> None:
        try:
            await send_text(self.bot, chat_id, text, reply_to)
        except TelegramError as exc:
            logger.warning("telegram: could not tell chat %s: %s", chat_id, exc)
