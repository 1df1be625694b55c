"""The web widget over real HTTP and socket.io against the real assistant, without a browser:
what the web server serves, which origins the assistant accepts, that sessions are the server's
to issue, and the per-conversation rate limit."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import subprocess
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import socketio

from bot.channels import TOO_FAST
from bot.web import STATIC, WIDGET
from tests.fixtures_bot import PY, ROOT, free_port, new_sender, wait_http
from tests.fixtures_web import WebSite

pytestmark = pytest.mark.slow
EVIL = "http://evil.example"
SESSION = re.compile(r"^[0-9a-f]{32}\.[0-9a-f]{24}$")
BUDGET_GZ = 50 * 1024


def get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def post_rest(rasa_url: str, body: dict, origin: str | None = None) -> tuple[int, object]:
    headers = {"Content-Type": "application/json"}
    if origin:
        headers["Origin"] = origin
    req = urllib.request.Request(f"{rasa_url}/webhooks/rest/webhook", data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=90) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


# ---- what the web server serves ----------------------------------------------------------------


def test_widget_script_and_stylesheet_are_served_with_type_and_caching(website: WebSite):
    status, headers, body = get(f"{website.url}/widget/kakehashi-widget.js", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Type"].startswith("application/javascript")
    assert headers["Content-Encoding"] == "gzip"
    assert "max-age" in headers["Cache-Control"] and headers["ETag"]
    script = gzip.decompress(body).decode()
    assert "Socket.IO v4" in script, "the vendored client, license header kept"
    assert json.dumps(website.assistant.rasa_url) in script, "the assistant's public URL is the default"
    status, _, _ = get(f"{website.url}/widget/kakehashi-widget.js", {"If-None-Match": headers["ETag"]})
    assert status == 304
    status, headers, _ = get(f"{website.url}/widget/kakehashi-widget.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert get(f"{website.url}/widget/nothing.js")[0] == 404


def test_widget_fits_the_size_budget(website: WebSite):
    js = get(f"{website.url}/widget/kakehashi-widget.js", {"Accept-Encoding": "gzip"})[2]
    css = get(f"{website.url}/widget/kakehashi-widget.css", {"Accept-Encoding": "gzip"})[2]
    served = len(js) + len(css)
    # Also measured from the files themselves, at the strongest level, so the figure is reproducible.
    files = sum(
        len(gzip.compress(p.read_bytes(), 9))
        for p in (
            WIDGET / "vendor" / "socket.io.min.js",
            WIDGET / "kakehashi-widget.js",
            WIDGET / "kakehashi-widget.css",
        )
    )
    print(f"\nwidget JS+CSS gzipped: served {served / 1024:.1f} KB, files {files / 1024:.1f} KB (budget 50 KB)")
    assert served <= BUDGET_GZ
    assert files <= BUDGET_GZ


def test_demo_page_embeds_the_widget_with_one_script_tag(website: WebSite):
    status, headers, body = get(f"{website.url}/")
    page = body.decode()
    assert status == 200
    tags = re.findall(r"<script\b[^>]*>", page)
    assert len(tags) == 1 and 'src="/widget/kakehashi-widget.js"' in tags[0]
    assert 'data-site-cluster="Osaka Bio Headquarters"' in tags[0]
    assert "script-src 'self'" in headers["Content-Security-Policy"], "the widget works under a strict CSP"
    embed = get(f"{website.url}/embed")[2].decode()
    for attribute in (
        "data-title",
        "data-greeting",
        "data-language",
        "data-primary-color",
        "data-assistant-url",
        "data-site-cluster",
        "data-position",
    ):
        assert attribute in embed
    assert "KAKEHASHI_ALLOWED_ORIGINS" in embed
    assert (STATIC / "embed.html").exists()


# ---- origins -----------------------------------------------------------------------------------


def test_rest_refuses_a_web_page_from_another_origin(website: WebSite):
    rasa = website.assistant.rasa_url
    status, body = post_rest(rasa, {"sender": new_sender(), "message": "hello"}, origin=EVIL)
    assert status == 403 and "origin" in body["error"]
    status, body = post_rest(rasa, {"sender": new_sender(), "message": "hello"}, origin=website.url)
    assert status == 200 and body and body[0]["text"]
    status, body = post_rest(rasa, {"sender": new_sender(), "message": "hello"})
    assert status == 200 and body, "server-side clients (no Origin) are served"


def test_socketio_refuses_another_origin_on_both_transports(website: WebSite):
    rasa = website.assistant.rasa_url
    handshake = f"{rasa}/socket.io/?EIO=4&transport=polling"
    status, _, body = get(handshake, {"Origin": EVIL})
    assert status == 400 and b"not an accepted origin" in body
    status, headers, _ = get(handshake, {"Origin": website.url})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == website.url

    async def connect(origin: str, transport: str) -> bool:
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(rasa, headers={"Origin": origin}, transports=[transport], wait_timeout=20)
            return client.connected
        except socketio.exceptions.ConnectionError:
            return False
        finally:
            await client.disconnect()

    assert not asyncio.run(connect(EVIL, "websocket"))
    assert not asyncio.run(connect(EVIL, "polling"))
    assert asyncio.run(connect(website.url, "websocket"))


# ---- sessions ----------------------------------------------------------------------------------


class WidgetClient:
    """A socket.io client speaking the widget's protocol."""

    def __init__(self, url: str, origin: str) -> None:
        self.url, self.origin = url, origin
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue = asyncio.Queue()
        for name in ("session_confirm", "bot_uttered", "kakehashi_error"):
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str):  # type: ignore[no-untyped-def]
        async def record(data):  # type: ignore[no-untyped-def]
            await self.events.put((name, data))

        return record

    async def __aenter__(self) -> WidgetClient:
        await self.sio.connect(self.url, headers={"Origin": self.origin}, transports=["websocket"], wait_timeout=20)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.sio.disconnect()

    async def next(self, name: str, timeout: float = 90) -> object:
        while True:
            event, data = await asyncio.wait_for(self.events.get(), timeout)
            if event == name:
                return data

    async def session(self, wanted: str | None) -> str:
        await self.sio.emit("session_request", {"session_id": wanted})
        return await self.next("session_confirm")

    async def say(self, session: str, text: str) -> None:
        await self.sio.emit("user_uttered", {"session_id": session, "message": text})


