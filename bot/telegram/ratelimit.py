"""Rate limits: Telegram's flood limits for what the bot sends (about one message a second per
chat, 20 a minute in groups, ~30 a second overall, 429 retry_after honoured), and a per-chat limit
on what users send, against spam.

FloodLimiter is a python-telegram-bot rate limiter of our own: PTB's AIORateLimiter needs the
aiolimiter package, which the pinned environment does not have."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

logger = logging.getLogger(__name__)

# Methods that post a message into a chat, and so count against the chat's flood limit.
PACED = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendAudio",
        "sendVideo",
        "sendVoice",
        "sendAnimation",
        "sendSticker",
        "sendLocation",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
    }
)


def retry_seconds(error: RetryAfter) -> float:
    value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class FloodLimiter(BaseRateLimiter[None]):
    """Spaces messages per chat (1 s private, 3 s groups) and overall, and on a 429 pauses every
    request for the retry_after Telegram asks for, then tries again (up to `max_retries`)."""

    def __init__(
        self,
        private_interval: float = 1.0,
        group_interval: float = 3.0,
        overall_per_second: float = 25,
        max_retries: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.private_interval = private_interval
        self.group_interval = group_interval
        self.overall_interval = 1.0 / overall_per_second
        self.max_retries = max_retries
        self.clock = clock
        self._next_slot: dict[Any, float] = {}
        self._next_overall = 0.0
        self._paused_until = 0.0

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    def _reserve(self, chat_id: Any) -> float:
        """Book the next free slot for a message to `chat_id`; returns how long to wait for it."""
        now = self.clock()
        # Overall: a bucket that lets `overall_per_second` messages through per second, whichever
        # chats they go to; per chat: the chat's next free slot.
        overall = max(now, self._next_overall)
        self._next_overall = overall + self.overall_interval
        start = max(overall, self._paused_until, self._next_slot.get(chat_id, 0.0))
        group = str(chat_id).startswith("-")
        self._next_slot[chat_id] = start + (self.group_interval if group else self.private_interval)
        if len(self._next_slot) > 10_000:  # forget chats whose slot is long past
            self._next_slot = {k: v for k, v in self._next_slot.items() if v > now}
        return start - now

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Call `callback` when the flood limits allow, retrying after a 429."""
        for attempt in range(self.max_retries + 1):
            if endpoint in PACED and data.get("chat_id") is not None:
                wait = self._reserve(data["chat_id"])
            else:
                wait = max(0.0, self._paused_until - self.clock())
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                delay = retry_seconds(exc)
                if attempt == self.max_retries:
                    raise
                logger.warning("telegram: flood limit on %s, retrying in %.1f s", endpoint, delay)
                self._paused_until = max(self._paused_until, self.clock() + delay)
        raise AssertionError("unreachable")


class Verdict(Enum):
    ALLOW = "allow"
    WARN = "warn"  # over the limit: tell the user once
    DROP = "drop"  # over the limit and already told


class ChatRateLimit:
    """At most `per_minute` messages per chat in any 60 s; the first message over the limit is
    answered with a warning, the rest are dropped until the window has room again."""

    def __init__(self, per_minute: int = 20, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.window = window
        self.clock = clock
        self._seen: dict[Any, deque[float]] = {}
        self._warned: set[Any] = set()

    def check(self, chat_id: Any) -> Verdict:
        now = self.clock()
        seen = self._seen.setdefault(chat_id, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) < self.per_minute:
            seen.append(now)
            self._warned.discard(chat_id)
            if len(self._seen) > 10_000:
                self._forget(now)
            return Verdict.ALLOW
        if chat_id in self._warned:
            return Verdict.DROP
        self._warned.add(chat_id)
        return Verdict.WARN

    def _forget(self, now: float) -> None:
        self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - self.window}
