"""Helpdesk handoff on the web, end to end in the real browser (Debian's chromium via Playwright):
a visitor talking to the real assistant through the widget on the demo page, and a staff member
in the console at /helpdesk of the same web server, on the same database.

- The round trip: a real answer, asking for a person, the ticket appearing in the console without
  a reload, claim, staff replies shown as from the helpdesk (hostile text inert), the visitor's
  reply reaching the console while the assistant stays silent, hand back, the assistant answering
  again; and cancelling the wait from the widget, which closes the ticket in the console live.
- Restarts (an assistant of this module's own): the Rasa server (socket.io) stopped while the
  visitor writes and reloads, staff replying meanwhile; the web server (console and widget files)
  and the action server restarted mid-handoff. Every user message reaches the ticket exactly once
  and every staff message the widget exactly once.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bot.channels import NO_REPLY, TOO_FAST
from bot.helpdesk import texts
from bot.launch import PY, assistant_env, free_port, start_actions, start_rasa, stop, wait_http
from db import handoff as h
from tests.fixtures_bot import ROOT, START_TIMEOUT_S
from tests.fixtures_web import NO_BROWSER, WAIT_MS, WebSite, browser_available, open_page

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not browser_available(), reason=NO_BROWSER)]

PASSWORD = "a long enough password 123"
QUESTION = "find regenerative medicine clusters in Osaka"
ASK_PERSON = "I want to talk to a person"
PARTNERS = "who does Osaka Bio Headquarters partner with?"
XSS = "<img src=x onerror=alert(1)>"
CANCEL_TITLE = "Cancel — back to the assistant"
WAITING = re.compile("helpdesk", re.I)  # in or out of office hours, the answer names the helpdesk
OFFLINE = re.compile("Connection lost|Cannot reach the assistant")
LIVE_MS = 30_000  # the console polls every 2 s, the web outbox every 1 s; a busy 2-core machine


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    """expect() waits 5 s by default, whatever the context's timeout: wait for the console's and
    the outbox's polling as long as for the assistant's answers here, and restore it afterwards."""
    before = expect._timeout
    expect.set_options(timeout=LIVE_MS)
    try:
        yield
    finally:
        expect.set_options(timeout=before)


# --------------------------------------------------------------------------- helpers


def wait_until(check: Callable[[], object], seconds: float = WAIT_MS / 1000, what: str = "condition") -> object:
    """Poll `check` until it returns something truthy; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def make_staff(db_url: str, name: str) -> h.Staff:
    return h.create_staff(f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}", PASSWORD, name, url=db_url)


def login(page, web_url: str, staff: h.Staff) -> None:  # type: ignore[no-untyped-def]
    page.goto(web_url + "/helpdesk")
    page.wait_for_url(re.compile(r"/helpdesk/login$"))
    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/helpdesk$"))


def open_widget(page, web_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(web_url + "/")
    page.get_by_role("button", name=re.compile("chat", re.I)).click()
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()


def bot_messages(page):  # type: ignore[no-untyped-def]
    """The assistant's messages in the widget (not the visitor's, not the helpdesk's)."""
    return page.locator(".kh-log .kh-bot")


def staff_messages(page, text: str):  # type: ignore[no-untyped-def]
    return page.locator(".kh-log .kh-staff").filter(has_text=text)


def write(page, text: str) -> None:  # type: ignore[no-untyped-def]
    """The visitor sends `text` (without waiting for any answer)."""
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".kh-log .kh-user .kh-text").filter(has_text=text)).to_have_count(1)


def ask(page, text: str):  # type: ignore[no-untyped-def]
    """The visitor sends `text`; returns the assistant's next message once it is shown."""
    before = bot_messages(page).count()
    write(page, text)
    answer = bot_messages(page).nth(before)
    expect(answer).to_be_visible(timeout=WAIT_MS)
    return answer


def stored(page, rasa_url: str) -> dict:  # type: ignore[no-untyped-def]
    raw = page.evaluate("key => localStorage.getItem(key)", "kakehashi:" + rasa_url)
    return json.loads(raw or "null") or {}


