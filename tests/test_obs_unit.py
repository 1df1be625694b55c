"""bot/observability.py on its own: the Prometheus text format, the metrics token rule, JSON log
lines and conversation references."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from bot import observability as obs
from tests.obs_harness import sample


def test_counter_and_histogram_in_the_prometheus_text_format():
    messages = obs.Counter("t_messages_total", "Messages.", ("channel", "outcome"))
    messages.inc(channel="web", outcome="answered")
    messages.inc(2, channel='we"b\\\n', outcome="failed")
    latency = obs.Histogram("t_reply_seconds", "Latency.", ("channel",), buckets=(0.1, 1.0))
    for value in (0.05, 0.5, 3.0):
        latency.observe(value, channel="web")
    text = obs.exposition([messages, latency])
    assert text.endswith("\n")
    lines = text.splitlines()
    assert "# TYPE t_messages_total counter" in lines and "# HELP t_messages_total Messages." in lines
    assert 't_messages_total{channel="web",outcome="answered"} 1' in lines
    assert 't_messages_total{channel="we\\"b\\\\\\n",outcome="failed"} 2' in lines, "label values escaped"
    assert "# TYPE t_reply_seconds histogram" in lines
    # Buckets are cumulative, +Inf equals the count.
    assert 't_reply_seconds_bucket{channel="web",le="0.1"} 1' in lines
    assert 't_reply_seconds_bucket{channel="web",le="1"} 2' in lines
    assert 't_reply_seconds_bucket{channel="web",le="+Inf"} 3' in lines
    assert 't_reply_seconds_count{channel="web"} 3' in lines
    assert 't_reply_seconds_sum{channel="web"} 3.55' in lines
    assert sample(text, "t_reply_seconds_count", channel="web") == 3


def test_a_metric_refuses_labels_it_does_not_have():
    counter = obs.Counter("t_total", "T.", ("channel",))
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(outcome="answered")


def test_every_channel_and_outcome_is_exported_from_the_start():
    text = obs.METRICS.render()
    for channel in obs.CHANNELS:
        for outcome in obs.OUTCOMES:
            assert f'kakehashi_messages_total{{channel="{channel}",outcome="{outcome}"}}' in text
        assert f'kakehashi_fallbacks_total{{channel="{channel}"}}' in text


@pytest.mark.parametrize(
    ("token", "env", "header", "expected"),
    [
        ("", "", None, None),  # local development: open
        ("", "production", None, 403),  # production without a token: not served at all
        ("s3cret", "", None, 401),
        ("s3cret", "", "Bearer wrong", 401),
        ("s3cret", "", "Basic s3cret", 401),
        ("s3cret", "", "Bearer s3cret", None),
        ("s3cret", "production", "bearer s3cret", None),
    ],
)
def test_metrics_token_rule(monkeypatch, token, env, header, expected):
    monkeypatch.setenv("KAKEHASHI_METRICS_TOKEN", token)
    monkeypatch.setenv("KAKEHASHI_ENV", env)
    refused = obs.metrics_refusal(header)
    assert (refused[0] if refused else None) == expected


def _capture(fmt: str, monkeypatch) -> tuple[logging.Logger, io.StringIO]:
    monkeypatch.setenv("KAKEHASHI_LOG_FORMAT", fmt)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("tests.obs." + fmt)
    log.handlers, log.propagate, log.level = [handler], False, logging.INFO
    handler.setFormatter(obs.JsonFormatter("test") if fmt == "json" else logging.Formatter("%(message)s"))
    return log, stream


def test_a_message_line_as_json_carries_fields_not_text(monkeypatch):
    monkeypatch.setenv("KAKEHASHI_SECRET", "unit-secret")
    log, stream = _capture("json", monkeypatch)
    obs.record_message("tg-123456", "telegram", "answered", 0.0, ["utter_greet", "utter_clarify"], log=log)
    line = json.loads(stream.getvalue())
    assert line["msg"] == "message" and line["level"] == "INFO" and line["logger"] == "tests.obs.json"
    assert line["process"] == "test" and line["ts"].endswith("+00:00")
    assert line["conversation"] == obs.conversation_ref("tg-123456") and "123456" not in stream.getvalue()
    assert line["channel"] == "telegram" and line["outcome"] == "answered"
    assert isinstance(line["latency_ms"], int) and line["fallback"] is True
    assert line["responses"] == ["utter_greet", "utter_clarify"]


def test_a_message_line_as_text(monkeypatch):
    monkeypatch.setenv("KAKEHASHI_SECRET", "unit-secret")
    log, stream = _capture("text", monkeypatch)
    obs.record_message("web-conv", "web", "rate_limited", 0.0, log=log)
    text = stream.getvalue().strip()
    assert text.startswith(f"message conversation={obs.conversation_ref('web-conv')} channel=web outcome=rate_limited")
    assert "fallback=False" in text


def test_json_lines_keep_extra_fields_and_exceptions(monkeypatch):
    log, stream = _capture("json", monkeypatch)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed for %s", "x", extra={"status": 503})
    line = json.loads(stream.getvalue())
    assert line["msg"] == "it failed for x" and line["status"] == 503
    assert "ValueError: boom" in line["exc"]


def test_apply_log_format_is_a_no_op_for_text(monkeypatch):
    monkeypatch.setenv("KAKEHASHI_LOG_FORMAT", "text")
    root = logging.getLogger()
    before = [(h, h.formatter) for h in root.handlers]
    obs.apply_log_format("test")
    assert [(h, h.formatter) for h in root.handlers] == before


def test_conversation_reference_is_stable_keyed_and_short(monkeypatch):
    monkeypatch.setenv("KAKEHASHI_SECRET", "one")
    ref = obs.conversation_ref("0123456789abcdef0123456789abcdef.aaaaaaaaaaaaaaaaaaaaaaaa")
    assert len(ref) == 16 and ref == obs.conversation_ref("0123456789abcdef0123456789abcdef.aaaaaaaaaaaaaaaaaaaaaaaa")
    assert ref != obs.conversation_ref("0123456789abcdef0123456789abcdef.aaaaaaaaaaaaaaaaaaaaaaab")
    monkeypatch.setenv("KAKEHASHI_SECRET", "two")
    assert obs.conversation_ref("0123456789abcdef0123456789abcdef.aaaaaaaaaaaaaaaaaaaaaaaa") != ref, "keyed"


def test_fallback_responses_are_the_domain_responses_of_the_not_understood_paths():
    """Fallbacks are counted by response name: a renamed response must not silently stop the count."""
    import yaml

    from bot.settings import ROOT

    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert set(domain["responses"]) >= obs.FALLBACK_RESPONSES
    clarify = (ROOT / "actions" / "clarify.py").read_text(encoding="utf-8")
    used = set(re.findall(r'response="(utter_[a-z_]+)"', clarify))
    assert used and used <= obs.FALLBACK_RESPONSES, "every answer of action_clarify counts as a fallback"


def test_channel_labels():
    assert obs.channel_label("socketio", "abc.def") == "web"
    assert obs.channel_label("rest", "tg-42") == "telegram"
    assert obs.channel_label("rest", "crm-7") == "rest"
