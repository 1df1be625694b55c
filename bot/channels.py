"""The public channels the Rasa server loads (credentials.yml names them by module path):
REST at /webhooks/rest/webhook and socket.io at /socket.io, both screening typed commands,
signing button payloads, and answering with an apology rather than silence."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.guard import screen, sign_buttons
from bot.settings import secret

logger = logging.getLogger(__name__)
SENDER_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
NO_REPLY = ("Sorry — part of the assistant is temporarily unavailable, so I could not answer that. "
            "Your conversation is kept: please try again in a minute.")


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
    raw = os.environ.get("KAKEHASHI_ALLOWED_ORIGINS", "http://localhost:8080,http://127.0.0.1:8080")
    return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]


def with_apology(messages: list[dict], sender_id: str) -> list[dict]:
    """Sign every payload; an empty answer becomes an apology (never silence)."""
    if not messages:
        return [{"recipient_id": sender_id, "text": NO_REPLY}]
    return [sign_buttons(m, sender_id) for m in messages]


class SafeRestInput(InputChannel):
    """REST channel: POST {"sender": id, "message": text} → list of bot messages."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("kakehashi_rest", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:
                body = None
            if not isinstance(body, dict):
                return response.json({"error": "expected a JSON object with 'sender' and 'message'"}, status=400)
            sender = body.get("sender")
            if not isinstance(sender, str) or not SENDER_RE.match(sender):
                return response.json({"error": "'sender' must be 1-128 characters of A-Z a-z 0-9 _ . : @ -"},
                                     status=400)
            if not isinstance(body.get("message", ""), str):
                return response.json({"error": "'message' must be a string"}, status=400)
            collector = CollectingOutputChannel()
            text = screen(body.get("message", ""), sender)
            try:
                await on_new_message(UserMessage(text, collector, sender, input_channel=self.name(),
                                                 metadata=_metadata(body)))
            except Exception:
                logger.exception("rest: message from %s failed", sender)
            return response.json(with_apology(collector.messages, sender))

        return bp


def _metadata(body: dict) -> dict:
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        return {}
    # Only small, known context keys pass (e.g. the hosting cluster site of the web widget).
    return {k: str(v)[:200] for k, v in meta.items() if k in {"site_cluster", "language", "page"}}


class _SigningSocketIOOutput(SocketIOOutput):
    def __init__(self, sio: AsyncServer, bot_message_evt: str, sender_id: str) -> None:
        super().__init__(sio, bot_message_evt)
        self.sender_id = sender_id
        self.sent = 0

    async def _send_message(self, socket_id: str, response: Any) -> None:
        self.sent += 1
        if isinstance(response, dict):
            response = sign_buttons(response, self.sender_id)
        await super()._send_message(socket_id, response)


def session_token(session_id: str) -> str:
    return hmac.new(secret(), f"session\x1f{session_id}".encode(), hashlib.sha256).hexdigest()[:24]


def issue_session() -> str:
    """A new session id that only this server could have made: <uuid>.<mac>."""
    sid = uuid.uuid4().hex
    return f"{sid}.{session_token(sid)}"


def valid_session(value: Any) -> bool:
    if not isinstance(value, str) or value.count(".") != 1:
        return False
    sid, mac = value.split(".")
    return bool(re.fullmatch(r"[0-9a-f]{32}", sid)) and hmac.compare_digest(mac, session_token(sid))


class SafeSocketIOInput(SocketIOInput):
    """socket.io channel with sessions the server issues (a client cannot pick another's),
    origins limited to KAKEHASHI_ALLOWED_ORIGINS, screened input and signed payloads."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=allowed_origins())
        bp = SocketBlueprint(sio, self.socketio_path, "kakehashi_socketio", __name__)
        self.sio = sio

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            return True

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            wanted = data.get("session_id") if isinstance(data, dict) else None
            session_id = wanted if valid_session(wanted) else issue_session()
            sio.enter_room(sid, session_id)
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict) or not valid_session(data.get("session_id")):
                await sio.emit("kakehashi_error", {"error": "unknown session; request a session first"}, room=sid)
                return
            session_id = data["session_id"]
            if session_id not in sio.rooms(sid, namespace=self.namespace):
                sio.enter_room(sid, session_id)
            output = _SigningSocketIOOutput(sio, self.bot_message_evt, session_id)
            text = screen(data.get("message", ""), session_id)
            try:
                await on_new_message(UserMessage(text, output, session_id, input_channel=self.name(),
                                                 metadata=_metadata(data)))
            except Exception:
                logger.exception("socketio: message in session %s failed", session_id)
            if output.sent == 0:
                await output._send_message(session_id, {"text": NO_REPLY})

        return bp
