"""Telegram fixtures: a fake Bot API server (tests/fake_telegram.py), a stand-in for the
assistant that the test controls (down, canned answers, or a proxy to the real assistant), and
the real bot (`python -m bot.telegram`) run as a subprocess against them. Loopback only; every
wait is bounded."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.guard import RELAY_HEADER
from tests.fake_telegram import TOKEN, FakeTelegram, LoopThread
from tests.fixtures_bot import free_port

ROOT = Path(__file__).resolve().parent.parent
BOT_START_TIMEOUT_S = 60


class AssistantStandIn:
    """The assistant's REST endpoint on a fixed loopback port, switched by the test: not
    listening at all (`stop()`), answering with `reply(sender, message)`, or passing every
    request on to a real assistant (`proxy_to`)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.reply: Callable[[str, str], list[dict[str, Any]]] | None = None
        self.proxy_to: str | None = None
        self.requests: list[dict[str, Any]] = []
        self._loop = LoopThread()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(
        self, *, reply: Callable[[str, str], list[dict[str, Any]]] | None = None, proxy_to: str | None = None
    ) -> AssistantStandIn:
        self.reply, self.proxy_to = reply, proxy_to
        if self._runner is None:
            self._loop.run(self._start())
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        """Stop listening: connections are refused, as when the assistant is down."""
        if self._runner is not None:
            self._loop.run(self._runner.cleanup())
            self._runner = None

    def close(self) -> None:
        self.stop()
        self._loop.close()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.proxy_to:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"{self.proxy_to}/webhooks/rest/webhook",
                    json=body,
                    headers={k: v for k, v in request.headers.items() if k == RELAY_HEADER},
                    timeout=aiohttp.ClientTimeout(total=90),
                ) as resp,
            ):
                return web.json_response(await resp.json(), status=resp.status)
        assert self.reply is not None
        return web.json_response(self.reply(body["sender"], body["message"]))


@dataclass
class BotProcess:
    """A running `python -m bot.telegram`."""

    proc: subprocess.Popen
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def assistant_stand_in() -> Iterator[AssistantStandIn]:
    stand_in = AssistantStandIn()
    try:
        yield stand_in
    finally:
        stand_in.close()


@pytest.fixture
def channel_db(tmp_path: Path) -> str:
    """A database of the bot's own (migrated, not seeded) for tests without the real assistant."""
    return f"sqlite:///{tmp_path / 'channel.db'}"


@pytest.fixture
def start_bot(fake_telegram: FakeTelegram, tmp_path: Path) -> Iterator[Callable[..., BotProcess]]:
    """start_bot(assistant_url, database_url, **env): the real bot against the fake Bot API,
    returned once it polls (or, in webhook mode, once it registered its webhook)."""
    started: list[BotProcess] = []

    def start(assistant_url: str, database_url: str, secret: str | None = None, **extra: str) -> BotProcess:
        env = dict(os.environ)
        env.update(
            {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": fake_telegram.base_url,
                "RASA_URL": assistant_url,
                "DATABASE_URL": database_url,
                "KAKEHASHI_AUTO_SEED": "0",  # the bot only needs its own tables
                "KAKEHASHI_SECRET": secret or "telegram-test-" + uuid.uuid4().hex,
                "TELEGRAM_RETRY_MAX_SECONDS": "2",
                "TELEGRAM_ASSISTANT_TIMEOUT": "90",
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        log = tmp_path / f"bot-{len(started)}.log"
        mark = fake_telegram.mark()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.telegram"],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        bot = BotProcess(proc, log, env)
        started.append(bot)
        ready = "setWebhook" if extra.get("TELEGRAM_WEBHOOK_URL") else "getUpdates"
        deadline = time.monotonic() + BOT_START_TIMEOUT_S
        while not any(c.method == ready for c in fake_telegram.calls[mark:]):
            if proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {proc.returncode}:\n{bot.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the bot did not call {ready} within {BOT_START_TIMEOUT_S} s:\n{bot.output()[-3000:]}"
                )
            time.sleep(0.1)
        return bot

    try:
        yield start
    finally:
        for bot in started:
            bot.stop()


def canned(text: str, buttons: list[dict[str, str]] | None = None) -> Callable[[str, str], list[dict[str, Any]]]:
    """A stand-in reply: the same answer to everything."""
    return lambda _sender, _message: [{"text": text, **({"buttons": buttons} if buttons else {})}]
