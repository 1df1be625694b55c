"""Odd inputs (tests/oddinputs.py: every script, 10,000-character texts, control characters,
injections, typed Rasa commands, blank messages, lone surrogates, and all of these mixed into real
questions) through every public channel of the real assistant: REST, socket.io (the web widget's
protocol) and Telegram (the real bot process against the fake Bot API).

For every input: no 5xx, no dropped connection, an answer of the channel's shape, no typed command
acting as one (the tracker store shows what Rasa received; a typed /human_handoff must not bring the
handoff answer), and afterwards the processes are alive, answer a real question and the knowledge
base is unchanged (`python -m db export` and `python -m db stats`, before and after).

How many inputs per channel: KAKEHASHI_ODD_INPUTS (default DEFAULT_INPUTS, about a minute per
channel on 2 cores); `make test-odd-inputs` runs all 10,000 per channel (see docs/benchmarks.md,
"Scale", for how long that takes). Inputs are generated deterministically; a failure names the
input's index — `python -m tests.oddinputs` prints them.

REST and socket.io texts are plain text that the widget renders as text, so user text echoed there
verbatim (e.g. "<script>") is correct; Telegram messages are HTML, where it must arrive escaped.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import socketio
import yaml
from sqlalchemy import MetaData, create_engine, select

from bot.channels import NO_REPLY
from bot.guard import MAX_MESSAGE_CHARS, NEUTRAL_PREFIX, RELAY_HEADER, relay_allowed, screen
from bot.telegram import texts as tg_texts
from bot.telegram.render import plain
from tests.fixtures_bot import PY, ROOT, Assistant, new_sender
from tests.oddinputs import KINDS, OddInput, generate

DEFAULT_INPUTS = 630  # 30 of each of the 21 kinds
INPUTS = int(os.environ.get("KAKEHASHI_ODD_INPUTS") or DEFAULT_INPUTS)
CONCURRENCY = 6  # conversations at once (REST, socket.io)
# Telegram chats at once: the bot spaces its messages to a chat by 1 s (Telegram's flood limit), so
# it takes more chats to keep the assistant as busy.
TELEGRAM_CONCURRENCY = 16
CONVERSATION = 4  # inputs per REST / socket.io conversation (under the 10-per-10 s rate limit)
ANSWER_TIMEOUT_S = 120  # per input, on a loaded 2-core machine
QUESTION = "find regenerative medicine clusters in Osaka"
TELEGRAM_LIMIT = 4096  # bot/telegram/config.py max_input_chars


def budget_s(n: int) -> float:
    """The most a channel's run may take: generous, but the loop always ends."""
    return 600 + 3.0 * n


# ---------------------------------------------------------------------------------- checks


def _prefix(text: str) -> str:
    return text.split("{", 1)[0][:40]


