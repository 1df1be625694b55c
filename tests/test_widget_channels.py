"""The web widget's server side, without a model: rate limiting, origins, sessions and the
one-event-per-message socket.io format (bot/channels.py)."""

from __future__ import annotations

import pytest

from bot import channels
from bot.channels import RateLimiter, issue_session, origin_allowed, valid_session, widget_message
from bot.guard import relay_allowed, relay_signature, screen, sign, typed_command_parse


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_a_burst_then_refuses_until_refilled():
    clock = Clock()
    limiter = RateLimiter(burst=10, period=10, clock=clock)
    assert all(limiter.allow("a") for _ in range(10))
    assert not limiter.allow("a")
    assert limiter.allow("b"), "every conversation has its own bucket"
    clock.now += 1.0  # one message per second comes back
    assert limiter.allow("a")
    assert not limiter.allow("a")
    clock.now += 60
    assert sum(limiter.allow("a") for _ in range(20)) == 10, "the bucket never holds more than the burst"


def test_rate_limiter_forgets_idle_conversations_beyond_its_bound():
    limiter = RateLimiter(burst=1, period=1, clock=Clock(), max_keys=3)
    for key in "abcd":
        limiter.allow(key)
    assert len(limiter._buckets) == 3
    assert "a" not in limiter._buckets


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, (10, 10.0)),
        ("5/2", (5, 2.0)),
        ("off", None),
        ("0", None),
        ("junk", (10, 10.0)),
        ("3", (3, 1.0)),
    ],
)
def test_rate_limit_setting(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("KAKEHASHI_RATE_LIMIT", raising=False)
    else:
        monkeypatch.setenv("KAKEHASHI_RATE_LIMIT", raw)
    assert channels.rate_limit() == expected


def test_origins():
    allowed = ["https://cluster.example", "http://127.0.0.1:8080"]
    assert origin_allowed(None, allowed), "server-side clients send no Origin"
    assert origin_allowed("https://cluster.example", allowed)
    assert origin_allowed("http://127.0.0.1:8080/", allowed)
    assert not origin_allowed("https://evil.example", allowed)
    assert not origin_allowed("https://cluster.example.evil.example", allowed)
    assert not origin_allowed("null", allowed)
    assert origin_allowed("https://anything.example", ["*"])


def test_allowed_origins_from_environment(monkeypatch):
    monkeypatch.setenv("KAKEHASHI_ALLOWED_ORIGINS", " https://a.example/ ,https://b.example,, ")
    assert channels.allowed_origins() == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("typed", "inert"),
    [
        ("/human_handoff", True),
        ("/human_handoff/human_handoff", True),
        ('/request_introduction{"org_name": "Osaka Bio Headquarters"}', True),
        ("/restart~k=forged", True),
        ("  /session_start  ", True),
        ("/human_handoff please, I need a person", False),  # words: the NLU reads them
        ("find biotech clusters in Osaka", False),
        ("", False),
    ],
)
def test_a_typed_command_alone_is_not_understood_rather_than_parsed(monkeypatch, typed, inert):
    monkeypatch.setenv("KAKEHASHI_SECRET", "typed-command-secret")
    parsed = typed_command_parse(screen(typed, "t-1"))
    assert (parsed is not None) is inert
    if inert:
        assert parsed["intent"] == {"name": "nlu_fallback", "confidence": 1.0} and parsed["entities"] == []
    # A button's signed payload is the assistant's own command: never overridden.
    assert typed_command_parse(screen(sign("/human_handoff", "t-1"), "t-1")) is None


def test_only_the_bot_speaks_for_a_telegram_conversation_over_rest(monkeypatch):
    monkeypatch.setenv("KAKEHASHI_SECRET", "relay-test-secret")
    good = relay_signature("tg-42")
    assert relay_allowed("tg-42", good)
    assert not relay_allowed("tg-42", None) and not relay_allowed("tg-42", "")
    assert not relay_allowed("tg-43", good)  # signed for another chat
    assert not relay_allowed("tg-42:1", good)  # or another conversation of the chat
    assert relay_allowed("t-anyone", None)  # REST clients' own conversations need nothing
    monkeypatch.setenv("KAKEHASHI_SECRET", "another-secret")
    assert not relay_allowed("tg-42", good)


def test_sessions_are_issued_and_signed_by_the_server():
    session = issue_session()
    assert valid_session(session)
    uid, mac = session.split(".")
    assert not valid_session(f"{uid}.{'0' * 24}"), "a forged signature"
    assert not valid_session(f"{'a' * 32}.{mac}"), "another conversation's signature"
    assert not valid_session("my-own-id")
    assert not valid_session(None)
    assert issue_session() != session


def test_one_event_per_bot_message_with_buttons_and_cards_together():
    event = widget_message(
        {
            "text": "Found 1 organisation:\n\n1. **Osaka Bio Headquarters**",
            "buttons": [{"title": "Details", "payload": "/ask_details"}],
            "custom": {"kakehashi": {"type": "organisations", "items": [{"name": "Osaka Bio Headquarters"}]}},
            "utter_action": "utter_search_results",
            "timestamp": 1.0,
        }
    )
    assert event == {
        "text": "Found 1 organisation:\n\n1. **Osaka Bio Headquarters**",
        "quick_replies": [{"content_type": "text", "title": "Details", "payload": "/ask_details"}],
        "custom": {"kakehashi": {"type": "organisations", "items": [{"name": "Osaka Bio Headquarters"}]}},
    }
    assert widget_message({"text": "", "timestamp": 1.0}) is None


async def test_socketio_output_signs_buttons_for_the_session():
    sent = []

    class FakeSio:
        async def emit(self, event, data=None, room=None, **kwargs):
            sent.append((event, data, room))

    session = issue_session()
    out = channels._SigningSocketIOOutput(FakeSio(), "bot_uttered")
    await out.send_response(session, {"text": "Hi", "buttons": [{"title": "More", "payload": "/show_more"}]})
    await out.send_custom_json(session, {"kakehashi": {"from": "staff", "name": "Aiko"}})
    assert out.sent == 2
    (event, data, room), (_, custom, _) = sent
    assert (event, room) == ("bot_uttered", session)
    payload = data["quick_replies"][0]["payload"]
    assert payload != "/show_more" and screen(payload, session) == "/show_more"
    assert screen(payload, issue_session()) != "/show_more", "signed for this session only"
    assert custom["custom"] == {"kakehashi": {"from": "staff", "name": "Aiko"}}
    assert data["id"] != custom["id"], "each message has its own id (tabs of one conversation store it once)"
