"""The staff console over real HTTP (aiohttp's test server on loopback), mounted at /helpdesk in a
parent application the way bot/web.py mounts it: login, no write without a session and its CSRF
token, wrong passwords refused and throttled, cookie flags, text never served as HTML, the whole
ticket round trip into the channel outbox, and two staff racing for one ticket."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.helpdesk import app as console
from db import channel_state as cs
from db import handoff as h
from tests.fixtures_db import prepare, sqlite_url

PASSWORD = "correct horse battery staple"
ACTIONS = ["claim", "release", "reply", "note", "handback", "close"]
STATIC = Path(console.__file__).resolve().parent / "static"


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("KAKEHASHI_SECRET", "test-secret-for-the-console")
    monkeypatch.setenv("KAKEHASHI_OFFICE_HOURS", "always")
    url = prepare(sqlite_url(tmp_path / "helpdesk.db"), seeded=False)
    h.create_staff("aiko", PASSWORD, "Aiko Tanaka", url=url)
    h.create_staff("ben", PASSWORD, "Ben <b>Bold</b>", url=url)
    return url


def parent_app(db_url: str) -> web.Application:
    root = web.Application()
    root.add_subapp("/helpdesk", console.make_helpdesk_app(db_url))
    return root


@pytest.fixture
async def client(db_url) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(parent_app(db_url), host="127.0.0.1")) as c:
        yield c


@pytest.fixture
async def other(db_url) -> AsyncIterator[TestClient]:
    """A second browser (its own cookies) on another server over the same database."""
    async with TestClient(TestServer(parent_app(db_url), host="127.0.0.1")) as c:
        yield c


def ticket(db_url: str, text: str = "I need a partner in Osaka", **kwargs) -> h.Ticket:
    cid = uuid.uuid4().hex + "." + "b" * 24
    t = h.open_ticket(
        cid, "socketio", cid, "asked_for_person", [{"sender": "user", "text": text}], url=db_url, **kwargs
    )
    return t


async def login_form(client: TestClient) -> str:
    resp = await client.get("/helpdesk/login")
    assert resp.status == 200
    page = await resp.text()
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def login(client: TestClient, username: str = "aiko", password: str = PASSWORD) -> str:
    """Log in; returns the CSRF token of the session (from the queue page)."""
    csrf = await login_form(client)
    resp = await client.post(
        "/helpdesk/login",
        data={"username": username, "password": password, "csrf": csrf},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/helpdesk"
    page = await (await client.get("/helpdesk")).text()
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


async def post(client: TestClient, path: str, csrf: str | None, data: dict | None = None):
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    return await client.post("/helpdesk/api" + path, json=data or {}, headers=headers)


# --------------------------------------------------------------------------- login


async def test_pages_need_a_login_and_the_api_says_401(client, db_url):
    t = ticket(db_url)
    for path in ("/helpdesk", "/helpdesk/", f"/helpdesk/tickets/{t.id}"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/helpdesk/login", path
    for path in ("/helpdesk/api/queue", f"/helpdesk/api/tickets/{t.id}"):
        resp = await client.get(path)
        assert resp.status == 401 and "user" not in await resp.text(), path
    assert (await client.get("/helpdesk/static/console.js")).status == 200
    for path in ("/helpdesk/static/../app.py", "/helpdesk/static/%2e%2e/app.py", "/helpdesk/static/"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status in {303, 403, 404} and "make_helpdesk_app" not in await resp.text(), path


@pytest.mark.parametrize("action", ACTIONS)
async def test_no_write_without_a_session(client, db_url, action):
    t = ticket(db_url)
    csrf = await login_form(client)  # a login-form token is no session
    for token in (None, csrf, "x"):
        resp = await post(client, f"/tickets/{t.id}/{action}", token, {"text": "hi"})
        assert resp.status == 401
    resp = await client.post(f"/helpdesk/api/tickets/{t.id}/{action}", data={"text": "hi", "csrf": csrf})
    assert resp.status == 401
    after = h.get_ticket(t.id, url=db_url)
    assert after.status == "waiting" and h.notes(t.id, url=db_url) == []
    assert (await client.post("/helpdesk/logout", allow_redirects=False)).status == 401


@pytest.mark.parametrize("action", ACTIONS)
async def test_every_write_needs_the_sessions_csrf_token(client, other, db_url, action):
    t = ticket(db_url)
    csrf = await login(client)
    other_csrf = await login(other, "ben")
    for token in (None, "", "0" * 32, other_csrf, csrf + "x"):
        resp = await post(client, f"/tickets/{t.id}/{action}", token, {"text": "hi"})
        assert resp.status == 403, token
        assert "CSRF" in (await resp.json())["error"]
    form = await client.post(f"/helpdesk/api/tickets/{t.id}/{action}", data={"text": "hi", "csrf": other_csrf})
    assert form.status == 403
    assert h.get_ticket(t.id, url=db_url).status == "waiting" and h.notes(t.id, url=db_url) == []


async def test_login_sets_a_strict_httponly_cookie(client, monkeypatch):
    csrf = await login_form(client)
    resp = await client.post(
        "/helpdesk/login", data={"username": "Aiko", "password": PASSWORD, "csrf": csrf}, allow_redirects=False
    )
    assert resp.status == 303
    cookie = resp.cookies[console.SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/helpdesk"
    assert not cookie["secure"]
    assert len(cookie.value) >= 40

    monkeypatch.setenv("KAKEHASHI_COOKIE_SECURE", "1")
    client.session.cookie_jar.clear()
    form = await client.get("/helpdesk/login")
    nonce = form.cookies[console.LOGIN_COOKIE]
    assert nonce["secure"] and nonce["httponly"] and nonce["samesite"] == "Strict"
    csrf = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)
    resp = await client.post(  # the browser would send the Secure cookie back over https
        "/helpdesk/login",
        data={"username": "aiko", "password": PASSWORD, "csrf": csrf},
        headers={"Cookie": f"{console.LOGIN_COOKIE}={nonce.value}"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.cookies[console.SESSION_COOKIE]["secure"]


async def test_wrong_passwords_are_refused_then_throttled(client):
    csrf = await login_form(client)
    for attempt in range(console.MAX_FAILURES):
        resp = await client.post(
            "/helpdesk/login", data={"username": "aiko", "password": f"wrong {attempt}", "csrf": csrf}
        )
        assert resp.status == 401
        assert "Wrong username or password." in await resp.text()
        assert console.SESSION_COOKIE not in resp.cookies
    resp = await client.post("/helpdesk/login", data={"username": "aiko", "password": PASSWORD, "csrf": csrf})
    assert resp.status == 429  # even the right password, until the failures age out
    resp = await client.post("/helpdesk/login", data={"username": "nobody", "password": PASSWORD, "csrf": csrf})
    assert resp.status == 429  # the same address


async def test_the_login_form_needs_its_csrf_token(client):
    await login_form(client)
    for token in ("", "forged"):
        resp = await client.post("/helpdesk/login", data={"username": "aiko", "password": PASSWORD, "csrf": token})
        assert resp.status == 403 and console.SESSION_COOKIE not in resp.cookies


async def test_logout_ends_the_session(client):
    csrf = await login(client)
    assert (await client.get("/helpdesk/api/queue")).status == 200
    resp = await client.post("/helpdesk/logout", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/helpdesk/login"
    assert (await client.get("/helpdesk/api/queue")).status == 401


async def test_a_logged_in_user_is_sent_from_the_login_page_to_the_queue(client):
    await login(client)
    resp = await client.get("/helpdesk/login", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/helpdesk"


# --------------------------------------------------------------------------- the round trip


async def test_claim_reply_note_hand_back_close(client, db_url):
    t = ticket(db_url, profile={"profile_sector": "Biotech", "profile_home": "Lyon"}, display_name="Anna")
    csrf = await login(client)

    queue = await (await client.get("/helpdesk/api/queue")).json()
    mine = next(x for x in queue["tickets"] if x["id"] == t.id)
    assert mine["status"] == "waiting" and mine["profile"] == {"profile_sector": "Biotech", "profile_home": "Lyon"}
    assert mine["last_user_text"] == "I need a partner in Osaka" and mine["holding"] and queue["me"] == "aiko"

    resp = await post(client, f"/tickets/{t.id}/reply", csrf, {"text": "too early"})
    assert resp.status == 409  # claim first
    assert (await post(client, f"/tickets/{t.id}/claim", csrf)).status == 200
    assert (await post(client, f"/tickets/{t.id}/claim", csrf)).status == 409
    for bad in ({}, {"text": "   "}, {"text": 5}, {"text": "x" * (h.MAX_TEXT + 1)}):
        assert (await post(client, f"/tickets/{t.id}/reply", csrf, bad)).status == 400
    resp = await post(client, f"/tickets/{t.id}/reply", csrf, {"text": "Hello Anna, I'm Aiko."})
    assert resp.status == 200 and (await resp.json())["message"]["delivery"] == "queued"
    assert (await post(client, f"/tickets/{t.id}/note", csrf, {"text": "Wants Kansai contacts"})).status == 200

    h.add_user_message(t.conversation_id, "Thank you!", url=db_url)
    detail = await (await client.get(f"/helpdesk/api/tickets/{t.id}")).json()
    texts = [(m["sender"], m["text"]) for m in detail["messages"]]
    assert texts[0] == ("user", "I need a partner in Osaka")
    assert ("staff", "Aiko Tanaka from our helpdesk has joined the conversation.") in texts
    assert texts[-2:] == [("staff", "Hello Anna, I'm Aiko."), ("user", "Thank you!")]
    assert [n["text"] for n in detail["notes"]] == ["Wants Kansai contacts"]
    assert detail["ticket"]["claimed_by"] == "aiko" and detail["ticket"]["deliverable"]
    last = detail["messages"][-1]["id"]
    newer = await (await client.get(f"/helpdesk/api/tickets/{t.id}?after={last}")).json()
    assert newer["messages"] == []

    outbox = [m for m in cs.outbound_due("socketio", 50, url=db_url) if m.recipient == t.recipient]
    assert [(m.sender_label, m.text) for m in outbox][-1] == ("Helpdesk — Aiko Tanaka", "Hello Anna, I'm Aiko.")
    cs.mark_delivered(outbox[-1].id, url=db_url)
    detail = await (await client.get(f"/helpdesk/api/tickets/{t.id}?after={last}")).json()
    reply_id = next(m.id for m in h.messages_since(t.id, url=db_url) if m.text == "Hello Anna, I'm Aiko.")
    assert detail["deliveries"][str(reply_id)] == "delivered"

    assert (await post(client, f"/tickets/{t.id}/handback", csrf)).status == 200
    assert h.active_ticket(t.conversation_id, url=db_url) is None
    assert (await post(client, f"/tickets/{t.id}/handback", csrf)).status == 409
    assert (await post(client, f"/tickets/{t.id}/close", csrf)).status == 200
    assert h.get_ticket(t.id, url=db_url).status == "closed"
    queue = await (await client.get("/helpdesk/api/queue")).json()
    assert next(x for x in queue["tickets"] if x["id"] == t.id)["status"] == "closed"  # recently closed


async def test_two_staff_racing_over_http_one_wins(client, other, db_url):
    a, b = await login(client), await login(other, "ben")
    for _ in range(5):
        t = ticket(db_url, text=f"race {_}")
        first, second = await asyncio.gather(
            post(client, f"/tickets/{t.id}/claim", a), post(other, f"/tickets/{t.id}/claim", b)
        )
        assert sorted([first.status, second.status]) == [200, 409]
        loser = other if first.status == 200 else client
        loser_csrf = b if first.status == 200 else a
        assert (await post(loser, f"/tickets/{t.id}/reply", loser_csrf, {"text": "me too"})).status == 409
        assert (await post(loser, f"/tickets/{t.id}/close", loser_csrf)).status == 409


async def test_release_lets_someone_else_claim(client, other, db_url):
    t = ticket(db_url, text="release me")
    a, b = await login(client), await login(other, "ben")
    assert (await post(client, f"/tickets/{t.id}/claim", a)).status == 200
    assert (await post(other, f"/tickets/{t.id}/release", b)).status == 409
    assert (await post(client, f"/tickets/{t.id}/release", a)).status == 200
    assert (await post(other, f"/tickets/{t.id}/claim", b)).status == 200


# --------------------------------------------------------------------------- text stays text


async def test_text_is_never_served_as_html(client, other, db_url):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    t = ticket(db_url, text=evil, display_name=evil, profile={"profile_sector": evil})
    await login(other, "ben")  # display name "Ben <b>Bold</b>"
    page = await (await other.get("/helpdesk")).text()
    assert "Ben &lt;b&gt;Bold&lt;/b&gt;" in page and "<b>Bold" not in page
    page = await (await other.get(f"/helpdesk/tickets/{t.id}")).text()
    assert "<script>alert" not in page and "onerror" not in page
    resp = await other.get(f"/helpdesk/api/tickets/{t.id}")
    assert resp.content_type == "application/json"
    data = await resp.json()
    assert data["messages"][0]["text"] == evil and data["ticket"]["display_name"] == evil  # as text, for textContent
    js = (STATIC / "console.js").read_text()
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js
    assert "textContent" in js


async def test_pages_carry_a_strict_content_security_policy(client):
    resp = await client.get("/helpdesk/login")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    assert "<script>" not in page and " on" + "click" not in page  # no inline script to allow


async def test_unknown_tickets_and_bad_ids(client):
    csrf = await login(client)
    assert (await client.get("/helpdesk/tickets/999999")).status == 404
    assert (await client.get("/helpdesk/tickets/abc")).status == 404
    assert (await client.get("/helpdesk/api/tickets/999999")).status == 404
    assert (await client.get("/helpdesk/api/tickets/99999999999999")).status == 404
    assert (await post(client, "/tickets/999999/claim", csrf)).status == 409
    assert (await post(client, "/tickets/999999/note", csrf, {"text": "x"})).status == 409
    assert (await post(client, "/tickets/1/delete", csrf)).status in {404, 405}


async def test_the_database_down_is_a_clear_503(monkeypatch):
    monkeypatch.setenv("KAKEHASHI_SECRET", "test-secret-for-the-console")
    down = "postgresql+psycopg2://postgres@127.0.0.1:1/none"
    async with TestClient(TestServer(parent_app(down), host="127.0.0.1")) as c:
        csrf = await login_form(c)
        resp = await c.post("/helpdesk/login", data={"username": "aiko", "password": PASSWORD, "csrf": csrf})
        assert resp.status == 503
        c.session.cookie_jar.update_cookies({console.SESSION_COOKIE: "some-token"})
        assert (await c.get("/helpdesk/api/queue")).status == 503
