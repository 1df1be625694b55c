"""The staff console in the real browser (Debian's chromium via Playwright), served by bot/web.py's
application with the console mounted at /helpdesk — the one line web.py will add. Tickets and the
user's messages are written into the database as the channels would; the test checks that staff
see them appear without reloading, claim, reply (into the channel outbox), follow the delivery,
take notes, hand back and close, that a second staff member sees the claim live, and that
hostile text stays text."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.launch import PY, free_port, stop, wait_http
from db import channel_state as cs
from db import handoff as h
from tests.fixtures_bot import ROOT
from tests.fixtures_db import prepare, sqlite_url
from tests.fixtures_web import browser_available, open_page

pytestmark = pytest.mark.skipif(not browser_available(), reason="chromium is not installed (make browser)")

PASSWORD = "correct horse battery staple"
EVIL = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
SERVE = (
    "from aiohttp import web\n"
    "from bot import settings, web as site\n"
    "from bot.helpdesk.app import make_helpdesk_app\n"
    "app = site.make_app()\n"
    "app.add_subapp('/helpdesk', make_helpdesk_app())\n"
    "web.run_app(app, host='127.0.0.1', port=settings.web_port(), print=None)\n"
)


@dataclass
class Console:
    url: str
    db_url: str


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Iterator[Console]:
    db_url = prepare(sqlite_url(tmp_path_factory.mktemp("helpdesk") / "helpdesk.db"), seeded=False)
    h.create_staff("aiko", PASSWORD, "Aiko Tanaka", url=db_url)
    h.create_staff("ben", PASSWORD, "Ben Martin", url=db_url)
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=db_url,
        KAKEHASHI_AUTO_SEED="0",
        KAKEHASHI_SECRET="browser-test-secret",
        KAKEHASHI_OFFICE_HOURS="always",
        WEB_PORT=str(port),
    )
    log = (tmp_path_factory.getbasetemp() / "helpdesk-web.log").open("ab")
    proc = subprocess.Popen([PY, "-c", SERVE], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, proc)
        yield Console(f"http://127.0.0.1:{port}", db_url)
    finally:
        stop(proc, timeout=15)


def web_ticket(db_url: str, text: str, **kwargs) -> h.Ticket:
    cid = uuid.uuid4().hex + "." + "c" * 24
    return h.open_ticket(
        cid, "socketio", cid, "asked_for_person", [{"sender": "user", "text": text}], url=db_url, **kwargs
    )


def login(page, console: Console, username: str, password: str = PASSWORD) -> None:
    page.goto(console.url + "/helpdesk")
    assert page.url.endswith("/helpdesk/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_wrong_password_is_refused(browser, console):
    context, page, _ = open_page(browser)
    try:
        login(page, console, "aiko", "not the password")
        assert page.get_by_role("alert").inner_text() == "Wrong username or password."
        assert page.url.endswith("/helpdesk/login")
    finally:
        context.close()


def test_a_ticket_round_trip_in_the_console(browser, console):
    context, page, probe = open_page(browser)
    other_context, other, other_probe = open_page(browser)
    try:
        login(page, console, "aiko")
        page.wait_for_url(re.compile(r"/helpdesk$"))
        page.get_by_text("Nobody is waiting.").wait_for()

        # A user asks for a person while the queue is open: it appears without reloading.
        t = web_ticket(console.db_url, EVIL, display_name=EVIL, profile={"profile_sector": "Cosmetics"})
        row = page.locator("#waiting tbody tr", has_text=f"#{t.id}")
        row.wait_for()
        assert "Sector: Cosmetics" in row.inner_text() and EVIL in row.inner_text()  # shown as text

        # Ben watches the same ticket from his own browser.
        login(other, console, "ben")
        other.wait_for_url(re.compile(r"/helpdesk$"))
        other.goto(f"{console.url}/helpdesk/tickets/{t.id}")
        other.locator("#b-claim").wait_for(state="visible")

        row.get_by_role("button", name="Claim").click()
        page.wait_for_url(re.compile(rf"/helpdesk/tickets/{t.id}$"))
        page.locator("#t-claimed", has_text="Aiko Tanaka (you)").wait_for()
        user_line = page.locator("#messages li.msg.user").first
        assert user_line.locator(".text").inner_text() == EVIL
        page.locator("#messages li.msg.staff", has_text="has joined the conversation").wait_for()

        # Ben sees the claim without reloading, and cannot reply.
        other.locator("#t-claimed", has_text="Aiko Tanaka").wait_for()
        assert other.locator("#b-claim").is_hidden()
        assert other.locator("#reply").is_disabled()

        page.get_by_label("Reply to the user").fill("Hello! I'm Aiko. <b>How can I help?</b>")
        page.get_by_role("button", name="Send").click()
        sent = page.locator("#messages li.msg.staff", has_text="Hello! I'm Aiko.")
        sent.wait_for()
        assert sent.locator(".text").inner_text() == "Hello! I'm Aiko. <b>How can I help?</b>"
        outbox = [m for m in cs.outbound_due("socketio", 50, url=console.db_url) if m.recipient == t.recipient]
        assert outbox[-1].text == "Hello! I'm Aiko. <b>How can I help?</b>"
        assert outbox[-1].sender_label == "Helpdesk — Aiko Tanaka"
        cs.mark_delivered(outbox[-1].id, url=console.db_url)  # the channel delivered it
        sent.locator(".delivery", has_text="delivered").wait_for()

        h.add_user_message(t.conversation_id, "My email is anna@example.org", url=console.db_url)
        page.locator("#messages li.msg.user", has_text="anna@example.org").wait_for()  # live

        page.get_by_label("Add a note (staff only)").fill("Follow up by email")
        page.get_by_role("button", name="Add note").click()
        page.locator("#notes li", has_text="Follow up by email").wait_for()

        page.get_by_role("button", name="Hand back to the assistant").click()
        page.locator("#t-holding", has_text="answering the user").wait_for()
        assert h.active_ticket(t.conversation_id, url=console.db_url) is None
        page.get_by_role("button", name="Close ticket").click()
        page.locator("#t-status", has_text="closed").wait_for()
        assert h.get_ticket(t.id, url=console.db_url).status == "closed"

        assert probe.dialogs == [] and other_probe.dialogs == []  # no script from the text ran
        assert probe.errors == [] and other_probe.errors == []
    finally:
        other_context.close()
        context.close()


def test_logging_out_ends_the_session(browser, console):
    context, page, _ = open_page(browser)
    try:
        login(page, console, "ben")
        page.wait_for_url(re.compile(r"/helpdesk$"))
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(re.compile(r"/helpdesk/login$"))
        page.goto(console.url + "/helpdesk")
        assert page.url.endswith("/helpdesk/login")
    finally:
        context.close()
