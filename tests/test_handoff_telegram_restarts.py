"""A whole Telegram handoff with every process restarted in the middle, and not one message lost.

Real processes on loopback, over one SQLite database: the action server, the Rasa server with the
trained model, the web server with the staff console (/helpdesk), and the Telegram bot against
the fake Bot API with the staff group configured. The user asks the real assistant for a person;
staff claim in the Telegram group and answer from the console; the Rasa server and the action
server, the bot, and the web server are each stopped and started again while both sides keep
writing; after hand back the assistant answers with its knowledge again. At the end every user
message is on the ticket exactly once, in order, and every staff message reached the user
exactly once."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from bot.helpdesk import texts as helpdesk_texts
from bot.launch import PY, assistant_env, free_port, start_actions, start_rasa, stop, wait_http
from bot.telegram import texts as tg_texts
from db import handoff as h
from db import staff_group as sg
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.fixtures_bot import ROOT

pytestmark = pytest.mark.slow
STAFF_CHAT = -1009876543210
STAFF_TG = 4242
PASSWORD = "correct horse battery staple"


@dataclass
class Stack:
    """The product's processes, each of which the test stops and starts."""

    work: Path
    env: dict[str, str]
    model: Path
    fake: FakeTelegram
    rasa_port: int = field(default_factory=free_port)
    action_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def console(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/helpdesk"

    def log(self, name: str):  # type: ignore[no-untyped-def]
        return (self.work / f"{name}.log").open("ab")

    def start(self, name: str) -> None:
        if name == "actions":
            self.procs[name] = start_actions(self.env, self.action_port, self.work / "actions.log")
            wait_http(f"http://127.0.0.1:{self.action_port}/health", 120, self.procs[name])
        elif name == "rasa":
            self.procs[name] = start_rasa(
                self.env, self.model, self.rasa_port, self.work / "rasa.log", ["--interface", "127.0.0.1"]
            )
            wait_http(f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/", 300, self.procs[name])
        elif name == "web":
            env = dict(self.env, WEB_HOST="127.0.0.1", WEB_PORT=str(self.web_port))
            self.procs[name] = subprocess.Popen(
                [PY, "-m", "bot.web"], cwd=ROOT, env=env, stdout=self.log("web"), stderr=subprocess.STDOUT
            )
            wait_http(f"http://127.0.0.1:{self.web_port}/healthz", 60, self.procs[name])
        elif name == "telegram":
            mark = self.fake.mark()
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "bot.telegram"],
                cwd=ROOT,
                env=self.env,
                stdout=self.log("telegram"),
                stderr=subprocess.STDOUT,
            )
            self.fake.wait_for(lambda calls: any(c.method == "getUpdates" for c in calls[mark:]), 60, "the bot to poll")

    def stop(self, *names: str) -> None:
        for name in names:
            stop(self.procs.pop(name, None))


