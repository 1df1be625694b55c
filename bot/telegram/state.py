"""The bot's persistent state, through db.channel_state (run in threads: db/ is synchronous):
each chat's conversation id, button payloads behind short callback data, pending messages."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from db import channel_state as cs

CHANNEL = cs.TELEGRAM
CALLBACK_PREFIX = "k:"


async def sender_for(chat_id: int) -> str:
    """The assistant's conversation id for this chat: stable across restarts, new after /reset."""
    generation = await asyncio.to_thread(cs.conversation_generation, CHANNEL, chat_id)
    return cs.conversation_id(CHANNEL, chat_id, generation)


async def reset(chat_id: int) -> str:
    """Start a fresh conversation for the chat; returns its new conversation id."""
    generation = await asyncio.to_thread(cs.new_conversation, CHANNEL, chat_id)
    return cs.conversation_id(CHANNEL, chat_id, generation)


async def callback_data(chat_id: int, conversation: str, buttons: list[dict[str, str]]) -> list[str]:
    """Callback data ("k:<key>", 18 bytes) for each payload button; the signed payloads (often
    longer than Telegram's 64 bytes) stay in the database."""

    def store() -> list[str]:
        return [
            CALLBACK_PREFIX + cs.store_callback(CHANNEL, chat_id, conversation, b["payload"], b["title"])
            for b in buttons
            if "payload" in b
        ]

    return await asyncio.to_thread(store)


async def button_payload(chat_id: int, data: str | None, max_age: dt.timedelta) -> cs.StoredCallback | None:
    """What a pressed button stands for, or None when its data is unknown, foreign or expired."""
    if not isinstance(data, str) or not data.startswith(CALLBACK_PREFIX):
        return None
    return await asyncio.to_thread(cs.load_callback, CHANNEL, chat_id, data[len(CALLBACK_PREFIX) :], max_age)


async def keep_pending(
    chat_id: int, conversation: str, text: str, metadata: dict[str, Any] | None, reply_to: int | None
) -> None:
    await asyncio.to_thread(cs.add_pending, CHANNEL, chat_id, conversation, text, metadata, reply_to)


async def pending_count(chat_id: int) -> int:
    return await asyncio.to_thread(cs.pending_count, CHANNEL, chat_id)
