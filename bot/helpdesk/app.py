"""The helpdesk console: an aiohttp sub-application that bot/web.py mounts at /helpdesk.

    app.add_subapp("/helpdesk", make_helpdesk_app())

Pages (HTML shells; the browser fills them from the JSON API with textContent, polling every
~2 s so new tickets and messages appear without reloading):

    GET  /helpdesk               the queue              GET  /helpdesk/tickets/{id}   a ticket
    GET  /helpdesk/login         login form             POST /helpdesk/login, /helpdesk/logout
    GET  /helpdesk/api/queue     open tickets           GET  /helpdesk/api/tickets/{id}?after=N
    POST /helpdesk/api/tickets/{id}/{claim|release|reply|note|handback|close}

Security: a session cookie (HttpOnly, SameSite=Strict, Path=/helpdesk; Secure with
KAKEHASHI_COOKIE_SECURE=1) holding a random token whose hash is in the database; every write needs
that session and a CSRF token (the login form: a double-submit token; afterwards an HMAC of the
session token, sent in the X-CSRF-Token header). Failed logins are throttled. Nothing a user or
staff member wrote is ever inserted as HTML.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import html
import json
import logging
import secrets
import time
from collections import defaultdict, deque
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import web

from bot import settings
from bot.helpdesk import hours, texts
from db import handoff
from db.engine import DatabaseUnavailable

logger = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
SESSION_COOKIE = "kakehashi_staff"
LOGIN_COOKIE = "kakehashi_login"
CSRF_HEADER = "X-CSRF-Token"
POLL_MS = 2000
MAX_FAILURES = 5  # failed logins per username (and per address) ...
FAILURE_WINDOW = 15 * 60  # ... within this many seconds, then refused until they age out
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ACTIONS = ("claim", "release", "reply", "note", "handback", "close")
DB_URL = web.AppKey("db_url", str)  # None: the configured database


def _patch_aiohttp_request_url() -> None:
    """aiohttp 3.9 builds `request.url` with URL.build(host=<Host header>), which yarl >= 1.10
    refuses when the header carries a port ("localhost:8080") — and a sub-application's prefix is
    matched against `request.url`, so every request to a mounted sub-app failed with a 500. Build
    it from the authority instead, as aiohttp 3.10 does. A no-op where the bug is absent."""
    from aiohttp import web_request
    from aiohttp.helpers import reify
    from yarl import URL

    try:
        URL.build(scheme="http", host="localhost:8080")
        return  # this yarl accepts it
    except ValueError:
        pass
    if getattr(web_request.BaseRequest, "_kakehashi_url_patched", False):
        return

    def url(self: web_request.BaseRequest) -> URL:
        return URL.build(scheme=self.scheme, authority=self.host).join(self._rel_url)

    web_request.BaseRequest.url = reify(url)  # type: ignore[method-assign,assignment]
    web_request.BaseRequest._kakehashi_url_patched = True  # type: ignore[attr-defined]


def cookie_secure() -> bool:
    return settings.env("KAKEHASHI_COOKIE_SECURE", "0").lower() in {"1", "true", "yes"}


def session_ttl() -> dt.timedelta:
    return dt.timedelta(hours=float(settings.env("KAKEHASHI_STAFF_SESSION_HOURS", "12")))


def _mac(purpose: str, value: str) -> str:
    return hmac.new(settings.secret(), f"{purpose}\x1f{value}".encode(), hashlib.sha256).hexdigest()[:32]


def csrf_for(session_token: str) -> str:
    """The CSRF token of a logged-in session (derived, so nothing more is stored)."""
    return _mac("helpdesk-csrf", session_token)


class Throttle:
    """Failed logins per key (username, address) in a sliding window; in memory, per process."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        times, cutoff = self._failures[key], time.monotonic() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return times

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(k)) >= self.limit for k in keys)

    def fail(self, *keys: str) -> None:
        for key in keys:
            self._recent(key).append(time.monotonic())
        if len(self._failures) > 10_000:  # forget idle keys
            for key in [k for k, v in self._failures.items() if not v]:
                del self._failures[key]

    def clear(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


THROTTLE = web.AppKey("throttle", Throttle)

# --------------------------------------------------------------------------- helpers


def _url(request: web.Request, name: str, **parts: str) -> str:
    return str(request.app.router[name].url_for(**parts))


def _prefix(request: web.Request) -> str:
    return _url(request, "queue").rstrip("/") or "/"


def _render(name: str, **values: str) -> str:
    """A template with every value HTML-escaped."""
    template = Template((TEMPLATES / name).read_text(encoding="utf-8"))
    return template.substitute({k: html.escape(str(v), quote=True) for k, v in values.items()})


def _page(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers={"Cache-Control": "no-store"}, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, dt.datetime) else str(v))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


