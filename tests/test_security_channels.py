"""CORS as `make run` configures it (`rasa run --cors <allowed origins>` plus the channels' own
origin checks), on a server with the real channels (tests/obs_harness.py): a web page from an
origin outside KAKEHASHI_ALLOWED_ORIGINS gets no Access-Control-Allow-Origin from any endpoint —
so its scripts can neither send messages nor read answers, readiness or metrics — while an
allowed origin gets exactly its own. (tests/test_widget_server.py checks the refusals' status
codes against the real assistant, which runs without --cors.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.obs_harness import ALLOWED_ORIGIN, METRICS_TOKEN, ChannelServer, start

EVIL = "http://evil.example"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


@pytest.fixture(scope="module")
def channel_server(tmp_path_factory) -> Iterator[ChannelServer]:
    yield from start(tmp_path_factory.mktemp("cors"))


def allow_origin(headers) -> list[str]:  # type: ignore[no-untyped-def]
    return headers.get_all("Access-Control-Allow-Origin") or []


def test_rest_preflight_answers_only_the_allowed_origin(channel_server):
    path = "/webhooks/rest/webhook"
    _, headers, _ = channel_server.request(path, headers={"Origin": EVIL, **PREFLIGHT}, method="OPTIONS")
    assert allow_origin(headers) == []
    _, headers, _ = channel_server.request(path, headers={"Origin": ALLOWED_ORIGIN, **PREFLIGHT}, method="OPTIONS")
    assert allow_origin(headers) == [ALLOWED_ORIGIN]


def test_rest_message_from_another_origin_is_refused_without_cors_headers(channel_server):
    status, headers, _ = channel_server.request(
        "/webhooks/rest/webhook", {"sender": "t-cors", "message": "hello"}, {"Origin": EVIL}
    )
    assert status == 403 and allow_origin(headers) == []
    status, headers, _ = channel_server.request(
        "/webhooks/rest/webhook", {"sender": "t-cors", "message": "hello"}, {"Origin": ALLOWED_ORIGIN}
    )
    assert status == 200 and allow_origin(headers) == [ALLOWED_ORIGIN]


@pytest.mark.parametrize("path", ["/webhooks/rest/", "/webhooks/rest/ready", "/webhooks/rest/metrics"])
def test_operations_endpoints_are_not_readable_from_another_origin(channel_server, path):
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    status, headers, _ = channel_server.request(path, headers={"Origin": EVIL, **auth})
    assert status == 200 and allow_origin(headers) == []


def test_socketio_handshake_from_another_origin_gets_no_cors_header(channel_server):
    path = "/socket.io/?EIO=4&transport=polling"
    status, headers, _ = channel_server.request(path, headers={"Origin": EVIL})
    assert status == 400 and allow_origin(headers) == []
    status, headers, _ = channel_server.request(path, headers={"Origin": ALLOWED_ORIGIN})
    assert status == 200 and allow_origin(headers) == [ALLOWED_ORIGIN]