def handoff_markers() -> list[str]:
    """Openings of the answers that mean a ticket was opened or an introduction recorded."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    names = ("utter_handoff_waiting", "utter_handoff_after_hours", "utter_introduction_created")
    return [_prefix(variant["text"]) for name in names for variant in domain["responses"][name]]


MARKERS = handoff_markers()


def is_handoff(text: str) -> bool:
    return any(m in text for m in MARKERS)


def pure_command(item: OddInput) -> bool:
    """A typed command and nothing else (with payload+text the words may really ask for a person)."""
    return item.kind == "payload" and item.command_intent is not None


def rest_problems(replies: Any, sender: str) -> list[str]:
    if not isinstance(replies, list):
        return [f"the answer is {type(replies).__name__}, not a JSON list"]
    if not replies:
        return ["an empty answer"]
    out = []
    for m in replies:
        if not isinstance(m, dict):
            out.append(f"a message is {type(m).__name__}, not an object")
            continue
        if m.get("recipient_id") != sender:
            out.append(f"recipient_id {m.get('recipient_id')!r}")
        if "text" in m and not (isinstance(m["text"], str) and m["text"].strip()):
            out.append(f"text {m['text']!r}")
        buttons = m.get("buttons", [])
        if not isinstance(buttons, list) or not all(
            isinstance(b, dict) and isinstance(b.get("title"), str) and isinstance(b.get("payload"), str)
            for b in buttons
        ):
            out.append(f"buttons {buttons!r:.200}")
        if "custom" in m and not isinstance(m["custom"], dict):
            out.append(f"custom {m['custom']!r:.200}")
        if not any(k in m for k in ("text", "buttons", "custom", "image", "attachment")):
            out.append(f"a message with neither text, buttons nor custom: {m!r:.200}")
    return out


def widget_problems(event: Any) -> list[str]:
    """One bot_uttered event as bot/channels.py:widget_message makes it (plus its id)."""
    if not isinstance(event, dict):
        return [f"bot_uttered carries {type(event).__name__}, not an object"]
    out = []
    extra = set(event) - {"id", "text", "quick_replies", "custom", "attachment"}
    if extra:
        out.append(f"unexpected keys {sorted(extra)}")
    if not isinstance(event.get("id"), str) or not event["id"]:
        out.append("no id")
    if "text" in event and not (isinstance(event["text"], str) and event["text"].strip()):
        out.append(f"text {event['text']!r}")
    replies = event.get("quick_replies", [])
    if not isinstance(replies, list) or not all(
        isinstance(r, dict)
        and r.get("content_type") == "text"
        and isinstance(r.get("title"), str)
        and isinstance(r.get("payload"), str)
        for r in replies
    ):
        out.append(f"quick_replies {replies!r:.200}")
    if "custom" in event and not isinstance(event["custom"], dict):
        out.append(f"custom {event['custom']!r:.200}")
    if not any(k in event for k in ("text", "quick_replies", "custom", "attachment")):
        out.append(f"an event with nothing to show: {event!r:.200}")
    return out


@dataclass
class Report:
    """What went wrong, per input, and how the run went."""

    channel: str
    problems: list[str] = field(default_factory=list)
    answered: int = 0
    paths: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)  # (problem, kind of input) → inputs
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0

    def add(self, item: OddInput, problem: str) -> None:
        text = item.text if len(item.text) <= 90 else f"{item.text[:87]}… ({len(item.text):,} chars)"
        self.problems.append(f"#{item.index} {item.kind} {text!r}: {problem}")
        self.by_kind[(problem[:60], item.kind)] += 1

    def done(self, n: int, concurrency: int = CONCURRENCY) -> None:
        self.elapsed = time.monotonic() - self.started
        paths = ", ".join(f"{k} {v}" for k, v in sorted(self.paths.items()))
        print(
            f"\n{self.channel}: {n} odd inputs in {self.elapsed:.1f} s = {n / self.elapsed:.1f}/s "
            f"(concurrency {concurrency}); {len(self.problems)} problem(s); {paths}"
        )

    def render(self, limit: int = 25) -> str:
        head = "\n".join(self.problems[:limit])
        common = "\n".join(f"  {n} × {what} [{kind}]" for (what, kind), n in self.by_kind.most_common(15))
        return f"{len(self.problems)} problem(s) over {self.channel}; most common:\n{common}\nfirst:\n{head}"


def chunks(items: list[OddInput], size: int) -> list[list[OddInput]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# ---------------------------------------------------------------------------------- state


def knowledge_base(assistant: Assistant) -> tuple[str, dict]:
    """The whole curated dataset as exported, and the row counts staff see (introduction requests
    left out: the words of an input may legitimately ask for one)."""
    run = {"cwd": ROOT, "env": assistant.env, "check": True, "capture_output": True, "text": True, "timeout": 300}
    export = subprocess.run([PY, "-m", "db", "export", "-"], **run).stdout
    stats = json.loads(subprocess.run([PY, "-m", "db", "stats", "--json"], **run).stdout)
    stats.pop("introduction requests", None)
    return export, stats


def user_events(assistant: Assistant, senders: Iterable[str]) -> list[tuple[str, str]]:
    """(sender, text) of every user message the assistant recorded for `senders`."""
    wanted = set(senders)
    engine = create_engine(assistant.env["TRACKER_URL"])
    try:
        meta = MetaData()
        meta.reflect(engine, only=["events"])
        events = meta.tables["events"]
        with engine.connect() as conn:
            rows = conn.execute(select(events.c.sender_id, events.c.data).where(events.c.type_name == "user")).all()
    finally:
        engine.dispose()
    out = []
    for sender, data in rows:
        if sender in wanted:
            text = json.loads(data).get("text")
            out.append((sender, text if isinstance(text, str) else ""))
    return out


def tracker_problems(assistant: Assistant, senders: Iterable[str]) -> list[str]:
    """No typed command reached Rasa as a command (no button was pressed in these conversations),
    and no message longer than bot/guard.py lets through."""
    out = []
    recorded = user_events(assistant, senders)
    for sender, text in recorded:
        if text.lstrip().startswith("/"):
            out.append(f"{sender}: Rasa received {text[:80]!r} as a command")
        if len(text) > MAX_MESSAGE_CHARS + len(NEUTRAL_PREFIX):
            out.append(f"{sender}: Rasa received {len(text):,} characters")
    if not recorded:
        out.append("the tracker store holds none of these conversations")
    return out


def still_well(assistant: Assistant) -> list[str]:
    out = [f"the {name} process exited ({p.returncode})" for name, p in assistant.procs.items() if p.poll() is not None]
    try:
        answer = assistant.text(new_sender(), QUESTION)
    except OSError as exc:
        return [*out, f"a real question afterwards failed: {exc!r}"]
    if "Osaka Bio Headquarters" not in answer:
        out.append(f"a real question afterwards got {answer[:200]!r}")
    return out


@pytest.fixture
def kb_unchanged(assistant: Assistant):
    before = knowledge_base(assistant)
    yield
    export, stats = knowledge_base(assistant)
    assert stats == before[1], "row counts of the knowledge base changed"
    assert export == before[0], "the knowledge base's content changed"


# ---------------------------------------------------------------------------------- REST


async def _rest_run(url: str, items: list[OddInput], report: Report, senders: list[str]) -> None:
    queue: asyncio.Queue[list[OddInput]] = asyncio.Queue()
    for conversation in chunks(items, CONVERSATION):
        queue.put_nowait(conversation)
    deadline = time.monotonic() + budget_s(len(items))
    timeout = aiohttp.ClientTimeout(total=ANSWER_TIMEOUT_S)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty() and time.monotonic() < deadline:
            sender = ""
            for item in queue.get_nowait():
                if not sender:  # a new conversation
                    sender = f"odd-{uuid.uuid4().hex[:12]}"
                    senders.append(sender)
                body = json.dumps({"sender": sender, "message": item.text})  # lone surrogates as \ud800
                try:
                    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                        status, raw = resp.status, await resp.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    report.add(item, f"connection: {exc!r}")
                    continue
                if status != 200:
                    report.add(item, f"HTTP {status} {raw[:200]!r}")
                    continue
                try:
                    replies = json.loads(raw)
                except ValueError:
                    report.add(item, f"not JSON: {raw[:200]!r}")
                    continue
                for problem in rest_problems(replies, sender):
                    report.add(item, problem)
                said = " ".join(
                    m.get("text", "") for m in replies if isinstance(m, dict) and isinstance(m.get("text"), str)
                )
                report.answered += 1
                if NO_REPLY in said:
                    report.add(item, "the assistant failed on it (the channel apologised)")
                if is_handoff(said):
                    if pure_command(item):
                        report.add(item, f"a typed command opened a ticket / recorded an introduction: {said[:100]!r}")
                    sender = ""  # a person holds this conversation now: the next input starts a new one

    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
    if not queue.empty():
        report.problems.append(f"ran out of time with {queue.qsize()} conversations left")


@pytest.mark.slow
def test_odd_inputs_over_rest(assistant: Assistant, kb_unchanged):
    items = generate(INPUTS)
    report, senders = Report("REST"), []
    asyncio.run(_rest_run(f"{assistant.rasa_url}/webhooks/rest/webhook", items, report, senders))
    report.done(len(items))
    report.problems += tracker_problems(assistant, senders)
    report.problems += still_well(assistant)
    assert not report.problems, report.render()
    assert report.answered == len(items)


# ---------------------------------------------------------------------------------- socket.io


class Widget:
    """A socket.io client speaking the widget's protocol; `say` returns the events one message
    brought: the server acknowledges user_uttered when it has handled it, after its answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.changed = asyncio.Event()
        for name in ("session_confirm", "bot_uttered", "kakehashi_error"):
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str):  # type: ignore[no-untyped-def]
        async def record(data: Any = None) -> None:
            self.events.append((name, data))
            self.changed.set()

        return record

    async def connect(self) -> None:
        await self.sio.connect(self.url, transports=["websocket"], wait_timeout=30)

    async def session(self) -> str:
        mark = len(self.events)
        await self.sio.emit("session_request", {"session_id": None})
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while True:
            confirmed = [data for name, data in self.events[mark:] if name == "session_confirm"]
            if confirmed:
                return confirmed[0]
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.1, deadline - time.monotonic()))

    async def say(self, session: str, message: Any) -> list[tuple[str, Any]]:
        mark = len(self.events)
        await self.sio.call("user_uttered", {"session_id": session, "message": message}, timeout=ANSWER_TIMEOUT_S)
        await asyncio.sleep(0)  # let event handlers queued before the acknowledgement finish
        return self.events[mark:]


