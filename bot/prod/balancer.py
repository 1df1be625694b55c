"""The balancer: our own small reverse proxy in front of N Rasa instances.

Public paths only:
- POST /webhooks/rest/webhook: round robin over the instances that are up; a refused connection
  marks the instance down and the request goes to the next one (it never reached Rasa).
- /socket.io/: sticky. A new engine.io session (no `sid`) goes round robin; the balancer reads the
  `sid` from the handshake answer and sends every later request of that session (long-polling and
  the websocket upgrade, proxied both ways) to the same instance. A `sid` it does not know, or whose
  instance is down, gets engine.io's own "Session ID unknown" (400), on which the client reconnects
  and starts a new session elsewhere — the conversation continues: its id is signed with the shared
  KAKEHASHI_SECRET and its tracker is in PostgreSQL.
- GET /healthz (the balancer lives) and GET /readyz (at least one instance is up: 200, else 503).

Anything else is Rasa's HTTP API: forwarded (round robin) only with the API token, as
`Authorization: Bearer <RASA_AUTH_TOKEN>` or `?token=`; without it the answer is 404, as if there
were no API. Replacing or training the model over the API is refused even with the token: instances
run the model they were deployed with (models/), all the same one.

Instances are checked every BALANCER_HEALTH_INTERVAL seconds (GET BALANCER_HEALTH_PATH): a refused
connection marks one down at once, two failed checks in a row otherwise; one good check brings it
back. With none up, every request gets a 503 JSON saying the assistant is temporarily unavailable.

Usage: python -m bot.prod.balancer --port 8000 --upstream http://127.0.0.1:5005 --upstream http://127.0.0.1:5006
Environment: BALANCER_HOST (127.0.0.1), BALANCER_PORT (8000), BALANCER_UPSTREAMS (comma-separated),
RASA_AUTH_TOKEN, BALANCER_MAX_BODY (bytes, 65536), BALANCER_HEALTH_INTERVAL (s, 2),
BALANCER_UPSTREAM_TIMEOUT (s, 60), BALANCER_HEALTH_PATH (/webhooks/rest/).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import itertools
import json
import logging
import os
import re
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass

import aiohttp
from aiohttp import WSMsgType, web
from yarl import URL

logger = logging.getLogger("kakehashi.balancer")

REST_PATH = "/webhooks/rest/webhook"
SOCKETIO_PATH = "/socket.io"
HEALTH_PATH = "/webhooks/rest/"
UNAVAILABLE = "The assistant is temporarily unavailable. Your conversation is kept: please try again in a minute."
INTERRUPTED = "The assistant was interrupted while answering. Please send your message again."
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
SID_RE = re.compile(rb'"sid"\s*:\s*"([^"]{1,128})"')
MAX_SESSIONS = 100_000
SESSION_IDLE_S = 3600.0


@dataclass
class Upstream:
    """One Rasa instance and what the balancer knows about it."""

    url: str
    up: bool = False
    failed_checks: int = 0


class Balancer:
    """Routing, health checks and proxying; `app()` is the aiohttp application."""

    def __init__(
        self,
        upstreams: list[str],
        token: str = "",
        max_body: int = 65536,
        health_interval: float = 2.0,
        timeout: float = 60.0,
        health_path: str = HEALTH_PATH,
    ) -> None:
        if not upstreams:
            raise ValueError("the balancer needs at least one upstream")
        self.upstreams = [Upstream(u.rstrip("/")) for u in upstreams]
        self.token = token
        self.max_body = max_body
        self.health_interval = health_interval
        self.timeout = timeout
        self.health_path = health_path
        self._turn = itertools.count()
        self._sessions: OrderedDict[str, tuple[Upstream, float]] = OrderedDict()  # engine.io sid → instance
        self._client: aiohttp.ClientSession | None = None
        self._checker: asyncio.Task | None = None

    # ------------------------------------------------------------------ application

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _: web.Application) -> None:
        # auto_decompress off: bodies pass through as the instance encoded them.
        self._client = aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
        await self.check_all()
        self._checker = asyncio.create_task(self._check_forever())

    async def _stop(self, _: web.Application) -> None:
        if self._checker is not None:
            self._checker.cancel()
        if self._client is not None:
            await self._client.close()

    async def healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _: web.Request) -> web.Response:
        up = sum(u.up for u in self.upstreams)
        body = {"status": "ready" if up else "unavailable", "instances_up": up, "instances": len(self.upstreams)}
        return web.json_response(body, status=200 if up else 503)

    # ------------------------------------------------------------------ health

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval)
            try:
                await self.check_all()
            except Exception:  # never let the checker die
                logger.exception("health check round failed")

    async def check_all(self) -> None:
        await asyncio.gather(*(self.check(u) for u in self.upstreams))

    async def check(self, upstream: Upstream) -> None:
        assert self._client is not None
        timeout = aiohttp.ClientTimeout(total=max(2.0, self.health_interval * 2), connect=2)
        try:
            async with self._client.get(upstream.url + self.health_path, timeout=timeout) as resp:
                healthy = resp.status == 200
        except aiohttp.ClientConnectorError:
            self.mark_down(upstream, "connection refused")
            return
        except (TimeoutError, aiohttp.ClientError):
            healthy = False
        if healthy:
            if not upstream.up:
                logger.warning("%s is up", upstream.url)
            upstream.up, upstream.failed_checks = True, 0
        else:
            upstream.failed_checks += 1
            if upstream.failed_checks >= 2:
                self.mark_down(upstream, "health check failed twice")

    def mark_down(self, upstream: Upstream, why: str) -> None:
        if upstream.up:
            logger.warning("%s is down: %s", upstream.url, why)
        upstream.up = False

    def candidates(self) -> list[Upstream]:
        """The instances that are up, starting with the next one's turn (round robin). With none
        up, all of them: a refused connection costs nothing and the last check may be stale."""
        up = [u for u in self.upstreams if u.up]
        if not up:
            return list(self.upstreams)
        start = next(self._turn) % len(up)
        return up[start:] + up[:start]

    # ------------------------------------------------------------------ routing

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == REST_PATH:
            return await self.forward(request, self.candidates())
        if path == SOCKETIO_PATH or path.startswith(SOCKETIO_PATH + "/"):
            return await self.socketio(request)
        if not self.authorized(request):
            return web.json_response({"error": "not found"}, status=404)
        if (request.method == "PUT" and path.rstrip("/") == "/model") or path.startswith("/model/train"):
            return web.json_response(
                {"error": "models are deployed with the instances (models/), not replaced over the API"}, status=403
            )
        return await self.forward(request, self.candidates(), api=True)

    def authorized(self, request: web.Request) -> bool:
        if not self.token:
            return False
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else request.query.get("token", "")
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def socketio(self, request: web.Request) -> web.StreamResponse:
        sid = request.query.get("sid")
        if sid:
            upstream = self.session_instance(sid)
            if upstream is None:
                # engine.io's own answer to an unknown session: the client reconnects with a new one.
                return web.json_response({"code": 1, "message": "Session ID unknown"}, status=400)
            targets = [upstream]
        else:
            targets = self.candidates()
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.websocket(request, targets)
        return await self.forward(request, targets, learn_sid=not sid)

    def session_instance(self, sid: str) -> Upstream | None:
        found = self._sessions.get(sid)
        if found is None or not found[0].up:
            self._sessions.pop(sid, None)
            return None
        self.remember(sid, found[0])
        return found[0]

    def remember(self, sid: str, upstream: Upstream) -> None:
        now = time.monotonic()
        self._sessions.pop(sid, None)
        self._sessions[sid] = (upstream, now)
        while self._sessions:  # forget the least recently used beyond the cap, and idle ones
            oldest_sid, (_, seen) = next(iter(self._sessions.items()))
            if len(self._sessions) <= MAX_SESSIONS and now - seen < SESSION_IDLE_S:
                break
            del self._sessions[oldest_sid]

    # ------------------------------------------------------------------ proxying

    def _headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        peer = request.remote or ""
        prior = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
        headers["X-Forwarded-Proto"] = request.scheme
        headers["X-Forwarded-Host"] = request.host
        return headers

    def _target(self, upstream: Upstream, request: web.Request, api: bool) -> str:
        if not api:
            return upstream.url + request.path_qs
        query = dict(request.query)
        query["token"] = self.token  # Rasa reads its token from the query only
        return str(URL(upstream.url + request.path).with_query(query))

    async def forward(
        self, request: web.Request, targets: list[Upstream], api: bool = False, learn_sid: bool = False
    ) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > self.max_body:
            return too_large(self.max_body)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return too_large(self.max_body)
        headers = self._headers(request)
        if api:
            headers.pop("Authorization", None)
        if learn_sid:
            headers["Accept-Encoding"] = "identity"  # the handshake is read for its sid
        assert self._client is not None
        timeout = aiohttp.ClientTimeout(total=self.timeout, connect=5)
        for upstream in targets:
            try:
                async with self._client.request(
                    request.method,
                    self._target(upstream, request, api),
                    headers=headers,
                    data=body or None,
                    allow_redirects=False,
                    timeout=timeout,
                ) as resp:
                    payload = await resp.read()
                    out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP}
                    status = resp.status
            except aiohttp.ClientConnectorError:
                self.mark_down(upstream, "connection refused")
                continue  # never reached the instance: safe to try the next one
            except TimeoutError:
                logger.warning("%s did not answer %s in %.0f s", upstream.url, request.path, self.timeout)
                return unavailable(504, INTERRUPTED)
            except aiohttp.ClientError as exc:
                # It may have handled the request: do not send it twice.
                logger.warning("%s failed during %s: %s", upstream.url, request.path, exc)
                return unavailable(502, INTERRUPTED)
            if not upstream.up and status < 500:
                upstream.up, upstream.failed_checks = True, 0
            if learn_sid and status == 200:
                match = SID_RE.search(payload)
                if match:
                    self.remember(match.group(1).decode(), upstream)
            out_headers["X-Kakehashi-Instance"] = str(self.upstreams.index(upstream))  # for logs and tests
            return web.Response(status=status, body=payload, headers=out_headers)
        return unavailable(503, UNAVAILABLE)

    async def websocket(self, request: web.Request, targets: list[Upstream]) -> web.StreamResponse:
        assert self._client is not None
        headers = {
            k: v
            for k, v in self._headers(request).items()
            if not k.lower().startswith("sec-websocket") or k.lower() == "sec-websocket-protocol"
        }
        for upstream in targets:
            try:
                inner = await self._client.ws_connect(
                    upstream.url + request.path_qs,
                    headers=headers,
                    max_msg_size=self.max_body,
                    timeout=5.0,
                )
            except aiohttp.ClientConnectorError:
                self.mark_down(upstream, "connection refused")
                continue
            except aiohttp.WSServerHandshakeError as exc:
                # e.g. 400 for an origin the instance refuses: pass the refusal on.
                return web.json_response({"error": "websocket refused", "status": exc.status}, status=exc.status)
            except (TimeoutError, aiohttp.ClientError):
                return unavailable(502, INTERRUPTED)
            outer = web.WebSocketResponse(max_msg_size=self.max_body, autoping=True)
            await outer.prepare(request)
            try:
                await pump_both(outer, inner)
            finally:
                await inner.close()
                await outer.close()
            return outer
        return unavailable(503, UNAVAILABLE)


async def _pump(src: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, dst) -> None:
    async for msg in src:
        if msg.type == WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        else:  # close, error
            break


async def pump_both(outer: web.WebSocketResponse, inner: aiohttp.ClientWebSocketResponse) -> None:
    """Relay frames both ways until either side closes."""
    tasks = [asyncio.ensure_future(_pump(outer, inner)), asyncio.ensure_future(_pump(inner, outer))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def unavailable(status: int, message: str) -> web.Response:
    """The clear answer when no instance can take the request (JSON, never an HTML error page)."""
    body = {"error": "unavailable" if status == 503 else "interrupted", "message": message}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers={"Retry-After": "5"}
    )


def too_large(limit: int) -> web.Response:
    return web.json_response({"error": f"request body larger than {limit} bytes"}, status=413)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.prod.balancer", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=os.environ.get("BALANCER_HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BALANCER_PORT") or 8000))
    parser.add_argument("--upstream", action="append", help="a Rasa instance's URL (repeat); or BALANCER_UPSTREAMS")
    args = parser.parse_args(argv)
    upstreams = args.upstream or [u.strip() for u in os.environ.get("BALANCER_UPSTREAMS", "").split(",") if u.strip()]
    if not upstreams:
        print("The balancer needs upstreams: --upstream URL (repeat) or BALANCER_UPSTREAMS", file=sys.stderr)
        return 2
    token = os.environ.get("RASA_AUTH_TOKEN", "").strip()
    if not token:
        logger.warning("RASA_AUTH_TOKEN is not set: the Rasa API is not reachable through the balancer")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    balancer = Balancer(
        upstreams,
        token=token,
        max_body=int(os.environ.get("BALANCER_MAX_BODY") or 65536),
        health_interval=float(os.environ.get("BALANCER_HEALTH_INTERVAL") or 2),
        timeout=float(os.environ.get("BALANCER_UPSTREAM_TIMEOUT") or 60),
        health_path=os.environ.get("BALANCER_HEALTH_PATH") or HEALTH_PATH,
    )
    web.run_app(balancer.app(), host=args.host, port=args.port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
