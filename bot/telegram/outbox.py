"""Delivering the outbox: proactive messages that other parts of the product (helpdesk replies,
alerts) queue with db.channel_state.enqueue_outbound(channel="telegram", ...); see docs/telegram.md."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import logging
import time

from telegram import Bot
from telegram.error import BadRequest, Forbidden, InvalidToken, TelegramError

from bot.guard import sign
from bot.telegram import render, state
from bot.telegram.config import TelegramConfig
from bot.telegram.conversation import ChatLocks
from bot.telegram.send import send_html
from db import channel_state as cs

logger = logging.getLogger(__name__)
PURGE_EVERY_S = 3600.0


def outbound_chunks(message: cs.OutboundMessage) -> list[str]:
    """The message as HTML pieces: the sender label in bold above the (escaped) text."""
    label = f"<b>{html.escape(message.sender_label, quote=False)}</b>\n" if message.sender_label else ""
    room = render.MAX_MESSAGE - render.tg_len(label)
    pieces = render.split(message.text, room, lambda s: render.tg_len(render.plain(s)))
    chunks = [render.plain(p) for p in pieces]
    return [label + chunks[0], *chunks[1:]] if chunks else [label.strip()]


async def deliver(bot: Bot, locks: ChatLocks, message: cs.OutboundMessage) -> str:
    """Send one outbox message and record the outcome; returns its new status."""
    try:
        chat_id = int(message.recipient)
    except ValueError:
        return await asyncio.to_thread(cs.mark_attempt_failed, message.id, "recipient is not a chat id", None)
    try:
        async with locks.hold(chat_id):
            conversation = await state.sender_for(chat_id)
            # Payloads become assistant commands for the recipient's current conversation.
            buttons = [
                dict(b, payload=sign(b["payload"], conversation)) if "payload" in b else b for b in message.buttons
            ]
            await send_html(bot, chat_id, outbound_chunks(message), conversation, buttons)
    except (Forbidden, BadRequest, InvalidToken) as exc:  # blocked, chat not found …: retrying won't help
        logger.warning("telegram: outbox message %s to %s failed for good: %s", message.id, chat_id, exc)
        return await asyncio.to_thread(cs.mark_attempt_failed, message.id, str(exc), None)
    except TelegramError as exc:  # network trouble, flood limit beyond retries: try again later
        retry_in = dt.timedelta(seconds=min(300, 5 * 2**message.attempts))
        logger.warning(
            "telegram: outbox message %s to %s failed, retrying in %s: %s", message.id, chat_id, retry_in, exc
        )
        return await asyncio.to_thread(cs.mark_attempt_failed, message.id, str(exc), retry_in)
    await asyncio.to_thread(cs.mark_delivered, message.id)
    return "delivered"


async def deliver_outbox(bot: Bot, locks: ChatLocks, config: TelegramConfig, stop: asyncio.Event | None = None) -> None:
    """Until `stop` is set: deliver due outbox messages about every TELEGRAM outbox poll interval
    (flood limits apply as for any message), and now and then forget old button payloads. A
    message being sent when `stop` is set is finished and recorded first, so that a restart does
    not send it twice."""
    stop = stop or asyncio.Event()
    last_purge = 0.0
    while not stop.is_set():
        try:
            for message in await asyncio.to_thread(cs.outbound_due, state.CHANNEL, 20):
                if stop.is_set():
                    break
                await deliver(bot, locks, message)
            if time.monotonic() - last_purge > PURGE_EVERY_S:
                last_purge = time.monotonic()
                await asyncio.to_thread(cs.purge_callbacks, dt.timedelta(days=config.callback_max_age_days))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("telegram: delivering the outbox failed")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), config.outbox_poll_seconds)