async def _socketio_run(url: str, items: list[OddInput], report: Report, sessions: list[str]) -> None:
    queue: asyncio.Queue[list[OddInput]] = asyncio.Queue()
    for conversation in chunks(items, CONVERSATION):
        queue.put_nowait(conversation)
    deadline = time.monotonic() + budget_s(len(items))

    async def worker() -> None:
        widget = Widget(url)
        await widget.connect()
        try:
            while not queue.empty() and time.monotonic() < deadline:
                session = ""
                for item in queue.get_nowait():
                    if not widget.sio.connected:
                        await widget.sio.disconnect()
                        widget = Widget(url)
                        await widget.connect()
                        session = ""
                    if not session:  # a new conversation
                        session = await widget.session()
                        sessions.append(session)
                    try:
                        events = await widget.say(session, item.text)
                    except (socketio.exceptions.SocketIOError, TimeoutError) as exc:
                        report.add(item, f"no acknowledgement: {exc!r}")
                        session = ""
                        continue
                    if not widget.sio.connected:
                        report.add(item, "the connection dropped")
                        continue
                    uttered = [data for name, data in events if name == "bot_uttered"]
                    errors = [data for name, data in events if name == "kakehashi_error"]
                    if errors:
                        report.add(item, f"kakehashi_error {errors!r:.200}")
                    if not uttered:
                        report.add(item, "no bot_uttered")
                    for event in uttered:
                        for problem in widget_problems(event):
                            report.add(item, problem)
                    report.answered += 1
                    said = " ".join(e.get("text", "") for e in uttered if isinstance(e, dict))
                    if NO_REPLY in said:
                        report.add(item, "the assistant failed on it (the channel apologised)")
                    if is_handoff(said):
                        if pure_command(item):
                            report.add(item, f"a typed command opened a ticket: {said[:100]!r}")
                        session = ""  # a person holds this conversation now
        finally:
            await widget.sio.disconnect()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    if not queue.empty():
        report.problems.append(f"ran out of time with {queue.qsize()} conversations left")