def staff_reply(console, text: str) -> None:  # type: ignore[no-untyped-def]
    console.get_by_label("Reply to the user").fill(text)
    console.get_by_role("button", name="Send").click()
    expect(console.locator("#messages li.msg.staff").filter(has_text=text)).to_have_count(1)


def console_user_messages(console, text: str):  # type: ignore[no-untyped-def]
    return console.locator("#messages li.msg.user").filter(has_text=text)


def assert_quiet(page) -> None:  # type: ignore[no-untyped-def]
    """No apology for a missing answer, no rate-limit refusal anywhere in the conversation."""
    log = page.get_by_role("log")
    expect(log).not_to_contain_text(NO_REPLY[:40])
    expect(log).not_to_contain_text(TOO_FAST[:40])


def texts_of(detail: h.TicketDetail, sender: str) -> list[str]:
    return [m.text for m in detail.messages if m.sender == sender]


def assistant_lines_after_handoff(detail: h.TicketDetail) -> list[str]:
    """What the assistant said on the ticket after it was opened (the transcript comes before the
    "Handed to the helpdesk" line)."""
    start = next(m.id for m in detail.messages if m.sender == "system" and m.text.startswith("Handed to the helpdesk"))
    return [m.text for m in detail.messages if m.sender == "assistant" and m.id > start]


# --------------------------------------------------------------------------- the round trip


def test_visitor_and_staff_round_trip(browser, website: WebSite):
    db_url = website.assistant.env["DATABASE_URL"]
    staff = make_staff(db_url, "Aiko Tanaka")
    console_context, console, console_probe = open_page(browser)
    visitor_context, visitor, visitor_probe = open_page(browser)
    try:
        login(console, website.url, staff)
        console.evaluate("window.khSamePage = true")  # gone if the queue page were reloaded

        open_widget(visitor, website.url)
        ask(visitor, QUESTION)
        expect(visitor.get_by_role("log")).to_contain_text("Osaka Bio Headquarters", timeout=WAIT_MS)
        waiting = ask(visitor, ASK_PERSON)
        expect(waiting).to_contain_text(WAITING)
        expect(waiting.locator(".kh-reply")).to_have_text([CANCEL_TITLE])
        session = stored(visitor, website.assistant.rasa_url)["session"]
        ticket = h.current_ticket(session, url=db_url)
        assert ticket is not None and ticket.status == "waiting" and ticket.assistant_paused
        assert (ticket.channel, ticket.recipient) == ("socketio", session)

        # The ticket appears in the queue without a reload; staff claim it.
        row = console.locator("#waiting tbody tr").filter(has_text=f"#{ticket.id}")
        expect(row).to_be_visible()
        expect(row).to_contain_text(ASK_PERSON)  # the user's last message
        assert console.evaluate("window.khSamePage === true")
        row.get_by_role("button", name="Claim").click()
        console.wait_for_url(re.compile(rf"/helpdesk/tickets/{ticket.id}$"))
        expect(console.locator("#t-claimed")).to_have_text("Aiko Tanaka (you)")

        label = "Helpdesk — Aiko Tanaka"
        joined = staff_messages(visitor, texts.JOINED.format(name="Aiko Tanaka"))
        expect(joined).to_have_count(1)
        expect(joined.locator(".kh-from")).to_have_text(label)
        bots = bot_messages(visitor).count()  # the assistant's messages so far

        # Staff reply: shown to the visitor as from a person, delivered.
        hello = "Hello, I'm Aiko from the helpdesk. Which partners are you looking for?"
        staff_reply(console, hello)
        expect(staff_messages(visitor, hello)).to_have_count(1)
        expect(staff_messages(visitor, hello).locator(".kh-from")).to_have_text(label)
        delivered = console.locator("#messages li.msg.staff").filter(has_text=hello).locator(".delivery")
        expect(delivered).to_have_text("delivered")

        # The visitor writes back: it reaches the console live, the assistant says nothing.
        answer = "A partner in Kobe for cell therapy, please."
        write(visitor, answer)
        expect(console_user_messages(console, answer)).to_have_count(1)
        expect(visitor.locator(".kh-typing")).to_be_hidden()  # no "typing…" while a person holds it

        # Hostile text from staff stays text in the widget.
        staff_reply(console, XSS)
        shown = staff_messages(visitor, XSS)
        expect(shown).to_have_count(1)
        expect(shown.locator(".kh-text")).to_have_text(XSS)
        expect(shown.locator(".kh-from")).to_have_text(label)
        assert visitor.locator(".kh-log img").count() == 0
        assert visitor.evaluate("document.querySelectorAll('img').length") == 0

        # The assistant stayed silent all along (the XSS reply came after the visitor's message).
        expect(bot_messages(visitor)).to_have_count(bots)
        assert_quiet(visitor)
        detail = h.ticket_detail(ticket.id, url=db_url)
        assert texts_of(detail, "user").count(answer) == 1
        assert assistant_lines_after_handoff(detail) == []
        assert h.active_ticket(session, url=db_url) is not None

        # Hand back: the visitor is told, and the assistant answers again.
        console.get_by_role("button", name="Hand back to the assistant").click()
        expect(console.locator("#t-holding")).to_have_text("answering the user")
        expect(bot_messages(visitor)).to_have_count(bots + 1)
        expect(bot_messages(visitor).last).to_contain_text("You're back with Kakehashi")
        back = ask(visitor, PARTNERS)
        expect(back).to_contain_text("bioXclusters plus", timeout=WAIT_MS)
        assert_quiet(visitor)

        # Each staff message reached the widget exactly once (shown and stored once).
        entries = stored(visitor, website.assistant.rasa_url)["entries"]
        staff_texts = [e["text"] for e in entries if e["who"] == "staff"]
        assert sorted(staff_texts) == sorted([texts.JOINED.format(name="Aiko Tanaka"), hello, XSS])
        assert len({e["id"] for e in entries}) == len(entries)
        assert set(h.delivery_states(ticket.id, url=db_url).values()) == {"delivered"}
        assert visitor_probe.dialogs == [] and console_probe.dialogs == []
        assert visitor_probe.errors == [] and console_probe.errors == []
    finally:
        visitor_context.close()
        console_context.close()


