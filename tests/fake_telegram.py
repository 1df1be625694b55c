"""A fake Telegram Bot API server on loopback, for running the real bot in tests.

It serves /bot<token>/<method> like api.telegram.org (point the bot at it with
TELEGRAM_API_BASE_URL=<fake.base_url>), records every call the bot makes, hands out the updates a
test injects through getUpdates long polling, and can answer the next calls of a method with a
429 flood-control error. It runs its own event loop in a thread, so synchronous tests can use it;
every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-token_for-the-fake-bot-api"
BOT_USER = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Kakehashi",
    "username": "kakehashi_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Parameters Telegram takes as plain strings; PTB JSON-encodes all the others.
STRING_PARAMS = {
    "text",
    "caption",
    "secret_token",
    "url",
    "callback_query_id",
    "parse_mode",
    "action",
    "inline_message_id",
}
COMMAND_OR_MENTION = re.compile(r"(?P<command>^/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?)|(?P<mention>@[A-Za-z0-9_]{5,})")


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    status: int = 200
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The inline keyboard's buttons, flattened."""
        markup = self.params.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]


class LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Cancel what is still running (e.g. a long poll), then stop the loop."""

        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class FakeTelegram:
    """The fake Bot API. Start with `start()`, stop with `stop()`."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.webhook: dict[str, Any] | None = None
        self._lock = threading.Condition()
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._failures: dict[str, list[int]] = {}
        self._loop_thread: LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._new_update: asyncio.Event | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """What to give the bot as TELEGRAM_API_BASE_URL."""
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> FakeTelegram:
        self._loop_thread = LoopThread()
        self._loop_thread.run(self._start())
        return self

    async def _start(self) -> None:
        self._new_update = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop_thread is not None:
            self._loop_thread.run(self._runner.cleanup())
            self._loop_thread.close()
            self._loop_thread = None

    # ------------------------------------------------------------------ what tests do

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        with self._lock:
            update = {"update_id": next(self._update_ids), **update}
            self._updates.append(update)
        if self._loop_thread is not None:
            self._loop_thread.loop.call_soon_threadsafe(self._new_update.set)
        return update["update_id"]

    def next_update_id(self) -> int:
        with self._lock:
            return next(self._update_ids)

    def fail_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 Too Many Requests."""
        with self._lock:
            self._failures.setdefault(method, []).extend([retry_after] * times)

    def wait_for(self, predicate: Callable[[list[Call]], Any], timeout: float = 60, what: str = "") -> Any:
        """Wait until predicate(calls) is truthy and return its value; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate(list(self.calls))
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    summary = [(c.method, c.params.get("chat_id"), c.text[:80]) for c in self.calls[-15:]]
                    raise TimeoutError(f"waited {timeout:.0f} s for {what or predicate}; last calls: {summary}")
                self._lock.wait(min(left, 0.5))

    def messages(self, chat_id: int, since: int = 0) -> list[Call]:
        """sendMessage calls that Telegram accepted for `chat_id`, from call number `since` on."""
        return [
            c
            for c in self.calls[since:]
            if c.method == "sendMessage" and c.status == 200 and str(c.chat_id) == str(chat_id)
        ]

    def wait_messages(self, chat_id: int, count: int = 1, since: int = 0, timeout: float = 60) -> list[Call]:
        """The first `count` accepted messages to `chat_id` after call number `since`."""
        return self.wait_for(
            lambda calls: (
                (
                    m := [
                        c
                        for c in calls[since:]
                        if c.method == "sendMessage" and c.status == 200 and str(c.chat_id) == str(chat_id)
                    ]
                )
                and len(m) >= count
                and m[:count]
            ),
            timeout,
            f"{count} message(s) to chat {chat_id}",
        )

    def wait_text(self, chat_id: int, contains: str, since: int = 0, timeout: float = 60) -> Call:
        """The first accepted message to `chat_id` containing `contains`."""
        return self.wait_for(
            lambda calls: next(
                (
                    c
                    for c in calls[since:]
                    if c.method == "sendMessage"
                    and c.status == 200
                    and str(c.chat_id) == str(chat_id)
                    and contains in c.text
                ),
                None,
            ),
            timeout,
            f"a message to chat {chat_id} containing {contains!r}",
        )

    def mark(self) -> int:
        """The current call number, to look only at what comes after."""
        with self._lock:
            return len(self.calls)

    # ------------------------------------------------------------------ update builders

    def message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        chat_type: str = "private",
        user_id: int | None = None,
        first_name: str = "Test",
        reply_to_bot: bool = False,
        reply_to: Call | None = None,
        edited: bool = False,
        **content: Any,
    ) -> int:
        """Push a message (or edited message) from a user; returns the message id. `reply_to`:
        one of the bot's sent messages that this message answers (Telegram's reply)."""
        message_id = next(self._message_ids)
        user = {"id": user_id or abs(chat_id), "is_bot": False, "first_name": first_name, "language_code": "en"}
        chat = {"id": chat_id, "type": chat_type}
        chat.update({"first_name": "Test"} if chat_type == "private" else {"title": "Test group"})
        msg: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            **content,
        }
        if text is not None:
            msg["text"] = text
            entities = [
                {
                    "type": "bot_command" if m["command"] else "mention",
                    "offset": m.start(),
                    "length": m.end() - m.start(),
                }
                for m in COMMAND_OR_MENTION.finditer(text)
            ]
            if entities:
                msg["entities"] = entities
        if reply_to_bot:
            msg["reply_to_message"] = {
                "message_id": 1,
                "date": int(time.time()),
                "chat": chat,
                "from": BOT_USER,
                "text": "an earlier answer",
            }
        if reply_to is not None:
            msg["reply_to_message"] = {
                "message_id": reply_to.params["_message_id"],
                "date": int(time.time()),
                "chat": chat,
                "from": BOT_USER,
                "text": reply_to.text,
            }
        if edited:
            msg["edit_date"] = int(time.time())
        self.push({"edited_message" if edited else "message": msg})
        return message_id

    def press(
        self,
        chat_id: int,
        data: str,
        message: Call | None = None,
        chat_type: str = "private",
        user_id: int | None = None,
    ) -> str:
        """Push a callback query: the user (`user_id`, default the chat's) pressed a button with
        `data` (on `message`)."""
        query_id = f"cq{next(self._message_ids)}"
        chat = {"id": chat_id, "type": chat_type}
        msg = {
            "message_id": (message.params.get("_message_id") if message else None) or 1,
            "date": int(time.time()),
            "chat": chat,
            "from": BOT_USER,
            "text": message.text if message else "…",
        }
        self.push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": {"id": user_id or abs(chat_id), "is_bot": False, "first_name": "Test"},
                    "chat_instance": str(chat_id),
                    "data": data,
                    "message": msg,
                }
            }
        )
        return query_id

    # ------------------------------------------------------------------ the Bot API

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await _params(request)
        with self._lock:
            failures = self._failures.get(method)
            retry_after = failures.pop(0) if failures else None
        if retry_after is not None:
            self._record(Call(method, params, 429))
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "parameters": {"retry_after": retry_after},
                    "description": f"Too Many Requests: retry after {retry_after}",
                },
                status=429,
            )
        if method == "getUpdates":  # recorded when asked: a waiting long poll means "the bot is up"
            self._record(Call(method, params))
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            self._record(Call(method, params, 404))
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        outcome = handler(params)
        if isinstance(outcome, tuple):  # (status, description): a Bot API error
            self._record(Call(method, params, outcome[0]))
            return web.json_response(
                {"ok": False, "error_code": outcome[0], "description": outcome[1]}, status=outcome[0]
            )
        self._record(Call(method, params))
        return web.json_response({"ok": True, "result": outcome})

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
            self._lock.notify_all()

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 10.0)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = list(self._updates)
                if not ready:
                    self._new_update.clear()
            if ready or time.monotonic() >= deadline:
                return ready
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), max(0.01, deadline - time.monotonic()))

    def _m_getMe(self, _: dict) -> dict:
        return BOT_USER

    def _m_deleteWebhook(self, _: dict) -> bool:
        self.webhook = None
        return True

    def _m_setWebhook(self, params: dict) -> bool:
        self.webhook = params
        return True

    def _m_getWebhookInfo(self, _: dict) -> dict:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}

    def _m_setMyCommands(self, _: dict) -> bool:
        return True

    def _m_sendChatAction(self, _: dict) -> bool:
        return True

    def _m_answerCallbackQuery(self, _: dict) -> bool:
        return True

    def _m_sendMessage(self, params: dict) -> dict | tuple[int, str]:
        text = str(params.get("text", ""))
        if not text.strip():
            return 400, "Bad Request: message text is empty"
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return 400, "Bad Request: message is too long"
        if params.get("parse_mode") == "HTML" and not _valid_html(text):
            return 400, "Bad Request: can't parse entities"
        params["_message_id"] = message_id = next(self._message_ids)
        chat_id = params.get("chat_id")
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private" if int(chat_id) > 0 else "group"},
            "text": text,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _m_editMessageText(self, params: dict) -> dict | tuple[int, str]:
        text = str(params.get("text", ""))
        if not text.strip():
            return 400, "Bad Request: message text is empty"
        if params.get("parse_mode") == "HTML" and not _valid_html(text):
            return 400, "Bad Request: can't parse entities"
        return {
            "message_id": params.get("message_id"),
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": params.get("chat_id"), "type": "supergroup"},
            "text": text,
        }

    def _m_editMessageReplyMarkup(self, params: dict) -> dict:
        return {
            "message_id": params.get("message_id"),
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": params.get("chat_id"), "type": "private"},
            "text": "…",
        }


async def _params(request: web.Request) -> dict[str, Any]:
    raw: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        raw.update(await request.json())
    elif request.can_read_body:
        raw.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    out = {}
    for key, value in raw.items():
        if isinstance(value, str) and key not in STRING_PARAMS:
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        out[key] = value
    return out


ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "code",
    "pre",
    "a",
    "tg-spoiler",
    "blockquote",
    "span",
}


def _valid_html(text: str) -> bool:
    """Telegram's HTML parse mode: only its tags, balanced, and every & < > escaped."""
    stack = []
    for match in re.finditer(r"<(/?)([a-zA-Z-]+)[^>]*>|&(#?[a-zA-Z0-9]+);|[<>&]", text):
        closing, tag, entity = match.groups()
        if tag:
            if tag.lower() not in ALLOWED_TAGS:
                return False
            if closing:
                if not stack or stack.pop() != tag.lower():
                    return False
            else:
                stack.append(tag.lower())
        elif entity is None or not (entity.startswith("#") or entity in {"lt", "gt", "amp", "quot"}):
            return False
    return not stack