@pytest.mark.slow
def test_odd_inputs_over_socketio(assistant: Assistant, kb_unchanged):
    items = generate(INPUTS)
    report, sessions = Report("socket.io"), []
    asyncio.run(_socketio_run(assistant.rasa_url, items, report, sessions))
    report.done(len(items))
    report.problems += tracker_problems(assistant, sessions)
    report.problems += still_well(assistant)
    assert not report.problems, report.render()
    assert report.answered == len(items)


# ---------------------------------------------------------------------------------- Telegram

CHANNEL_TEXTS = {
    plain(t): name for name, t in vars(tg_texts).items() if name.isupper() and isinstance(t, str) and "{" not in t
}
TOO_LONG_START = plain(tg_texts.TOO_LONG.split("(", 1)[0])
RESET_DONE = plain(tg_texts.RESET_DONE)
TG_COMMAND = re.compile(r"^/[A-Za-z0-9_]+")


@dataclass
class Chat:
    item: OddInput
    started: float
    messages: list = field(default_factory=list)
    resetting: bool = False


def telegram_problems(chat: Chat) -> tuple[list[str], str]:
    """What is wrong with the messages one input brought, and which path it took."""
    item, out = chat.item, []
    if not chat.messages:
        return ["no message"], "none"
    for call in chat.messages:
        if call.status != 200:
            out.append(f"sendMessage refused by Telegram ({call.status}): {call.text[:120]!r}")
        if call.params.get("parse_mode") != "HTML":
            out.append(f"parse_mode {call.params.get('parse_mode')!r}")
        if "<script" in call.text.lower() or "<img" in call.text.lower():
            out.append(f"unescaped HTML from the user: {call.text[:120]!r}")
    said = [c.text for c in chat.messages]
    channel = [CHANNEL_TEXTS.get(t) or ("TOO_LONG" if t.startswith(TOO_LONG_START) else None) for t in said]
    for name in ("ERROR", "UNAVAILABLE"):
        if name in channel:
            out.append(f"the bot said {name}")
    if any(plain(NO_REPLY) in t for t in said):
        out.append("the assistant failed on it (the channel apologised)")
    stripped = item.text.strip()
    if TG_COMMAND.match(item.text):
        path = "command"
    elif len(stripped) > TELEGRAM_LIMIT:
        path = "too long"
        if channel != ["TOO_LONG"]:
            out.append(f"a {len(stripped):,}-character message was not refused as too long: {said[0][:100]!r}")
    elif not stripped:
        path = "blank"
    else:
        path = "assistant"
        if any(channel):
            out.append(f"answered by the bot itself ({channel}), not by the assistant")
    if pure_command(item) and any(is_handoff(t) for t in said):
        out.append("a typed command opened a ticket")
    return out, path