async def _db(request: web.Request, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """A db/handoff call off the event loop, on the app's database."""
    return await asyncio.to_thread(fn, *args, url=request.app[DB_URL], **kwargs)


async def current_staff(request: web.Request) -> tuple[handoff.Staff | None, str | None]:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None, None
    staff = await _db(request, handoff.staff_for_token, token)
    return (staff, token) if staff else (None, None)


def _set_cookie(resp: web.StreamResponse, request: web.Request, name: str, value: str, max_age: int | None) -> None:
    resp.set_cookie(
        name, value, max_age=max_age, path=_prefix(request), httponly=True, samesite="Strict", secure=cookie_secure()
    )


def ticket_json(ticket: handoff.Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "conversation_id": ticket.conversation_id,
        "channel": ticket.channel,
        "display_name": ticket.display_name,
        "reason": ticket.reason,
        "profile": ticket.profile,
        "status": ticket.status,
        "holding": ticket.assistant_paused,
        "claimed_by": ticket.claimed_by,
        "claimed_by_name": ticket.claimed_by_name,
        "closed_by": ticket.closed_by,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "claimed_at": ticket.claimed_at,
        "closed_at": ticket.closed_at,
        "last_user_text": ticket.last_user_text,
        "last_message_id": ticket.last_message_id,
        "deliverable": ticket.deliverable,
    }


def message_json(message: handoff.TicketMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "sender": message.sender,
        "author": message.author,
        "text": message.text,
        "created_at": message.created_at,
        "delivery": message.delivery,
    }


def note_json(note: handoff.Note) -> dict[str, Any]:
    return {"id": note.id, "author": note.author, "text": note.text, "created_at": note.created_at}


# --------------------------------------------------------------------------- middleware


@web.middleware
async def guard(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Everything but the login page and static files needs a staff session; every write (POST)
    also needs the CSRF token. The database being down is a clear 503, not a stack trace."""
    route = request.match_info.route.name or ""
    try:
        if route in {"login", "login_post", "static"}:
            return await handler(request)
        staff, token = await current_staff(request)
        if staff is None:
            if request.method == "GET" and not route.startswith("api_"):
                raise web.HTTPSeeOther(_url(request, "login"))
            return _error(401, "log in first")
        if request.method not in {"GET", "HEAD"}:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent and request.content_type == "application/x-www-form-urlencoded":
                sent = str((await request.post()).get("csrf", ""))
            if not hmac.compare_digest(sent.encode(), csrf_for(token).encode()):
                return _error(403, "missing or wrong CSRF token; reload the page")
        request["staff"], request["session_token"] = staff, token
        return await handler(request)
    except DatabaseUnavailable:
        logger.warning("helpdesk: database unavailable")
        return _error(503, "the database is unavailable; try again in a moment")


# --------------------------------------------------------------------------- pages


async def login_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    staff, _ = await current_staff(request)
    if staff is not None and request.method == "GET":
        raise web.HTTPSeeOther(_url(request, "queue"))
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    resp = _page(
        _render(
            "login.html",
            base=_prefix(request),
            action=_url(request, "login_post"),
            csrf=_mac("helpdesk-login", nonce),
            error=error,
            error_hidden="" if error else "hidden",
        ),
        status,
    )
    _set_cookie(resp, request, LOGIN_COOKIE, nonce, 3600)
    return resp


async def login_post(request: web.Request) -> web.Response:
    form = await request.post()
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    sent = str(form.get("csrf", ""))
    if not nonce or not hmac.compare_digest(sent.encode(), _mac("helpdesk-login", nonce).encode()):
        return await login_page(request, "Your login form expired — please try again.", 403)
    username = str(form.get("username", "")).strip().lower()[:64]
    password = str(form.get("password", ""))
    throttle = request.app[THROTTLE]
    keys = (f"user:{username}", f"addr:{request.remote}")
    if throttle.blocked(*keys):
        return await login_page(request, "Too many failed attempts — wait a few minutes, then try again.", 429)
    token = await _db(request, handoff.authenticate, username, password, session_ttl())
    if token is None:
        throttle.fail(*keys)
        return await login_page(request, "Wrong username or password.", 401)
    throttle.clear(f"user:{username}")
    resp = web.HTTPSeeOther(_url(request, "queue"))
    _set_cookie(resp, request, SESSION_COOKIE, token, int(session_ttl().total_seconds()))
    resp.del_cookie(LOGIN_COOKIE, path=_prefix(request))
    raise resp


async def logout(request: web.Request) -> web.Response:
    await _db(request, handoff.end_session, request["session_token"])
    resp = web.HTTPSeeOther(_url(request, "login"))
    resp.del_cookie(SESSION_COOKIE, path=_prefix(request))
    raise resp


def _shell(request: web.Request, template: str, **extra: str) -> web.Response:
    staff: handoff.Staff = request["staff"]
    office = hours.office_hours()
    return _page(
        _render(
            template,
            base=_prefix(request),
            csrf=csrf_for(request["session_token"]),
            staff_name=staff.display_name,
            username=staff.username,
            logout=_url(request, "logout"),
            hours=office.describe(),
            open_now="open" if office.is_open(dt.datetime.now(dt.UTC)) else "closed",
            poll_ms=str(POLL_MS),
            **extra,
        )
    )


async def queue_page(request: web.Request) -> web.Response:
    return _shell(request, "queue.html")


async def ticket_page(request: web.Request) -> web.Response:
    ticket_id = _ticket_id(request)
    if await _db(request, handoff.get_ticket, ticket_id) is None:
        raise web.HTTPNotFound(text="no such ticket")
    return _shell(request, "ticket.html", ticket_id=str(ticket_id))


# --------------------------------------------------------------------------- API


def _ticket_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["ticket_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if not 0 < value < 2**31:
        raise web.HTTPNotFound()
    return value


async def api_queue(request: web.Request) -> web.Response:
    tickets = await _db(request, handoff.queue, 20)
    staff: handoff.Staff = request["staff"]
    return _json({"me": staff.username, "tickets": [ticket_json(t) for t in tickets]})


async def api_ticket(request: web.Request) -> web.Response:
    ticket_id = _ticket_id(request)
    try:
        after = max(0, int(request.query.get("after", "0")))
    except ValueError:
        after = 0
    ticket = await _db(request, handoff.get_ticket, ticket_id)
    if ticket is None:
        return _error(404, "no such ticket")
    messages = await _db(request, handoff.messages_since, ticket_id, after)
    notes = await _db(request, handoff.notes, ticket_id)
    # Messages sent earlier change state (queued → delivered | failed): send every state again.
    deliveries = await _db(request, handoff.delivery_states, ticket_id)
    return _json(
        {
            "me": request["staff"].username,
            "ticket": ticket_json(ticket),
            "messages": [message_json(m) for m in messages],
            "deliveries": {str(k): v for k, v in deliveries.items()},
            "notes": [note_json(n) for n in notes],
        }
    )


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return dict(await request.post())


async def api_action(request: web.Request) -> web.Response:
    ticket_id = _ticket_id(request)
    action = request.match_info["action"]
    staff: handoff.Staff = request["staff"]
    body = await _body(request)
    text = body.get("text")
    try:
        if action == "claim":
            ok = await _db(request, handoff.claim, ticket_id, staff, texts.JOINED.format(name=staff.display_name))
            if not ok:
                return _error(409, "someone else has taken this ticket, or it is closed")
        elif action == "release":
            if not await _db(request, handoff.release, ticket_id, staff):
                return _error(409, "you do not hold this ticket")
        elif action == "handback":
            if not await _db(request, handoff.hand_back, ticket_id, staff, texts.HANDED_BACK):
                return _error(409, "you do not hold this conversation")
        elif action == "close":
            if not await _db(request, handoff.close, ticket_id, staff, texts.HANDED_BACK):
                return _error(409, "this ticket is closed already or held by someone else")
        elif action in {"reply", "note"}:
            if not isinstance(text, str) or not text.strip():
                return _error(400, "write something first")
            if len(text) > handoff.MAX_TEXT:
                return _error(400, f"at most {handoff.MAX_TEXT} characters")
            if action == "reply":
                message = await _db(request, handoff.add_staff_message, ticket_id, staff, text)
                return _json({"ok": True, "message": message_json(message)})
            note = await _db(request, handoff.add_note, ticket_id, staff, text)
            return _json({"ok": True, "note": note_json(note)})
        else:
            raise web.HTTPNotFound()
    except handoff.HandoffError as exc:
        return _error(409, str(exc))
    return _json({"ok": True})


# --------------------------------------------------------------------------- app


def make_helpdesk_app(db_url: str | None = None) -> web.Application:
    """The console as a sub-application: `app.add_subapp("/helpdesk", make_helpdesk_app())`.
    `db_url`: the database (default: the configured DATABASE_URL)."""
    _patch_aiohttp_request_url()
    app = web.Application(middlewares=[guard])
    app[DB_URL] = db_url  # type: ignore[assignment]
    app[THROTTLE] = Throttle()
    app.router.add_get("", queue_page, name="queue")
    app.router.add_get("/", queue_page, name="queue_slash")
    app.router.add_get("/login", login_page, name="login")
    app.router.add_post("/login", login_post, name="login_post")
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_get("/tickets/{ticket_id}", ticket_page, name="ticket")
    app.router.add_get("/api/queue", api_queue, name="api_queue")
    app.router.add_get("/api/tickets/{ticket_id}", api_ticket, name="api_ticket")
    app.router.add_post("/api/tickets/{ticket_id}/{action:" + "|".join(ACTIONS) + "}", api_action, name="api_action")
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False, name="static")
    return app


def main() -> None:
    """Run the console on its own (development): python -m bot.helpdesk serve."""
    logging.basicConfig(level=logging.INFO)
    root = web.Application()
    root.add_subapp("/helpdesk", make_helpdesk_app())
    web.run_app(root, host=settings.env("WEB_HOST", "127.0.0.1"), port=settings.web_port())
