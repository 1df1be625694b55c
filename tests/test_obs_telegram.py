"""The Telegram bot's operations side (the real `python -m bot.telegram` against the fake Bot API):
the optional health listener on TELEGRAM_HEALTH_PORT and JSON log lines."""

from __future__ import annotations

import json
import urllib.request

from tests.fixtures_bot import free_port


def get(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


def test_health_listener_and_json_logs(start_bot, assistant_stand_in, channel_db):
    port = free_port()
    bot = start_bot(assistant_stand_in.url, channel_db, TELEGRAM_HEALTH_PORT=str(port), KAKEHASHI_LOG_FORMAT="json")
    assert get(f"http://127.0.0.1:{port}/healthz") == (200, {"status": "ok", "process": "telegram"})
    assert get(f"http://127.0.0.1:{port}/readyz") == (200, {"status": "ready", "checks": {"database": "ok"}})
    lines = [line for line in bot.output().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(r["logger"] == "bot.telegram" and "is running" in r["msg"] for r in records)
    assert all(r["process"] == "telegram" for r in records)
    assert len(records) == len(lines), "every line the bot logs is one JSON object"