def test_cancelling_the_wait_in_the_widget_closes_the_ticket_live(browser, website: WebSite):
    db_url = website.assistant.env["DATABASE_URL"]
    staff = make_staff(db_url, "Ben Martin")
    console_context, console, _ = open_page(browser)
    visitor_context, visitor, visitor_probe = open_page(browser)
    try:
        login(console, website.url, staff)
        console.evaluate("window.khSamePage = true")
        open_widget(visitor, website.url)
        waiting = ask(visitor, "can I speak to a human please")
        expect(waiting).to_contain_text(WAITING)
        session = stored(visitor, website.assistant.rasa_url)["session"]
        ticket = h.current_ticket(session, url=db_url)
        assert ticket is not None and ticket.status == "waiting"
        expect(console.locator("#waiting tbody tr").filter(has_text=f"#{ticket.id}")).to_be_visible()

        before = bot_messages(visitor).count()
        waiting.get_by_role("button", name=CANCEL_TITLE).click()
        expect(visitor.locator(".kh-log .kh-user .kh-text").last).to_have_text(CANCEL_TITLE)
        expect(bot_messages(visitor).nth(before).locator(".kh-text")).to_have_text(texts.CANCELLED)

        # The console moves it from "Waiting" to "Recently closed" by itself.
        closed = console.locator("#closed tbody tr").filter(has_text=f"#{ticket.id}")
        expect(closed).to_be_visible()
        expect(closed.locator("td").last).to_have_text("user")
        expect(console.locator("#waiting tbody tr").filter(has_text=f"#{ticket.id}")).to_have_count(0)
        assert console.evaluate("window.khSamePage === true")
        after = h.get_ticket(ticket.id, url=db_url)
        assert after.status == "closed" and after.closed_by == "user" and not after.assistant_paused

        # The assistant is back.
        expect(ask(visitor, "cosmetics clusters in japan")).to_contain_text("Japan Cosmetic Centre", timeout=WAIT_MS)
        assert_quiet(visitor)
        assert visitor_probe.errors == []
    finally:
        visitor_context.close()
        console_context.close()


# --------------------------------------------------------------------------- restarts


