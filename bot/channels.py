"""The public channels the Rasa server loads (credentials.yml names them by module path):
REST at /webhooks/rest/webhook and socket.io at /socket.io (the web widget), both screening typed
commands, signing button payloads, limiting each conversation's message rate, accepting only the
configured web origins, and answering with an apology rather than silence.

Each message handled gives one log line and is counted (bot/observability.py); the REST
blueprint also serves this Rasa instance's readiness (/webhooks/rest/ready) and metrics
(/webhooks/rest/metrics, behind KAKEHASHI_METRICS_TOKEN) — docs/observability.md."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot import observability as obs
from bot.guard import RELAY_HEADER, relay_allowed, screen, sign_buttons, typed_command_parse
from bot.settings import secret

logger = logging.getLogger(__name__)
SENDER_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
SESSION_RE = re.compile(r"^[0-9a-f]{32}\.[0-9a-f]{24}$")
NO_REPLY = (
    "Sorry — part of the assistant is temporarily unavailable, so I could not answer that. "
    "Your conversation is kept: please try again in a minute."
)
TOO_FAST = "You're sending messages too fast — please wait a few seconds, then try again."
DEFAULT_ORIGINS = "http://localhost:8080,http://127.0.0.1:8080"
DEFAULT_RATE = "10/10"  # messages / seconds, per conversation


def _patch_sanic_websockets() -> None:
    """Sanic 21.12 hands a bare coroutine to asyncio.wait(), which Python 3.11 refuses; make the
    frame assembler return a Task instead (see shared/rasa-py311/README.md)."""
    from sanic.server.websockets.frame import WebsocketFrameAssembler

    original = WebsocketFrameAssembler.get
    if getattr(original, "_kakehashi_patched", False):
        return

    def get(self, timeout=None):  # type: ignore[no-untyped-def]
        return asyncio.ensure_future(original(self, timeout))

    get._kakehashi_patched = True  # type: ignore[attr-defined]
    WebsocketFrameAssembler.get = get


_patch_sanic_websockets()


def allowed_origins() -> list[str]:
    """The web origins (scheme://host[:port]) allowed to talk to the assistant from a browser;
    "*" allows any. KAKEHASHI_ALLOWED_ORIGINS, comma-separated."""
    raw = os.environ.get("KAKEHASHI_ALLOWED_ORIGINS", DEFAULT_ORIGINS)
    return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    """A request without an Origin header comes from a server-side client (e.g. the Telegram
    bot), not from a web page, and is allowed; a web page only from an allowed origin."""
    if not origin:
        return True
    return "*" in allowed or origin.rstrip("/") in allowed


def rate_limit() -> tuple[int, float] | None:
    """(burst, seconds) from KAKEHASHI_RATE_LIMIT="10/10" (10 messages per 10 s, per
    conversation); "off" or "0" disables the limit."""
    raw = os.environ.get("KAKEHASHI_RATE_LIMIT", DEFAULT_RATE).strip().lower()
    if raw in {"", "0", "off", "none"}:
        return None
    try:
        count, _, seconds = raw.partition("/")
        burst, period = int(count), float(seconds or "1")
    except ValueError:
        logger.warning("KAKEHASHI_RATE_LIMIT=%r is not 'messages/seconds'; using %s", raw, DEFAULT_RATE)
        burst, period = 10, 10.0
    return (burst, period) if burst > 0 and period > 0 else None


class RateLimiter:
    """A token bucket per conversation: up to `burst` messages at once, refilled at
    `burst / period` messages per second. Idle buckets are forgotten beyond `max_keys`."""

    def __init__(
        self, burst: int, period: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.burst, self.rate, self.clock, self.max_keys = float(burst), burst / period, clock, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)

    @classmethod
    def from_env(cls) -> RateLimiter | None:
        limit = rate_limit()
        return cls(*limit) if limit else None

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)  # least recently used
        return allowed


def with_apology(messages: list[dict], sender_id: str) -> list[dict]:
    """Sign every payload; an empty answer becomes an apology (never silence)."""
    if not messages:
        return [{"recipient_id": sender_id, "text": NO_REPLY}]
    return [sign_buttons(m, sender_id) for m in messages]


def _metadata(body: dict) -> dict:
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        return {}
    # Only small, known context keys pass (e.g. the hosting cluster site of the web widget).
    return {k: str(v)[:200] for k, v in meta.items() if k in {"site_cluster", "language", "page", "display_name"}}


async def to_helpdesk(conversation_id: str, text: str, metadata: dict) -> tuple[bool, str | None]:
    """While a person holds the conversation the message goes to the helpdesk ticket and the
    assistant stays silent; returns (taken, reply to send, e.g. after "cancel")."""
    try:
        from bot.helpdesk.relay import route_user_message

        routed = await asyncio.to_thread(
            route_user_message, conversation_id, screen(text, conversation_id), metadata.get("display_name")
        )
    except Exception:
        # The database is down: nothing can be recorded on a ticket, so the assistant answers
        # (it apologises for the knowledge base) rather than swallowing the message.
        logger.exception("helpdesk routing failed for conversation %s", obs.conversation_ref(conversation_id))
        return False, None
    return routed.to_helpdesk, routed.reply


class _Collector(CollectingOutputChannel):
    """Collects the bot's messages for the REST answer, noting which domain responses they came from."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[str] = []

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        if name := obs.response_names(message):
            self.responses.append(name)
        await super().send_response(recipient_id, message)


async def readiness_of(request: Request) -> HTTPResponse:
    """Ready: the model is loaded and the knowledge base answers."""

    def model() -> None:
        agent = getattr(request.app.ctx, "agent", None)
        if agent is None or not agent.is_ready():
            raise RuntimeError("no model loaded")

    status, body = await obs.readiness(model=model, knowledge_base=obs.check_database)
    return response.json(body, status=status, headers={"Cache-Control": "no-store"})


def metrics_of(request: Request) -> HTTPResponse:
    refused = obs.metrics_refusal(request.headers.get("authorization"))
    if refused is not None:
        status, reason = refused
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        return response.json({"error": reason}, status=status, headers=headers)
    return response.text(obs.METRICS.render(), content_type=obs.CONTENT_TYPE, headers={"Cache-Control": "no-store"})


async def ask_assistant(
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    raw: Any,
    output: OutputChannel,
    sender: str,
    channel: str,
    body: dict,
) -> bool:
    """Hand the user's message to Rasa — screened (typed commands inert, a command-only message
    "not understood") — with its answers going to `output`; False when that failed."""
    text = screen(raw, sender)
    message = UserMessage(
        text, output, sender, parse_data=typed_command_parse(text), input_channel=channel, metadata=_metadata(body)
    )
    try:
        await on_new_message(message)
    except Exception:
        # The conversation id can be a credential (web sessions): only its reference is logged.
        logger.exception("%s: a message in conversation %s failed", channel, obs.conversation_ref(sender))
        return False
    return True


class SafeRestInput(InputChannel):
    """REST channel: POST {"sender": id, "message": text} → list of bot messages."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("kakehashi_rest", __name__)
        origins = allowed_origins()
        limiter = RateLimiter.from_env()
        obs.apply_log_format("rasa")  # Rasa set logging up before loading the channels
        obs.keep_level(__name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/ready", methods=["GET"])
        async def ready(request: Request) -> HTTPResponse:
            return await readiness_of(request)

        @bp.route("/metrics", methods=["GET"])
        async def metrics(request: Request) -> HTTPResponse:
            return metrics_of(request)

        def refuse(status: int, error: str) -> HTTPResponse:
            obs.MESSAGES.inc(channel="rest", outcome="refused")
            return response.json({"error": error}, status=status)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            started = time.perf_counter()
            if not origin_allowed(request.headers.get("origin"), origins):
                return refuse(403, "this web origin may not use the assistant")
            try:
                body = request.json
            except Exception:
                body = None
            if not isinstance(body, dict):
                return refuse(400, "expected a JSON object with 'sender' and 'message'")
            sender = body.get("sender")
            if not isinstance(sender, str) or not SENDER_RE.match(sender):
                return refuse(400, "'sender' must be 1-128 characters of A-Z a-z 0-9 _ . : @ -")
            if SESSION_RE.match(sender):
                # Web widget conversations belong to their socket.io session: not reachable over REST.
                return refuse(403, "this conversation belongs to the web widget")
            if not relay_allowed(sender, request.headers.get(RELAY_HEADER)):
                # A Telegram chat's conversation: only the bot (signing with KAKEHASHI_SECRET) speaks for it.
                return refuse(403, "this conversation belongs to the Telegram channel")
            if not isinstance(body.get("message", ""), str):
                return refuse(400, "'message' must be a string")
            channel = obs.channel_label(self.name(), sender)
            if limiter is not None and not limiter.allow(sender):
                obs.record_message(sender, channel, "rate_limited", started, log=logger)
                return response.json([{"recipient_id": sender, "text": TOO_FAST}])
            taken, reply = await to_helpdesk(sender, body.get("message", ""), _metadata(body))
            if taken:
                obs.record_message(sender, channel, "helpdesk", started, log=logger)
                return response.json([{"recipient_id": sender, "text": reply}] if reply else [])
            collector = _Collector()
            failed = not await ask_assistant(
                on_new_message, body.get("message", ""), collector, sender, self.name(), body
            )
            outcome = "failed" if failed or not collector.messages else "answered"
            obs.record_message(sender, channel, outcome, started, collector.responses, log=logger)
            # A failure after some answers were collected (e.g. the tracker could not be saved) is
            # answered with the apology alone: the user must not see replies the conversation lost.
            return response.json(with_apology([] if failed else collector.messages, sender))

        return bp


def widget_message(message: dict[str, Any]) -> dict[str, Any] | None:
    """One bot message as one socket.io event: text, quick replies, custom payload (cards, staff
    marks) and attachment together, so that the widget can render them as one unit. (Rasa's own
    socket.io output splits text at blank lines and sends custom payloads separately — and its
    send_custom_json fails on python-socketio 5.)"""
    out: dict[str, Any] = {}
    if isinstance(message.get("text"), str) and message["text"].strip():
        out["text"] = message["text"]
    buttons = message.get("quick_replies") or message.get("buttons")
    if isinstance(buttons, list) and buttons:
        out["quick_replies"] = [
            {"content_type": "text", "title": str(b.get("title", "")), "payload": b.get("payload", "")}
            for b in buttons
            if isinstance(b, dict)
        ]
    if isinstance(message.get("custom"), dict):
        out["custom"] = message["custom"]
    if message.get("image"):
        out["attachment"] = {"type": "image", "payload": {"src": message["image"]}}
    elif message.get("attachment"):
        out["attachment"] = message["attachment"]
    return out or None


class _SigningSocketIOOutput(SocketIOOutput):
    """socket.io output to a session's room: one event per bot message, button payloads signed
    for that session."""

    def __init__(self, sio: AsyncServer, bot_message_evt: str) -> None:
        super().__init__(sio, bot_message_evt)
        self.sent = 0
        self.responses: list[str] = []  # the domain responses sent (for metrics and the log line)

    async def _send_message(self, socket_id: str, response: Any) -> None:
        self.sent += 1
        if isinstance(response, dict):
            response = sign_buttons(response, socket_id)  # socket_id is the session id (the room)
            # Every tab of the conversation gets the message; the id lets them store it once.
            response.setdefault("id", uuid.uuid4().hex)
        await super()._send_message(socket_id, response)

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        if name := obs.response_names(message):
            self.responses.append(name)
        event = widget_message(message)
        if event is not None:
            await self._send_message(recipient_id, event)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"custom": json_message})


def session_token(session_id: str) -> str:
    return hmac.new(secret(), f"session\x1f{session_id}".encode(), hashlib.sha256).hexdigest()[:24]


def issue_session() -> str:
    """A new session id that only this server could have made: <uuid>.<mac>."""
    sid = uuid.uuid4().hex
    return f"{sid}.{session_token(sid)}"


def valid_session(value: Any) -> bool:
    if not isinstance(value, str) or not SESSION_RE.match(value):
        return False
    sid, mac = value.split(".")
    return hmac.compare_digest(mac, session_token(sid))


class _CorsOwnBlueprint(SocketBlueprint):
    """Attaches socket.io so that only python-socketio answers CORS for it: with `rasa run --cors`,
    Sanic-CORS would add a second Access-Control-Allow-Origin header, which browsers reject."""

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        from sanic_cors.core import SANIC_CORS_EVALUATED

        path = "/" + self.ctx.socketio_path.strip("/")

        async def socketio_answers_cors(request: Request) -> None:
            if request.path.rstrip("/") == path:
                setattr(request.ctx, SANIC_CORS_EVALUATED, "1")

        app.register_middleware(socketio_answers_cors, "request")
        super().register(app, options)


OUTBOX_POLL_S = 1.0


def connected_sessions(sio: AsyncServer, namespace: str) -> list[str]:
    """The web sessions (conversation ids) with a tab connected to this process."""
    rooms = getattr(sio.manager, "rooms", {}).get(namespace, {})
    return [
        room for room, members in list(rooms.items()) if isinstance(room, str) and SESSION_RE.match(room) and members
    ]


async def deliver_outbox(sio: AsyncServer, event: str, namespace: str) -> None:
    """Deliver queued messages for web conversations (e.g. helpdesk replies) to the session's
    room; a message waits while no tab of that session is connected."""
    from db import channel_state
    from db.handoff import STAFF_LABEL_PREFIX

    while True:
        await asyncio.sleep(OUTBOX_POLL_S)
        try:
            here = connected_sessions(sio, namespace)
            if not here:
                continue
            # Only rows for sessions connected to this process: rows of visitors who left (or who
            # are on another instance) must not hold up the others.
            due = await asyncio.to_thread(channel_state.outbound_due, "socketio", 20, None, here)
            for msg in due:
                if not list(sio.manager.get_participants(namespace, msg.recipient)):
                    continue
                payload: dict[str, Any] = {"id": f"outbox-{msg.id}", "text": msg.text}
                if msg.sender_label:
                    name = msg.sender_label.removeprefix(STAFF_LABEL_PREFIX)
                    payload["custom"] = {"kakehashi": {"from": "staff", "name": name}}
                await sio.emit(event, payload, room=msg.recipient, namespace=namespace)
                await asyncio.to_thread(channel_state.mark_delivered, msg.id)
        except Exception:
            logger.exception("delivering the web outbox failed; retrying")


class SafeSocketIOInput(SocketIOInput):
    """socket.io channel with sessions the server issues (a client cannot pick another's),
    origins limited to KAKEHASHI_ALLOWED_ORIGINS, a message rate limit per session, screened
    input and signed payloads."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def get_output_channel(self) -> OutputChannel | None:
        """What Rasa uses to reach a conversation outside a request (e.g. reminders)."""
        return _SigningSocketIOOutput(self.sio, self.bot_message_evt) if self.sio is not None else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        origins = allowed_origins()
        # python-socketio refuses other origins (HTTP 400) for polling and websocket alike. An
        # empty list would mean "do not check" to it: fall back to the server's own origin.
        cors: Any = "*" if "*" in origins else (origins or None)
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=cors, cors_credentials=False)
        bp = _CorsOwnBlueprint(sio, self.socketio_path, "kakehashi_socketio", __name__)
        self.sio = sio
        ns = self.namespace or "/"
        limiter = RateLimiter.from_env()
        # One message at a time per conversation, in the order they came: python-socketio handles
        # each event in a task of its own, so a burst (the widget's unsent messages after a
        # reconnect) would reach the ticket, or the assistant, in any order.
        turns: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        obs.apply_log_format("rasa")
        obs.keep_level(__name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        delivery: dict[str, asyncio.Task] = {}

        @sio.on("connect", namespace=ns)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            if "task" not in delivery:
                delivery["task"] = asyncio.ensure_future(deliver_outbox(sio, self.bot_message_evt, ns))
            return origin_allowed(environ.get("HTTP_ORIGIN"), origins) if cors is not None else True

        @sio.on("session_request", namespace=ns)
        async def session_request(sid: str, data: Any = None) -> None:
            wanted = data.get("session_id") if isinstance(data, dict) else None
            session_id = wanted if valid_session(wanted) else issue_session()
            for room in sio.rooms(sid, namespace=ns):  # one conversation per connection
                if room not in (sid, session_id):
                    sio.leave_room(sid, room, namespace=ns)
            sio.enter_room(sid, session_id, namespace=ns)
            await sio.emit("session_confirm", session_id, room=sid, namespace=ns)

        @sio.on(self.user_message_evt, namespace=ns)
        async def handle_message(sid: str, data: Any = None) -> None:
            started = time.perf_counter()
            if not isinstance(data, dict) or not valid_session(data.get("session_id")):
                obs.MESSAGES.inc(channel="web", outcome="refused")
                await sio.emit(
                    "kakehashi_error", {"error": "unknown session; request a session first"}, room=sid, namespace=ns
                )
                return
            session_id = data["session_id"]
            if session_id not in sio.rooms(sid, namespace=ns):
                sio.enter_room(sid, session_id, namespace=ns)
            if limiter is not None and not limiter.allow(session_id):
                obs.record_message(session_id, "web", "rate_limited", started, log=logger)
                await sio.emit(self.bot_message_evt, {"id": uuid.uuid4().hex, "text": TOO_FAST}, room=sid, namespace=ns)
                return
            turn = turns.get(session_id)
            if turn is None:
                turn = turns[session_id] = asyncio.Lock()
            async with turn:
                taken, reply = await to_helpdesk(session_id, str(data.get("message", "")), _metadata(data))
                if taken:
                    obs.record_message(session_id, "web", "helpdesk", started, log=logger)
                    if reply:
                        await sio.emit(
                            self.bot_message_evt, {"id": uuid.uuid4().hex, "text": reply}, room=session_id, namespace=ns
                        )
                    else:  # a person answers, in their own time: the widget stops showing "typing…"
                        await sio.emit("kakehashi_status", {"with": "helpdesk"}, room=sid, namespace=ns)
                    return
                output = _SigningSocketIOOutput(sio, self.bot_message_evt)
                failed = not await ask_assistant(
                    on_new_message, data.get("message", ""), output, session_id, self.name(), data
                )
                outcome = "failed" if failed or output.sent == 0 else "answered"
                obs.record_message(session_id, "web", outcome, started, output.responses, log=logger)
                if failed or output.sent == 0:  # after a failure, also when some answers went out already
                    await output._send_message(session_id, {"text": NO_REPLY})

        return bp
