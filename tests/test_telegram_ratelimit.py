"""The bot's rate limits, with a fake clock: Telegram's flood limits for what it sends (pacing per
chat and overall, 429 retry_after honoured) and the per-chat limit on what users send."""

from __future__ import annotations

import pytest
from telegram.error import RetryAfter

from bot.telegram import ratelimit
from bot.telegram.ratelimit import ChatRateLimit, FloodLimiter, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_messages_are_spaced_per_chat_and_overall():
    clock = Clock()
    limiter = FloodLimiter(private_interval=1.0, group_interval=3.0, overall_per_second=10, clock=clock)
    assert limiter._reserve(1) == 0
    assert limiter._reserve(1) == pytest.approx(1.0)  # the same private chat: one a second
    assert limiter._reserve(2) == pytest.approx(0.2)  # another chat: only the overall rate (10/s)
    assert limiter._reserve(-100) == pytest.approx(0.3)
    assert limiter._reserve(-100) == pytest.approx(3.3)  # groups: 20 a minute
    clock.now += 10
    assert limiter._reserve(1) == 0


async def test_a_429_pauses_then_retries(monkeypatch):
    clock = Clock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(ratelimit.asyncio, "sleep", fake_sleep)
    limiter = FloodLimiter(clock=clock, max_retries=2)
    calls = []

    async def send(**_: object) -> dict:
        calls.append(clock.now)
        if len(calls) == 1:
            raise RetryAfter(7)
        return {"ok": True}

    result = await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": 5}, None)
    assert result == {"ok": True} and len(calls) == 2
    assert calls[1] - calls[0] == pytest.approx(7)  # waited what Telegram asked for (on the fake clock)
    # During a pause every request waits, even those that are not paced per chat.
    limiter._paused_until = clock.now + 5
    slept.clear()
    await limiter.process_request(send, (), {}, "answerCallbackQuery", {}, None)
    assert slept == [pytest.approx(5)]


async def test_persistent_429_gives_up_after_the_retries(monkeypatch):
    async def no_sleep(_: float) -> None:
        return None

    monkeypatch.setattr(ratelimit.asyncio, "sleep", no_sleep)
    limiter = FloodLimiter(max_retries=2)
    attempts = 0

    async def send(**_: object) -> dict:
        nonlocal attempts
        attempts += 1
        raise RetryAfter(1)

    with pytest.raises(RetryAfter):
        await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": 5}, None)
    assert attempts == 3


def test_chat_rate_limit_warns_once_then_drops_until_the_window_has_room():
    clock = Clock()
    limit = ChatRateLimit(per_minute=3, clock=clock)
    assert [limit.check("a") for _ in range(3)] == [Verdict.ALLOW] * 3
    assert limit.check("a") is Verdict.WARN
    assert limit.check("a") is Verdict.DROP
    assert limit.check("b") is Verdict.ALLOW  # per chat
    clock.now += 61
    assert limit.check("a") is Verdict.ALLOW
    assert [limit.check("a") for _ in range(3)] == [Verdict.ALLOW, Verdict.ALLOW, Verdict.WARN]