def _telegram_run(fake, items: list[OddInput], report: Report) -> list[str]:
    """One new private chat per input: the input, then /reset once its answer started. The bot
    answers a chat's messages in order, so the reset confirmation marks the end of the answer."""
    base = random.SystemRandom().randint(10**9, 2 * 10**9)
    todo, active, finished = list(reversed(items)), {}, set()
    cursor = fake.mark()
    deadline = time.monotonic() + budget_s(len(items))
    while (todo or active) and time.monotonic() < deadline:
        while todo and len(active) < TELEGRAM_CONCURRENCY:
            item = todo.pop()
            active[base + item.index] = Chat(item, time.monotonic())
            fake.message(base + item.index, item.text)
        end = fake.mark()
        for call in fake.calls[cursor:end]:
            if call.method != "sendMessage":
                continue
            chat_id = int(str(call.chat_id))
            chat = active.get(chat_id)
            if chat is None:
                if chat_id in finished:
                    report.problems.append(
                        f"chat {chat_id}: a message after the answer was complete: {call.text[:80]!r}"
                    )
                continue
            if chat.resetting and call.status == 200 and call.text == RESET_DONE:
                problems, path = telegram_problems(chat)
                for problem in problems:
                    report.add(chat.item, problem)
                report.paths[path] += 1
                report.answered += 1
                finished.add(chat_id)
                del active[chat_id]
                continue
            chat.messages.append(call)
            if not chat.resetting:
                chat.resetting = True
                fake.message(chat_id, "/reset")
        cursor = end
        now = time.monotonic()
        for chat_id, chat in list(active.items()):
            if now - chat.started > ANSWER_TIMEOUT_S:
                report.add(
                    chat.item, f"no complete answer within {ANSWER_TIMEOUT_S} s ({len(chat.messages)} message(s))"
                )
                del active[chat_id]
        time.sleep(0.02)
    if todo or active:
        report.problems.append(f"ran out of time with {len(todo) + len(active)} inputs left")
    return [f"tg-{base + item.index}" for item in items]


