"""The channels' operations side over real HTTP, on a server with the real channel code and a
stand-in for the model (tests/obs_harness.py): readiness, metrics counting each outcome behind
the metrics token, and one JSON log line per message naming the conversation only by reference."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from bot.channels import NO_REPLY, TOO_FAST
from bot.guard import RELAY_HEADER, relay_signature
from tests.fixtures_bot import free_port
from tests.obs_harness import METRICS_TOKEN, SECRET, ChannelServer, sample, start

SECRET_TEXT = "my name is Hanako Yamada, hanako@example.jp"


@pytest.fixture(scope="module")
def channel_server(tmp_path_factory) -> Iterator[ChannelServer]:
    yield from start(tmp_path_factory.mktemp("channels"))


def conversation_ref(conversation_id: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from bot.observability import conversation_ref as ref

    monkeypatch.setenv("KAKEHASHI_SECRET", SECRET)
    return ref(conversation_id)


def message_lines(server: ChannelServer) -> list[dict]:
    return [record for record in server.records() if record.get("msg") == "message"]


def test_ready_when_the_model_is_loaded_and_the_knowledge_base_answers(channel_server):
    status, _, body = channel_server.request("/webhooks/rest/ready")
    assert status == 200, body
    assert json.loads(body) == {"status": "ready", "checks": {"model": "ok", "knowledge_base": "ok"}}
    assert channel_server.request("/webhooks/rest/")[0] == 200, "liveness as before"


def test_metrics_are_refused_without_the_token(channel_server):
    status, headers, body = channel_server.request("/webhooks/rest/metrics")
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
    assert b"kakehashi_" not in body
    status, _, body = channel_server.request("/webhooks/rest/metrics", headers={"Authorization": "Bearer wrong"})
    assert status == 401 and b"kakehashi_" not in body
    assert "kakehashi_messages_total" in channel_server.metrics()


def test_each_outcome_is_counted_and_logged_once_without_the_text(channel_server, monkeypatch):
    before = channel_server.metrics()
    lines_before = len(message_lines(channel_server))
    answered, fallback, crashing, flooding = (f"t-{uuid.uuid4().hex[:10]}" for _ in range(4))
    assert channel_server.send(answered, SECRET_TEXT)[0] == 200
    assert channel_server.send(fallback, f"gibberish {SECRET_TEXT}")[0] == 200
    status, body = channel_server.send(crashing, f"crash {SECRET_TEXT}")
    assert status == 200 and body[0]["text"].startswith("Sorry"), "the apology, not silence"
    replies = [channel_server.send(flooding, SECRET_TEXT)[1][0]["text"] for _ in range(4)]  # the limit is 3/60
    assert replies.count(TOO_FAST) == 1
    telegram = f"tg-{uuid.uuid4().int % 10**9}"
    assert channel_server.send(telegram, "hello")[0] == 403  # only the bot may speak for a Telegram chat
    monkeypatch.setenv("KAKEHASHI_SECRET", SECRET)
    assert channel_server.send(telegram, "hello", headers={RELAY_HEADER: relay_signature(telegram)})[0] == 200
    assert channel_server.send("bad sender!", "hello")[0] == 400

    after = channel_server.metrics()

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("kakehashi_messages_total", channel="rest", outcome="answered") == 5  # 1 + fallback + 3 flooding
    assert delta("kakehashi_messages_total", channel="rest", outcome="failed") == 1
    assert delta("kakehashi_messages_total", channel="rest", outcome="rate_limited") == 1
    assert delta("kakehashi_messages_total", channel="rest", outcome="refused") == 2
    assert delta("kakehashi_messages_total", channel="telegram", outcome="answered") == 1
    assert delta("kakehashi_fallbacks_total", channel="rest") == 1
    assert delta("kakehashi_reply_seconds_count", channel="rest") == 6, "answered and failed, not rate-limited"

    lines = message_lines(channel_server)[lines_before:]
    assert len(lines) == 8, "one line per message received (a refused request is only counted)"
    by_conversation = {}
    for line in lines:
        assert {"ts", "level", "logger", "conversation", "channel", "outcome", "latency_ms"} <= set(line)
        by_conversation.setdefault(line["conversation"], []).append(line)
    assert [x["outcome"] for x in by_conversation[conversation_ref(answered, monkeypatch)]] == ["answered"]
    fell_back = by_conversation[conversation_ref(fallback, monkeypatch)][0]
    assert fell_back["fallback"] is True and fell_back["responses"] == ["utter_clarify"]
    assert by_conversation[conversation_ref(crashing, monkeypatch)][0]["outcome"] == "failed"
    flood = [x["outcome"] for x in by_conversation[conversation_ref(flooding, monkeypatch)]]
    assert flood == ["answered"] * 3 + ["rate_limited"]

    log = channel_server.log.read_text(encoding="utf-8")
    for needle in ("Hanako", "hanako@example.jp", answered, fallback, crashing, flooding):
        assert needle not in log, f"{needle!r} must not be logged"
    assert "the stand-in failed" in log, "the failure itself is logged (with its traceback)"


def test_every_log_line_is_one_json_object_once_the_channels_are_loaded(channel_server):
    """Python prints import-time warnings before any logging is set up (docs/observability.md);
    from the channels' loading on, every line is one JSON object — Sanic's, Rasa's and ours."""
    channel_server.send(f"t-{uuid.uuid4().hex[:10]}", "hello")
    lines = channel_server.log_lines()
    first = next(i for i, line in enumerate(lines) if line.startswith("{"))
    records = [json.loads(line) for line in lines[first:]]
    assert len(records) >= 3 and {r["logger"] for r in records} >= {"sanic.root", "bot.channels"}
    for record in records:
        assert {"ts", "level", "logger", "msg", "process"} <= set(record), record


@pytest.fixture(scope="module")
def server_without_database(tmp_path_factory) -> Iterator[ChannelServer]:
    yield from start(
        tmp_path_factory.mktemp("nodb"),
        migrate=False,
        DATABASE_URL=f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test",
        KAKEHASHI_METRICS_TOKEN="",
        KAKEHASHI_ENV="production",
    )


def test_not_ready_without_the_knowledge_base_and_no_metrics_in_production_without_a_token(server_without_database):
    status, headers, body = server_without_database.request("/webhooks/rest/ready")
    assert status == 503
    assert json.loads(body) == {"status": "not ready", "checks": {"model": "ok", "knowledge_base": "unavailable"}}
    assert headers["Content-Type"].startswith("application/json")
    status, _, body = server_without_database.request("/webhooks/rest/metrics")
    assert status == 403 and b"KAKEHASHI_METRICS_TOKEN" in body
    status, _, body = server_without_database.request(
        "/webhooks/rest/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert status == 403, "no token configured: no token opens it"


def test_a_failure_after_answering_gives_the_apology_alone(channel_server):
    status, body = channel_server.send(f"t-{uuid.uuid4().hex[:10]}", "crash after answering")
    assert status == 200
    assert [m["text"] for m in body] == [NO_REPLY], "no reply the stored conversation does not have"
