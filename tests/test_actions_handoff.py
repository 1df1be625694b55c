"""Handoff actions with CollectingDispatcher + Tracker.from_dict over a real SQLite database:
action_handoff opens a ticket (transcript, profile, channel, reason) and answers in or out of
office hours; an introduction request opens a lead that does not silence the assistant."""

from __future__ import annotations

import datetime as dt

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import db
from actions import handoff as action_module
from actions.handoff import ActionHandoff
from actions.introductions import ActionIntroductionStatus, ActionRequestIntroduction
from db import handoff as h

WEB_SESSION = "0123456789abcdef0123456789abcdef.0123456789abcdef01234567"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@pytest.fixture
def kb(sqlite_kb_file, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{sqlite_kb_file}")
    monkeypatch.setenv("KAKEHASHI_OFFICE_HOURS", "always")
    yield
    db.dispose_all()


def user(text: str, intent: str = "inform", channel: str = "socketio", ts: float = 1_700_000_000.0) -> dict:
    return {"event": "user", "text": text, "timestamp": ts, "input_channel": channel,
            "parse_data": {"intent": {"name": intent, "confidence": 0.9}}}  # fmt: skip


def bot(text: str, ts: float = 1_700_000_001.0) -> dict:
    return {"event": "bot", "text": text, "timestamp": ts}


def tracker(
    events: list[dict],
    sender: str = WEB_SESSION,
    slots: dict | None = None,
    text: str = "",
    intent: str = "human_handoff",
    entities: list | None = None,
    metadata: dict | None = None,
) -> Tracker:
    return Tracker.from_dict({
        "sender_id": sender, "slots": slots or {}, "events": events, "paused": False, "followup_action": None,
        "active_loop": {}, "latest_action_name": "action_listen",
        "latest_message": {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or [],
                           "intent_ranking": [], "metadata": metadata or {}},
    })  # fmt: skip


async def run(action, t: Tracker) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


def closed_now_hours() -> tuple[str, str]:
    """Office hours that are certainly closed now: an hour on another weekday."""
    day = DAYS[(dt.datetime.now(dt.UTC).weekday() + 3) % 7]
    return f"{day} 10:00-11:00 UTC", day


async def test_asking_for_a_person_opens_a_ticket_and_says_a_person_will_reply(kb):
    events = [
        user("biotech clusters in Osaka", "search_organisations"),
        bot("I found 3 organisations for biotech in Osaka: …"),
        user("\u2060/human_handoff", "human_handoff", ts=1_700_000_002.0),
    ]
    slots = {"profile_sector": "Biotechnology", "profile_home": "Lyon", "sector": "Biotechnology", "place": None}
    messages, returned = await run(
        ActionHandoff(), tracker(events, slots=slots, metadata={"site_cluster": "Lyonbiopôle"})
    )
    assert returned == []
    assert [m["response"] for m in messages] == ["utter_handoff_waiting"]

    ticket = h.active_ticket(WEB_SESSION)
    assert ticket is not None and ticket.reason == "asked_for_person" and ticket.status == "waiting"
    assert (ticket.channel, ticket.recipient) == ("socketio", WEB_SESSION)
    assert ticket.profile == {"profile_sector": "Biotechnology", "profile_home": "Lyon", "sector": "Biotechnology",
                              "site_cluster": "Lyonbiopôle", "language": "en"}  # fmt: skip
    transcript = [(m.sender, m.text) for m in h.messages_since(ticket.id) if m.sender != "system"]
    assert transcript == [
        ("user", "biotech clusters in Osaka"),
        ("assistant", "I found 3 organisations for biotech in Osaka: …"),
        ("user", "/human_handoff"),
    ]
    assert h.messages_since(ticket.id)[0].created_at == dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)

    again, _ = await run(ActionHandoff(), tracker(events, slots=slots))  # asking twice: one ticket
    assert again[0]["response"] == "utter_handoff_waiting"
    assert [t.id for t in h.tickets_of(WEB_SESSION)] == [ticket.id]