@pytest.mark.slow
def test_odd_inputs_over_telegram(assistant: Assistant, fake_telegram, start_bot, kb_unchanged):
    items = generate(INPUTS)
    bot = start_bot(assistant.rasa_url, assistant.env["DATABASE_URL"], secret=assistant.env["KAKEHASHI_SECRET"])
    report = Report("Telegram")
    senders = _telegram_run(fake_telegram, items, report)
    report.done(len(items), TELEGRAM_CONCURRENCY)
    if bot.proc.poll() is not None:
        report.problems.append(f"the bot exited with {bot.proc.returncode}")
    if "handling an update failed" in bot.output():
        report.problems.append("the bot logged a failed update:\n" + bot.output()[-3000:])
    report.problems += tracker_problems(assistant, senders)
    report.problems += still_well(assistant)
    assert not report.problems, report.render()
    assert report.answered == len(items)
    if len(items) >= len(KINDS):  # every kind once: both the bot's own refusals and the assistant's answers
        assert report.paths["too long"] and report.paths["assistant"], report.paths


# ---------------------------------------------------------------------------------- rejection paths

MALFORMED_BODIES: list[bytes] = [
    b"",
    b"not json",
    b"[]",
    b"null",
    b'"a string"',
    b'{"sender": "odd-x"}',  # no message: treated as ""
    b'{"sender": "odd-x", "message": null}',
    b'{"sender": "odd-x", "message": 42}',
    b'{"sender": "odd-x", "message": ["a"]}',
    b'{"sender": "odd-x", "message": {"text": "hi"}}',
    b'{"message": "hello"}',
    b'{"sender": 42, "message": "hello"}',
    b'{"sender": "", "message": "hello"}',
    b'{"sender": "' + b"x" * 129 + b'", "message": "hello"}',
    b'{"sender": "a b", "message": "hello"}',
    b'{"sender": "\\ud800", "message": "hello"}',
    b'{"sender": "odd-x", "message": "\xff\xfe invalid utf-8"}',
    b'{"sender": "odd-x", "message": "unterminated',
    b'{"sender": "odd-x", "message": "hi", "metadata": "not an object"}',
    b'{"sender": "odd-x", "message": "hi", "metadata": {"site_cluster": {"nested": [1, 2]}}}',
]


def test_rest_answers_malformed_requests_with_a_4xx_or_an_answer(assistant: Assistant):
    url = f"{assistant.rasa_url}/webhooks/rest/webhook"
    bodies = [
        *MALFORMED_BODIES,
        *(json.dumps({"sender": i.text[:200], "message": "hi"}).encode() for i in generate(42)),
    ]
    for body in bodies:
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=ANSWER_TIMEOUT_S) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        assert status < 500, (body[:100], status, raw[:300])
        answer = json.loads(raw)
        if status == 200:
            assert not rest_problems(answer, json.loads(body)["sender"]), (body[:100], answer)
        else:
            assert status in (400, 403) and isinstance(answer.get("error"), str), (body[:100], status, answer)


def test_socketio_answers_malformed_events_without_dropping_the_connection(assistant: Assistant):
    async def scenario() -> list[str]:
        widget = Widget(assistant.rasa_url)
        await widget.connect()
        problems = []
        try:
            session = await widget.session()
            for message in [None, 42, ["a"], {"text": "hi"}, True]:  # str()-ed by the channel: each is answered
                events = await widget.say(session, message)
                uttered = [d for n, d in events if n == "bot_uttered"]
                if not uttered or any(widget_problems(e) for e in uttered):
                    problems.append(f"message {message!r}: {events!r:.300}")
            for data in ["hello", ["hello"], {"message": "hi"}, {"session_id": "forged", "message": "hi"}, 7]:
                mark = len(widget.events)
                await widget.sio.call("user_uttered", data, timeout=ANSWER_TIMEOUT_S)
                await asyncio.sleep(0)
                names = [n for n, _ in widget.events[mark:]]
                if names != ["kakehashi_error"]:
                    problems.append(f"event data {data!r}: {names}")
            if not widget.sio.connected:
                problems.append("the connection dropped")
        finally:
            await widget.sio.disconnect()
        return problems

    assert asyncio.run(scenario()) == []