def test_a_session_id_made_up_by_the_client_is_replaced(website: WebSite):
    async def scenario() -> None:
        async with WidgetClient(website.assistant.rasa_url, website.url) as a:
            issued = await a.session("my-own-session")
            assert SESSION.match(issued) and issued != "my-own-session"
            assert await a.session(issued) == issued, "a server-issued session is kept"
            uid = issued.split(".")[0]
            forged = await a.session(f"{uid}.{'0' * 24}")
            assert forged != issued, "a guessed signature does not open someone's conversation"

    asyncio.run(scenario())


def test_a_session_cannot_write_to_or_read_another_conversation(website: WebSite):
    async def scenario() -> None:
        async with (
            WidgetClient(website.assistant.rasa_url, website.url) as alice,
            WidgetClient(website.assistant.rasa_url, website.url) as mallory,
        ):
            session = await alice.session(None)
            await mallory.session(None)
            # Mallory knows Alice's conversation id but not its signature.
            await mallory.say(f"{session.split('.')[0]}.{'f' * 24}", "hello")
            assert "unknown session" in (await mallory.next("kakehashi_error"))["error"]
            await alice.say(session, "hello")
            assert (await alice.next("bot_uttered"))["text"]
            await asyncio.sleep(0.5)
            seen = [mallory.events.get_nowait()[0] for _ in range(mallory.events.qsize())]
            assert "bot_uttered" not in seen, "replies go to the conversation's own connections only"
        # Nor over REST, which would let anyone name a conversation.
        status, _ = post_rest(website.assistant.rasa_url, {"sender": session, "message": "hello"})
        assert status == 403

    asyncio.run(scenario())


# ---- rate limit ----------------------------------------------------------------------------------


def test_rest_rate_limit_answers_politely_without_processing(website: WebSite):
    sender = new_sender()
    with ThreadPoolExecutor(max_workers=16) as pool:  # 16 messages at once: the burst is 10
        replies = list(
            pool.map(lambda _: post_rest(website.assistant.rasa_url, {"sender": sender, "message": "hi"}), range(16))
        )
    assert all(status == 200 for status, _ in replies)
    texts = [body[0]["text"] for _, body in replies]
    assert texts.count(TOO_FAST) >= 1
    assert len(texts) - texts.count(TOO_FAST) >= 10, "the first ten are answered"
    assert post_rest(website.assistant.rasa_url, {"sender": new_sender(), "message": "hi"})[1][0]["text"] != TOO_FAST


def test_socketio_rate_limit(website: WebSite):
    async def scenario() -> list[str]:
        async with WidgetClient(website.assistant.rasa_url, website.url) as client:
            session = await client.session(None)
            for _ in range(16):
                await client.say(session, "hi")
            texts = []
            while TOO_FAST not in texts:
                texts.append((await client.next("bot_uttered")).get("text"))
            return texts

    assert TOO_FAST in asyncio.run(scenario())


CORS_APP = """
import sys
from sanic import Sanic
from rasa.server import configure_cors
from bot.channels import SafeSocketIOInput

port, origin = int(sys.argv[1]), sys.argv[2]
app = Sanic("cors_check")
configure_cors(app, [origin])  # what `rasa run --cors <origin>` (make run) does


async def ignore(message):
    pass


channel = SafeSocketIOInput.from_credentials({"session_persistence": True})
app.blueprint(channel.blueprint(ignore), url_prefix="/webhooks/socketio")
app.run(host="127.0.0.1", port=port, access_log=False)
"""


def test_socketio_sends_one_cors_header_under_rasa_cors(tmp_path):
    """`make run` starts Rasa with --cors: Sanic-CORS must not add a second
    Access-Control-Allow-Origin to socket.io's own (browsers refuse a doubled header)."""
    port, origin = free_port(), "http://127.0.0.1:9"
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "KAKEHASHI_ALLOWED_ORIGINS": origin,
        "KAKEHASHI_SECRET": "x",
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    log = (tmp_path / "app.log").open("wb")
    proc = subprocess.Popen([PY, "-c", CORS_APP, str(port), origin], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        wait_http(f"http://127.0.0.1:{port}/webhooks/socketio/", 120, proc)
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.headers.get_all("Access-Control-Allow-Origin") == [origin]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
