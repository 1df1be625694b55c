"""The assistant as the bot sees it: its REST channel (POST /webhooks/rest/webhook), one call per
user message. Sender ids come from db.channel_state.conversation_id ("tg-<chat_id>"), so the
assistant's tracker store keeps each chat's conversation across restarts."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from bot.guard import RELAY_HEADER, relay_signature

logger = logging.getLogger(__name__)


class AssistantUnavailable(RuntimeError):
    """The assistant could not be reached or failed (connection refused, timeout, 5xx)."""


class Assistant:
    """A small async client of the assistant's REST channel."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.url = base_url.rstrip("/") + "/webhooks/rest/webhook"
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=5)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def ask(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The assistant's answer to `text` from `sender`: a list of messages
        ({"text", "buttons": [{"title", "payload"}], ...}); raises AssistantUnavailable."""
        body: dict[str, Any] = {"sender": sender, "message": text}
        if metadata:
            body["metadata"] = metadata
        try:
            headers = {RELAY_HEADER: relay_signature(sender)}  # only the bot may speak for "tg-…" conversations
            async with self._client().post(self.url, json=body, headers=headers) as resp:
                if resp.status >= 500:
                    raise AssistantUnavailable(f"assistant answered HTTP {resp.status}")
                if resp.status != 200:
                    # A 4xx is our fault (e.g. a malformed sender id), not the assistant being down.
                    raise RuntimeError(f"assistant refused the message: HTTP {resp.status} {await resp.text()}")
                answer = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise AssistantUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(answer, list):
            raise AssistantUnavailable(f"assistant answered {type(answer).__name__}, expected a list")
        return [m for m in answer if isinstance(m, dict)]