@pytest.fixture
def stack(trained_model: Path, tmp_path: Path, fake_telegram: FakeTelegram) -> Iterator[Stack]:
    rasa_port = free_port()
    action_port = free_port()
    env = assistant_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'kb.db'}",
        TRACKER_URL=f"sqlite:///{tmp_path / 'trackers.db'}",
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        KAKEHASHI_SECRET="restart-test-" + uuid.uuid4().hex,
        KAKEHASHI_OFFICE_HOURS="always",
        KAKEHASHI_RATE_LIMIT="100/10",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake_telegram.base_url,
        TELEGRAM_STAFF_CHAT_ID=str(STAFF_CHAT),
        TELEGRAM_RETRY_MAX_SECONDS="2",
        TELEGRAM_ASSISTANT_TIMEOUT="90",
        RASA_URL=f"http://127.0.0.1:{rasa_port}",
        PYTHONUNBUFFERED="1",
    )
    subprocess.run([PY, "-m", "db", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    s = Stack(tmp_path, env, trained_model, fake_telegram, rasa_port=rasa_port, action_port=action_port)
    try:
        for name in ("actions", "rasa", "web", "telegram"):
            s.start(name)
        yield s
    finally:
        s.stop(*list(s.procs))


class ConsoleClient:
    """A staff member's browser session on the console, over plain HTTP."""

    def __init__(self, stack: Stack, username: str) -> None:
        self.stack = stack
        self.http = requests.Session()
        form = self.http.get(f"{stack.console}/login", timeout=30).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        page = self.http.post(
            f"{stack.console}/login",
            data={"username": username, "password": PASSWORD, "csrf": csrf},
            timeout=30,
        ).text
        self.csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)

    def act(self, ticket_id: int, action: str, text: str | None = None) -> requests.Response:
        return self.http.post(
            f"{self.stack.console}/api/tickets/{ticket_id}/{action}",
            json={"text": text} if text is not None else {},
            headers={"X-CSRF-Token": self.csrf},
            timeout=30,
        )


def test_every_process_restarted_mid_handoff_loses_nothing(stack: Stack):
    fake, url = stack.fake, stack.db_url
    user = random.randint(10_000_000, 99_999_999)
    said: list[str] = []  # what the user wrote to the helpdesk, in order

    def user_says(text: str) -> None:
        fake.message(user, text, first_name="Anna")

    # The real assistant answers, then hands over when asked for a person.
    user_says("find regenerative medicine clusters in Osaka")
    fake.wait_text(user, "Osaka Bio Headquarters", timeout=120)
    mark = fake.mark()
    user_says("I want to talk to a person")
    fake.wait_messages(user, 1, since=mark, timeout=120)
    ticket = h.current_ticket(f"tg-{user}", url=url)
    assert ticket is not None and ticket.status == "waiting" and ticket.display_name == "Anna"
    announcement = fake.wait_text(STAFF_CHAT, f"Ticket #{ticket.id}")

    h.create_staff("aiko", PASSWORD, "Aiko Tanaka", url=url)
    sg.link_telegram("aiko", STAFF_TG, url=url)
    console = ConsoleClient(stack, "aiko")
    mark = fake.mark()
    fake.press(STAFF_CHAT, f"hd:claim:{ticket.id}", announcement, "supergroup", STAFF_TG)
    fake.wait_text(user, helpdesk_texts.JOINED.format(name="Aiko Tanaka"), since=mark)

    # 1. The Rasa server and the action server go down: the user's message still reaches staff,
    #    and the user hears nothing automatic.
    stack.stop("rasa", "actions")
    mark = fake.mark()
    said.append("first, while the assistant is down")
    user_says(said[-1])
    fake.wait_text(STAFF_CHAT, said[-1], since=mark)
    reply = "Hello Anna, Aiko here. Which field?"
    assert console.act(ticket.id, "reply", reply).status_code == 200
    fake.wait_text(user, reply, since=mark)

    # 2. The bot goes down: a staff reply waits in the outbox, the user's message waits at Telegram.
    stack.stop("telegram")
    reply = "Are you still looking in Kansai?"
    assert console.act(ticket.id, "reply", reply).status_code == 200
    said.append("second, while the bot is down")
    user_says(said[-1])
    mark = fake.mark()
    stack.start("telegram")
    fake.wait_text(user, reply, since=mark)
    fake.wait_text(STAFF_CHAT, said[-1], since=mark)

    # 3. The web server (console) restarts: the staff member's session still works.
    stack.stop("web")
    said.append("third, while the console is down")
    user_says(said[-1])
    fake.wait_text(STAFF_CHAT, said[-1])
    stack.start("web")
    reply = "Yes — I will send you two contacts."
    mark = fake.mark()
    assert console.act(ticket.id, "reply", reply).status_code == 200
    fake.wait_text(user, reply, since=mark)

    # 4. The assistant comes back; staff hand back; it answers from the knowledge base again.
    stack.start("actions")
    stack.start("rasa")
    said.append("fourth, with everything back")
    mark = fake.mark()
    user_says(said[-1])
    fake.wait_text(STAFF_CHAT, said[-1], since=mark)
    assert console.act(ticket.id, "handback").status_code == 200
    fake.wait_text(user, helpdesk_texts.HANDED_BACK, since=mark)
    mark = fake.mark()
    user_says("who does Osaka Bio Headquarters partner with?")
    assert "bioXclusters plus" in fake.wait_text(user, "bioXclusters plus", since=mark, timeout=120).text

    # Nothing lost, nothing doubled.
    detail = h.ticket_detail(ticket.id, url=url)
    user_lines = [m.text for m in detail.messages if m.sender == "user"]
    assert user_lines[-len(said) :] == said
    assert all(user_lines.count(text) == 1 for text in said)
    staff_lines = [m.text for m in detail.messages if m.sender == "staff"]
    to_user = [c.text for c in fake.messages(user)]
    for text in staff_lines:
        assert sum(text in sent for sent in to_user) == 1, text
    assert not [t for t in to_user if tg_texts.UNAVAILABLE in t]  # never "temporarily unavailable"
    assert all(stack.procs[name].poll() is None for name in ("actions", "rasa", "web", "telegram"))
