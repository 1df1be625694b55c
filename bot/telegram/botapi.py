"""The Bot API client: python-telegram-bot's ExtBot, except that an update it cannot parse (a
field newer than this PTB version, a malformed payload) is logged and skipped. PTB's own polling
would fetch the same batch again and again, and no other chat would be answered."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import ExtBot

logger = logging.getLogger(__name__)


def readable_updates(bot: ExtBot, raw: list[Any]) -> list[Any]:
    """`raw` with every update PTB cannot parse replaced by a bare {"update_id"} (no handler
    takes it, but it still moves the polling offset on)."""
    out = []
    for item in raw:
        try:
            Update.de_json(item, bot)
            out.append(item)
        except Exception as exc:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            logger.warning("telegram: skipping update %s that cannot be parsed: %s", update_id, exc)
            if isinstance(update_id, int):
                out.append({"update_id": update_id})
    return out


class TolerantBot(ExtBot):
    """ExtBot whose getUpdates skips unparseable updates."""

    async def _post(self, endpoint: str, *args: Any, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, *args, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list):
            return readable_updates(self, result)
        return result
