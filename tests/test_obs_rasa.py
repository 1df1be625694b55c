"""Operations endpoints of the real Rasa server (the session's `assistant`: trained model, action
server, SQLite knowledge base): readiness, metrics that count real answers, and the per-message
log line that names the domain responses used but never the user's text."""

from __future__ import annotations

import json
import urllib.request

import pytest

from bot import observability as obs
from tests.fixtures_bot import Assistant, new_sender
from tests.obs_harness import sample

pytestmark = pytest.mark.slow


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, resp.read()


def test_the_assistant_is_ready(assistant: Assistant):
    status, body = get(f"{assistant.rasa_url}/webhooks/rest/ready")
    assert status == 200
    assert json.loads(body) == {"status": "ready", "checks": {"model": "ok", "knowledge_base": "ok"}}


def test_answers_are_counted_and_logged_by_reference(assistant: Assistant, monkeypatch):
    url = f"{assistant.rasa_url}/webhooks/rest/metrics"  # no KAKEHASHI_METRICS_TOKEN in the fixture: open
    before = get(url)[1].decode()
    sender, text = new_sender(), "hello, I am Hanako from Osaka Bio"
    assert assistant.text(sender, text)
    after = get(url)[1].decode()

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("kakehashi_messages_total", channel="rest", outcome="answered") == 1
    assert delta("kakehashi_reply_seconds_count", channel="rest") == 1
    monkeypatch.setenv("KAKEHASHI_SECRET", assistant.env["KAKEHASHI_SECRET"])
    ref = obs.conversation_ref(sender)
    log = (assistant.workdir / "rasa.log").read_text(encoding="utf-8", errors="replace")
    lines = [line for line in log.splitlines() if f"conversation={ref}" in line]
    assert len(lines) == 1, "one line per message (plain text: the fixture's default format)"
    assert "channel=rest outcome=answered" in lines[0] and "responses=utter_greet" in lines[0]
    assert sender not in log and "Hanako" not in log
