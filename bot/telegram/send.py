"""Sending to a chat: the assistant's answers (rendered, split, with inline keyboards), the
channel's own texts, and the typing indicator shown while the assistant thinks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError

from bot.telegram import render, state

logger = logging.getLogger(__name__)
NO_PREVIEWS = LinkPreviewOptions(is_disabled=True)
TYPING_EVERY_S = 4.5  # Telegram shows "typing…" for 5 s per chat action


def _reply(reply_to: int | None) -> ReplyParameters | None:
    return ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None


async def send_one(
    bot: Bot, chat_id: int, html_text: str, reply_to: int | None = None, markup: InlineKeyboardMarkup | None = None
) -> Message:
    """One message already in Telegram HTML, without link previews; returns it as sent."""
    return await bot.send_message(
        chat_id,
        html_text,
        parse_mode=ParseMode.HTML,
        link_preview_options=NO_PREVIEWS,
        reply_markup=markup,
        reply_parameters=_reply(reply_to),
    )


async def send_text(bot: Bot, chat_id: int, text: str, reply_to: int | None = None) -> None:
    """One of the channel's own plain texts (escaped for HTML)."""
    await send_one(bot, chat_id, render.plain(text), reply_to)


async def send_html(
    bot: Bot,
    chat_id: int,
    chunks: list[str],
    conversation: str,
    buttons: list[dict[str, str]] | None = None,
    reply_to: int | None = None,
) -> None:
    """Already rendered HTML pieces; the inline keyboard goes with the last one."""
    markup = None
    if buttons:
        keys = iter(await state.callback_data(chat_id, conversation, buttons))
        markup = render.keyboard(buttons, lambda _b: next(keys))
    for i, chunk in enumerate(chunks):
        last, first = i == len(chunks) - 1, i == 0
        await send_one(bot, chat_id, chunk, reply_to if first else None, markup if last else None)


async def send_answers(
    bot: Bot, chat_id: int, conversation: str, answers: list[dict[str, Any]], reply_to: int | None = None
) -> int:
    """The assistant's answer as Telegram messages; returns how many were sent."""
    sent = 0
    for outgoing in render.plan(answers):
        chunks = [render.to_html(c) for c in outgoing.chunks]
        await send_html(bot, chat_id, chunks, conversation, outgoing.buttons, reply_to if sent == 0 else None)
        sent += len(chunks)
    return sent


@contextlib.asynccontextmanager
async def typing(bot: Bot, chat_id: int) -> AsyncIterator[None]:
    """Show "typing…" in the chat until the block ends."""

    async def keep_typing() -> None:
        while True:
            try:
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError as exc:  # cosmetic: never let it break the answer
                logger.debug("telegram: chat action failed: %s", exc)
            await asyncio.sleep(TYPING_EVERY_S)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