async def test_out_of_hours_the_user_learns_when_to_expect_an_answer(kb, monkeypatch):
    setting, day = closed_now_hours()
    monkeypatch.setenv("KAKEHASHI_OFFICE_HOURS", setting)
    messages, _ = await run(ActionHandoff(), tracker([user("a person please", "human_handoff")]))
    assert messages[0]["response"] == "utter_handoff_after_hours"
    assert messages[0]["hours"] == f"{day} 10:00–11:00, UTC time"
    weekday = {"Mon": "Monday", "Tue": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday", "Fri": "Friday",
               "Sat": "Saturday", "Sun": "Sunday"}[day]  # fmt: skip
    assert messages[0]["next_opening"].startswith(weekday) and messages[0]["next_opening"].endswith("10:00 UTC time")
    assert h.active_ticket(WEB_SESSION) is not None  # the ticket waits; nothing the user writes is lost


async def test_broken_office_hours_still_open_the_ticket(kb, monkeypatch):
    monkeypatch.setenv("KAKEHASHI_OFFICE_HOURS", "whenever")
    messages, _ = await run(ActionHandoff(), tracker([user("human please", "human_handoff")]))
    assert messages[0]["response"] == "utter_handoff_waiting"
    assert h.active_ticket(WEB_SESSION) is not None


async def test_telegram_conversations_are_routed_to_the_chat(kb):
    t = tracker([user("talk to a human", "human_handoff", channel="rest")], sender="tg-4242:1",
                metadata={"display_name": "Kenji Sato"})  # fmt: skip
    await run(ActionHandoff(), t)
    ticket = h.active_ticket("tg-4242:1")
    assert (ticket.channel, ticket.recipient, ticket.display_name) == ("telegram", "4242", "Kenji Sato")


async def test_two_misunderstandings_then_yes_is_not_understood(kb):
    events = [
        user("blorp", "nlu_fallback"), bot("I'm not sure I understood."),
        user("zzz qqq", "nlu_fallback"), bot("I still didn't get that, sorry. Would you like to talk to a person?"),
        user("yes", "affirm"),
    ]  # fmt: skip
    await run(ActionHandoff(), tracker(events, intent="affirm"))
    assert h.active_ticket(WEB_SESSION).reason == "not_understood"


@pytest.mark.parametrize(
    "events",
    [
        [user("blorp", "nlu_fallback"), user("human", "human_handoff")],  # one miss
        [
            user("blorp", "nlu_fallback"),
            user("x", "nlu_fallback"),
            user("find biotech", "search_organisations"),
            user("human", "human_handoff"),
        ],
        [],
    ],
)
async def test_otherwise_the_reason_is_asked_for_person(kb, events):
    assert action_module.reason(tracker(events)) == "asked_for_person"


async def test_the_database_down_gives_a_clear_apology(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/none")
    messages, events = await run(ActionHandoff(), tracker([user("human", "human_handoff")]))
    assert [m["response"] for m in messages] == ["utter_kb_unavailable"] and events == []
    db.dispose_all()


async def test_an_introduction_request_is_a_lead_in_the_helpdesk_queue(kb):
    sender = "intro-handoff-1"
    t = tracker(
        [user("introduce me to techtera", "request_introduction", channel="rest")],
        sender=sender,
        text="introduce me to techtera",
        intent="request_introduction",
        entities=[{"entity": "org_name", "value": "Techtera"}],
        slots={"profile_sector": "Textiles"},
    )
    messages, _ = await run(ActionRequestIntroduction(), t)
    assert messages[0]["response"] == "utter_introduction_created"
    lead = h.current_ticket(sender)
    assert lead.reason == "introduction" and lead.status == "waiting"
    assert lead.profile["introduction_to"] == "Techtera" and lead.profile["profile_sector"] == "Textiles"
    assert h.active_ticket(sender) is None  # the assistant keeps answering…
    status, _ = await run(ActionIntroductionStatus(), tracker([], sender=sender, intent="ask_introduction_status"))
    assert "Techtera" in status[0]["results"]  # …e.g. "what happened to my introduction request?"

    again, _ = await run(ActionRequestIntroduction(), t)  # the same request: no second ticket
    assert again[0]["response"] == "utter_introduction_exists"
    assert len(h.tickets_of(sender)) == 1

    await run(ActionHandoff(), tracker([user("talk to a person now", "human_handoff", channel="rest")], sender=sender))
    held = h.active_ticket(sender)
    assert held is not None and held.id == lead.id  # the "Talk to a person now" button: the lead now holds it