@pytest.mark.parametrize("event", ["user_uttered", "session_request"])
def test_socketio_events_without_data_are_refused_not_crashing_the_handler(assistant: Assistant, event):
    """An event sent without data (socket.emit("user_uttered")) raised TypeError in the server's
    handler (missing positional argument 'data'): no answer, no acknowledgement, a traceback."""

    async def scenario() -> list[str]:
        widget = Widget(assistant.rasa_url)
        await widget.connect()
        try:
            mark = len(widget.events)
            # The handler refuses at once, without the NLU; 30 s only bounds the wait for a broken one.
            await widget.sio.call(event, timeout=30)
            await asyncio.sleep(0)
            return [n for n, _ in widget.events[mark:]]
        finally:
            await widget.sio.disconnect()

    try:
        names = asyncio.run(scenario())
    except socketio.exceptions.TimeoutError:
        pytest.fail(f"{event} without data was never acknowledged (the handler raised)")
    assert names in (["kakehashi_error"], ["session_confirm"]), names


# ---------------------------------------------------------------------------------- found bugs


@pytest.mark.parametrize("text", ["/x~k=é", "/x~k=\ud800", "/human_handoff~k=\u0661\u0662", "\ud800/x~k=abc"])
def test_screen_never_fails_on_a_forged_signature_or_a_lone_surrogate(text):
    screened = screen(text, "odd-sender")
    assert not screened.startswith("/"), "a forged signature is not accepted"
    screened.encode("utf-8")  # what the NLU, the database and Telegram need


@pytest.mark.parametrize("signature", ["é", "\udce9", "\u00ff" * 64, "abc"])
def test_a_relay_header_with_odd_characters_is_refused_not_an_error(signature):
    assert relay_allowed("tg-12345", signature) is False


@pytest.mark.slow
def test_rest_refuses_an_odd_relay_header_with_403_not_500(assistant: Assistant):
    body = json.dumps({"sender": "tg-12345", "message": "hello"}).encode()
    req = urllib.request.Request(
        f"{assistant.rasa_url}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json", RELAY_HEADER: "é"},  # sent as latin-1
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=ANSWER_TIMEOUT_S)
    assert refused.value.code == 403


@pytest.mark.slow
@pytest.mark.parametrize("text", ["find biotech clusters in \ud800Osaka", "\udfff", "/x~k=\ud800", "/x~k=é"])
def test_lone_surrogates_and_odd_signatures_get_an_answer_not_an_apology(assistant: Assistant, text):
    replies = assistant.send(new_sender(), text)
    said = " ".join(m.get("text", "") for m in replies)
    assert "temporarily unavailable" not in said, said


@pytest.mark.slow
@pytest.mark.parametrize("text", ["", " ", "\t\n", "\u00a0", "\u3000"])
def test_a_blank_message_gets_an_answer_not_an_apology(assistant: Assistant, text):
    """A message without a single token made the NLU fail (LogisticRegressionClassifier: "X has
    n features, but ... expecting n+11"), so the REST channel apologised that the assistant was
    unavailable."""
    replies = assistant.send(new_sender(), text)
    said = " ".join(m.get("text", "") for m in replies)
    assert "temporarily unavailable" not in said, said


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    ["/human_handoff", "  /human_handoff  ", '/request_introduction{"org_name": "Osaka Bio Headquarters"}'],
)
def test_a_typed_command_does_not_open_a_ticket_or_record_an_introduction(assistant: Assistant, text):
    """bot/guard.py stops the command, but the NLU still reads "human_handoff" (and the
    organisation named in the JSON) as the words of the intent."""
    replies = assistant.send(new_sender(), text)
    said = " ".join(m.get("text", "") for m in replies)
    assert not is_handoff(said), said
