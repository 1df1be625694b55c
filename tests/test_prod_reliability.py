"""Reliability of the production stack (two Rasa instances, PostgreSQL trackers, Redis locks,
the balancer) under concurrent conversations, and while parts of it crash or restart.

Every message carries a tag (metadata "page": m00, m01, …) that Rasa stores with the user event,
so each tracker read back from PostgreSQL can be checked turn by turn: every message present once,
in the order sent, followed by exactly the bot messages its sender received.

The restart tests restart the machine's Redis and PostgreSQL servers (PostgreSQL once); both are
brought back in a `finally` even when a test fails. Load is bounded in messages and time.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import redis
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.pool import NullPool

from bot.channels import NO_REPLY
from bot.prod.stack import Stack
from tests.test_prod_stack import REDIS_URL, post_message, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.reliability]

MESSAGES = [
    "hello",
    "find regenerative medicine clusters in Osaka",
    "who does Osaka Bio Headquarters partner with?",
    "what is JETRO's RIT programme?",
    "are there any events about life sciences?",
    "show me clusters in Kansai",
    "what can you do?",
    "thanks",
]
CLIENT_TIMEOUT_S = 90  # longer than the balancer's 60 s: a hang shows up as a timeout here
REDIS_SERVER = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


@dataclass
class Sent:
    """One message and what its sender got back."""

    tag: str
    text: str
    status: int | str  # HTTP status, or "timeout"
    body: object = None
    seconds: float = 0.0

    @property
    def texts(self) -> list[str]:
        if self.status != 200 or not isinstance(self.body, list):
            return []
        return [m["text"] for m in self.body if isinstance(m, dict) and m.get("text")]

    @property
    def accepted(self) -> bool:
        """The assistant answered it (not an apology, not an error): it must be in the tracker."""
        return self.status == 200 and bool(self.texts) and self.texts != [NO_REPLY]

    @property
    def clear(self) -> bool:
        """An answer a client can show: bot messages, or a JSON error saying what happened."""
        if self.status == 200:
            return bool(self.texts)
        return self.status in (502, 503, 504) and isinstance(self.body, dict) and bool(self.body.get("message"))


@dataclass
class Load:
    """The conversations of one test, per sender."""

    sent: dict[str, list[Sent]] = field(default_factory=dict)

    def all(self) -> list[Sent]:
        return [s for messages in self.sent.values() for s in messages]


async def send(http: aiohttp.ClientSession, base: str, sender: str, i: int, offset: int) -> Sent:
    message, tag = MESSAGES[(i + offset) % len(MESSAGES)], f"m{i:02d}"
    start = time.monotonic()
    try:
        status, body, _ = await post_message(http, base, sender, message, tag=tag)
    except (TimeoutError, aiohttp.ClientError) as exc:
        return Sent(tag, message, "timeout", repr(exc), time.monotonic() - start)
    return Sent(tag, message, status, body, time.monotonic() - start)


def tracker_turns(stack: Stack, senders: list[str]) -> dict[str, list[tuple[str, str, list[str]]]]:
    """Per sender, from PostgreSQL: (tag, user text, bot texts that followed) in stored order."""
    engine = create_engine(stack.env["TRACKER_URL"], poolclass=NullPool)
    query = text("SELECT sender_id, type_name, data FROM events WHERE sender_id IN :ids ORDER BY id").bindparams(
        bindparam("ids", expanding=True)
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query, {"ids": senders}).all()
    finally:
        engine.dispose()
    turns: dict[str, list[tuple[str, str, list[str]]]] = {s: [] for s in senders}
    before_first: dict[str, list[str]] = {s: [] for s in senders}
    for sender, kind, data in rows:
        event = json.loads(data)
        if kind == "user":
            tag = (event.get("metadata") or {}).get("page", "?")
            turns[sender].append((tag, event.get("text"), before_first[sender] if not turns[sender] else []))
        elif kind == "bot" and event.get("text"):
            (turns[sender][-1][2] if turns[sender] else before_first[sender]).append(event["text"])
    return turns


def check_trackers(stack: Stack, load: Load, every_message: bool) -> int:
    """Every accepted message (with `every_message`: every message) is in its tracker exactly once,
    in the order sent, followed by exactly the bot messages its sender received; no message
    appears twice or out of order. Returns how many messages were checked turn by turn."""
    turns = tracker_turns(stack, list(load.sent))
    checked = 0
    for sender, sent in load.sent.items():
        order = {s.tag: i for i, s in enumerate(sent)}
        stored = [tag for tag, _, _ in turns[sender]]
        assert len(stored) == len(set(stored)), f"{sender}: a message is stored twice: {stored}"
        assert set(stored) <= set(order), f"{sender}: unknown messages stored: {set(stored) - set(order)}"
        assert [order[t] for t in stored] == sorted(order[t] for t in stored), f"{sender}: out of order: {stored}"
        by_tag = {tag: (user_text, bots) for tag, user_text, bots in turns[sender]}
        for s in sent:
            if not (every_message or s.accepted):
                continue
            assert s.tag in by_tag, f"{sender}: {s.tag} ({s.text!r}, answered {s.status}) is missing from the tracker"
            user_text, bots = by_tag[s.tag]
            assert user_text == s.text
            expected = [t for t in s.texts if t != NO_REPLY]
            assert expected, f"{sender} {s.tag}: no bot message answered {s.text!r}: {s.body!r}"
            # (the REST channel sends a text with blank lines as several messages)
            assert "\n\n".join(bots) == "\n\n".join(expected), f"{sender} {s.tag}: stored {bots} != received {expected}"
            checked += 1
    return checked


@pytest.fixture(scope="module")
def stack(pg_schemas, tmp_path_factory):
    # Redis retries for 3 s only here, so that a 6-second Redis outage shows users the apology.
    with running_stack(pg_schemas, tmp_path_factory.mktemp("prod-reliability"), REDIS_RETRY_SECONDS="3") as s:
        yield s


async def test_50_conversations_of_20_messages_interleaved_across_instances(stack):
    """Even conversations alternate between the two instances message by message (straight to
    them); odd ones go through the balancer (round robin). 1000 messages, 50 at a time."""
    run = f"a{int(time.time()) % 100000}"
    load = Load({f"{run}-{c:02d}": [] for c in range(50)})

    async def converse(c: int, sender: str, http: aiohttp.ClientSession) -> None:
        for i in range(20):
            base = stack.rasa_urls[(c + i) % 2] if c % 2 == 0 else stack.balancer_url
            load.sent[sender].append(await send(http, base, sender, i, offset=c))

    start = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)) as http:
        await asyncio.gather(*(converse(c, sender, http) for c, sender in enumerate(load.sent)))
    elapsed = time.monotonic() - start
    sent = load.all()
    latencies = sorted(s.seconds for s in sent)
    print(
        f"\n50x20: {len(sent)} messages in {elapsed:.1f} s ({len(sent) / elapsed:.1f} msg/s); "
        f"latency p50 {latencies[len(sent) // 2]:.2f} s, p95 {latencies[int(len(sent) * 0.95)]:.2f} s"
    )
    failed = [(s.tag, s.status, s.body) for s in sent if s.status != 200]
    assert not failed, f"{len(failed)} messages failed, e.g. {failed[:3]}"
    assert check_trackers(stack, load, every_message=True) == 1000


# --------------------------------------------------------------------------- restarts under load


async def converse_through(
    stack: Stack, label: str, disrupt: Callable[[], None], users: int = 10, max_messages: int = 60
) -> Load:
    """`users` conversations through the balancer, one message at a time each, while `disrupt`
    runs in a thread; each goes on until it has sent 3 messages after `disrupt` returned (at most
    `max_messages`)."""
    load = Load({f"{label}-{int(time.time()) % 100000}-{u:02d}": [] for u in range(users)})
    recovered = asyncio.Event()

    async def converse(u: int, sender: str, http: aiohttp.ClientSession) -> None:
        after = 0
        for i in range(max_messages):
            if recovered.is_set():
                if after >= 3:
                    return
                after += 1
            load.sent[sender].append(await send(http, stack.balancer_url, sender, i, offset=u))
            await asyncio.sleep(0.5)

    async def disruption() -> None:
        await asyncio.sleep(3)  # conversations under way first
        try:
            await asyncio.to_thread(disrupt)
        finally:
            recovered.set()

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)) as http:
        await asyncio.gather(disruption(), *(converse(u, s, http) for u, s in enumerate(load.sent)))
    return load


def assert_outage_handled(stack: Stack, load: Load) -> None:
    """Users always got something to show (never a hang or an HTML error page); every
    conversation answers normally again after the outage; nothing accepted was lost."""
    sent = load.all()
    unclear = [(s.tag, s.status, s.body) for s in sent if not s.clear]
    assert not unclear, f"{len(unclear)} unclear answers, e.g. {unclear[:3]}"
    for sender, messages in load.sent.items():
        assert all(s.accepted for s in messages[-2:]), f"{sender} did not resume: {[s.status for s in messages[-3:]]}"
    check_trackers(stack, load, every_message=False)
    statuses: dict[object, int] = {}
    for s in sent:
        key = "apology" if s.status == 200 and not s.accepted else s.status
        statuses[key] = statuses.get(key, 0) + 1
    print(f"\n{len(sent)} messages: {statuses}")


async def test_a_rasa_instance_crashes_and_comes_back(stack):
    def crash() -> None:
        stack.kill("rasa-0")
        time.sleep(8)  # the other instance carries every conversation meanwhile
        stack.start_process("rasa-0", wait=False)

    load = await converse_through(stack, "crash", crash)
    assert_outage_handled(stack, load)
    stack.wait_ready("rasa-0", 300)
    stack.wait_balanced(60)
    # The restarted instance picks up conversations that went on without it.
    final = Load({sender: list(sent) for sender, sent in load.sent.items()})
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)) as http:
        for u, sender in enumerate(final.sent):
            final.sent[sender].append(await send(http, stack.rasa_urls[0], sender, len(final.sent[sender]), u))
    assert all(sent[-1].accepted for sent in final.sent.values())
    check_trackers(stack, final, every_message=False)


async def test_the_action_server_crashes_and_comes_back(stack):
    def crash() -> None:
        stack.kill("actions")
        time.sleep(5)
        stack.start_process("actions", timeout=120)

    load = await converse_through(stack, "actions", crash)
    assert_outage_handled(stack, load)


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.exceptions.ConnectionError:
        return False


def _redis_run_id() -> str:
    return redis.Redis.from_url(REDIS_URL, socket_timeout=5).info("server")["run_id"]


def _start_redis() -> None:
    if not _redis_up():
        subprocess.run(REDIS_SERVER, check=True, capture_output=True, timeout=30)
    for _ in range(100):
        if _redis_up():
            return
        time.sleep(0.1)
    raise RuntimeError("redis-server did not come back")


async def test_redis_restarts(stack):
    """Redis down for 6 s, longer than the lock store retries (3 s here): users waiting longer
    are told to try again; then everything resumes. (Redis keeps no data here: locks only.)"""

    def outage() -> None:
        try:
            subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True, timeout=30)
            time.sleep(6)
        finally:
            _start_redis()

    before = _redis_run_id()
    try:
        load = await converse_through(stack, "redis", outage)
    finally:
        _start_redis()
    assert _redis_run_id() != before, "Redis was not restarted"
    assert_outage_handled(stack, load)
    assert any(s.status == 200 and not s.accepted for s in load.all()), "nobody noticed the Redis outage"


def _pg_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return False
    done = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432"], capture_output=True, timeout=30)
    return done.returncode == 0


def _pg_ctl(action: str) -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=False,
        capture_output=True,
        timeout=120,
    )


def _pg_started_at(stack: Stack) -> object:
    engine = create_engine(stack.env["TRACKER_URL"], poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT pg_postmaster_start_time()")).scalar()
    finally:
        engine.dispose()


def _wait_pg(seconds: float = 60) -> None:
    for _ in range(int(seconds / 0.5)):
        if _pg_up():
            return
        time.sleep(0.5)
    raise RuntimeError("PostgreSQL did not come back")


async def test_postgresql_restarts(stack):
    """One PostgreSQL restart (the machine's server: other tests see it briefly). The tracker store
    retries meanwhile (TRACKER_RETRY_SECONDS), so users only wait."""

    def restart() -> None:
        try:
            _pg_ctl("restart")
        finally:
            if not _pg_up():
                _pg_ctl("start")
            _wait_pg()

    before = _pg_started_at(stack)
    try:
        load = await converse_through(stack, "pg", restart)
    finally:
        if not _pg_up():
            _pg_ctl("start")
        _wait_pg()
    assert _pg_started_at(stack) != before, "PostgreSQL was not restarted"
    assert_outage_handled(stack, load)