@dataclass
class Stack:
    """An assistant of this module's own (action server, Rasa server, web server), so that its
    processes can be stopped and started without disturbing the other tests' assistant."""

    env: dict[str, str]
    model: Path
    workdir: Path
    action_port: int
    rasa_port: int
    web_port: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def db_url(self) -> str:
        return self.env["DATABASE_URL"]

    def start_actions(self) -> None:
        self.procs["actions"] = start_actions(self.env, self.action_port, self.workdir / "actions.log")
        wait_http(f"http://127.0.0.1:{self.action_port}/health", 120, self.procs["actions"])

    def start_rasa(self) -> None:
        self.procs["rasa"] = start_rasa(
            self.env, self.model, self.rasa_port, self.workdir / "rasa.log", ["--interface", "127.0.0.1"]
        )
        wait_http(f"{self.rasa_url}/webhooks/rest/", START_TIMEOUT_S, self.procs["rasa"])

    def start_web(self) -> None:
        env = dict(self.env, WEB_HOST="127.0.0.1", WEB_PORT=str(self.web_port), KAKEHASHI_PUBLIC_RASA_URL=self.rasa_url)
        log = (self.workdir / "web.log").open("ab")
        self.procs["web"] = subprocess.Popen(
            [PY, "-m", "bot.web"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        wait_http(f"{self.web_url}/healthz", 60, self.procs["web"])

    def stop(self, name: str) -> None:
        stop(self.procs.pop(name, None))


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("restarts")
    action_port, rasa_port, web_port = free_port(), free_port(), free_port()
    env = assistant_env(
        DATABASE_URL=f"sqlite:///{work / 'kb.db'}",
        TRACKER_URL=f"sqlite:///{work / 'trackers.db'}",
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        KAKEHASHI_SECRET="restart-secret-" + uuid.uuid4().hex,  # the same across restarts
        KAKEHASHI_ALLOWED_ORIGINS=f"http://127.0.0.1:{web_port}",
        KAKEHASHI_OFFICE_HOURS="always",
    )
    subprocess.run([PY, "-m", "db", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    s = Stack(env, trained_model, work, action_port, rasa_port, web_port)
    try:
        s.start_actions()
        s.start_rasa()
        s.start_web()
        yield s
    finally:
        stop(*s.procs.values())


def test_nothing_is_lost_when_every_process_restarts_mid_handoff(browser, stack: Stack):
    db_url = stack.db_url
    staff = make_staff(db_url, "Chika Mori")
    label = "Helpdesk — Chika Mori"
    joined = texts.JOINED.format(name="Chika Mori")
    offline_1 = "Written while the assistant is down, before a reload."
    offline_2 = "Written after the reload, still down."
    later = "Written after every process restarted."
    reply_down = "Staff reply while the assistant was down (console)."
    reply_db = "Staff reply while the assistant was down (queued directly)."
    reply_web = "Staff reply after the web server restarted."
    console_context, console, console_probe = open_page(browser)
    visitor_context, visitor, visitor_probe = open_page(browser)
    try:
        # A visitor in a handoff, claimed by staff, who have the ticket open in the console.
        open_widget(visitor, stack.web_url)
        expect(ask(visitor, ASK_PERSON)).to_contain_text(WAITING)
        session = stored(visitor, stack.rasa_url)["session"]
        ticket = h.current_ticket(session, url=db_url)
        assert ticket is not None and ticket.status == "waiting"
        assert h.claim(ticket.id, staff, joined, url=db_url)
        expect(staff_messages(visitor, joined)).to_have_count(1)
        expect(staff_messages(visitor, joined).locator(".kh-from")).to_have_text(label)
        bots = bot_messages(visitor).count()
        login(console, stack.web_url, staff)
        console.goto(f"{stack.web_url}/helpdesk/tickets/{ticket.id}")
        expect(console.locator("#t-claimed")).to_have_text("Chika Mori (you)")

        # 1. The Rasa server (the socket.io endpoint) goes away; the visitor writes and reloads.
        stack.stop("rasa")
        expect(visitor.locator(".kh-status")).to_have_text(OFFLINE)
        assert not visitor.evaluate("KakehashiWidget.connected()")
        write(visitor, offline_1)
        assert stored(visitor, stack.rasa_url)["pending"] == [offline_1]
        visitor.reload()
        expect(visitor.get_by_role("log")).to_contain_text(offline_1)
        expect(visitor.locator(".kh-status")).to_have_text(OFFLINE)
        write(visitor, offline_2)
        assert stored(visitor, stack.rasa_url)["pending"] == [offline_1, offline_2]

        # Staff reply meanwhile: from the console (still up) and straight into the database.
        staff_reply(console, reply_down)
        sending = console.locator("#messages li.msg.staff").filter(has_text=reply_down).locator(".delivery")
        expect(sending).to_have_text("sending…")
        h.add_staff_message(ticket.id, staff, reply_db, url=db_url)

        # 2. Rasa is back: the widget reconnects by itself and sends what was typed; the replies arrive.
        stack.start_rasa()
        visitor.wait_for_function("() => KakehashiWidget.connected()", timeout=WAIT_MS)
        expect(console_user_messages(console, offline_1)).to_have_count(1)
        expect(console_user_messages(console, offline_2)).to_have_count(1)
        for text in (reply_down, reply_db):
            expect(staff_messages(visitor, text)).to_have_count(1)
            expect(staff_messages(visitor, text).locator(".kh-from")).to_have_text(label)
        expect(sending).to_have_text("delivered")
        assert stored(visitor, stack.rasa_url)["pending"] == []

        # 3. The web server (console and widget files) restarts: the staff session still works.
        stack.stop("web")
        stack.start_web()
        console.reload()
        assert console.url.endswith(f"/helpdesk/tickets/{ticket.id}")  # not sent to the login page
        expect(console.locator("#t-claimed")).to_have_text("Chika Mori (you)")
        expect(console_user_messages(console, offline_2)).to_have_count(1)
        staff_reply(console, reply_web)
        expect(staff_messages(visitor, reply_web)).to_have_count(1)
        visitor.reload()  # the widget from the restarted server: the same conversation
        expect(visitor.get_by_role("log")).to_contain_text(reply_web)
        visitor.wait_for_function("() => KakehashiWidget.connected()", timeout=WAIT_MS)

        # 4. The action server restarts too; the visitor writes again, still to the helpdesk.
        stack.stop("actions")
        stack.start_actions()
        write(visitor, later)
        expect(console_user_messages(console, later)).to_have_count(1)
        expect(bot_messages(visitor)).to_have_count(bots)  # the assistant said nothing meanwhile
        assert_quiet(visitor)

        # 5. Hand back: the assistant answers again, through the restarted action server.
        console.get_by_role("button", name="Hand back to the assistant").click()
        expect(bot_messages(visitor)).to_have_count(bots + 1)
        expect(bot_messages(visitor).last).to_contain_text("You're back with Kakehashi")
        expect(ask(visitor, PARTNERS)).to_contain_text("bioXclusters plus", timeout=WAIT_MS)
        assert_quiet(visitor)

        # Every user message is on the ticket exactly once; every staff message reached the widget once.
        detail = h.ticket_detail(ticket.id, url=db_url)
        users = texts_of(detail, "user")
        assert [users.count(t) for t in (offline_1, offline_2, later)] == [1, 1, 1], users
        assert assistant_lines_after_handoff(detail) == [texts.HANDED_BACK]
        staff_sent = [joined, reply_down, reply_db, reply_web]
        assert sorted(texts_of(detail, "staff")) == sorted(staff_sent)
        for text in staff_sent:
            expect(staff_messages(visitor, text)).to_have_count(1)
        entries = stored(visitor, stack.rasa_url)["entries"]
        assert sorted(e["text"] for e in entries if e["who"] == "staff") == sorted(staff_sent)
        assert [e["text"] for e in entries if e["who"] == "user"].count(offline_1) == 1
        assert len({e["id"] for e in entries}) == len(entries)
        wait_until(
            lambda: set(h.delivery_states(ticket.id, url=db_url).values()) == {"delivered"},
            what="every message to the visitor marked delivered",
        )
        assert visitor_probe.errors == [] and console_probe.errors == []
    finally:
        visitor_context.close()
        console_context.close()
