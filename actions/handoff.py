"""Asking for a person: open a helpdesk ticket (db.handoff) and tell the user when a person will
answer. While the ticket holds the conversation the channels keep the assistant silent and relay
the user's messages to the staff console (docs/handoff.md)."""

from __future__ import annotations

import datetime as dt
import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import call_db, clean, guarded
from actions.i18n import language_of
from bot.helpdesk import hours
from db import handoff

logger = logging.getLogger(__name__)
MAX_TRANSCRIPT = 100  # latest user/assistant messages copied into the ticket
PROFILE_SLOTS = ("profile_sector", "profile_home", "profile_target", "profile_kind")
CONTEXT_SLOTS = ("sector", "place", "country", "org_name", "focus_org")
_INVISIBLE = "\u2060"  # bot.guard marks typed "/" messages with it


def transcript(tracker: Tracker) -> list[dict]:
    """The conversation so far as the user saw it: user and assistant texts, oldest first."""
    out = []
    for event in tracker.events:
        kind = event.get("event")
        text = event.get("text")
        if kind not in {"user", "bot"} or not isinstance(text, str) or not text.strip():
            continue
        out.append(
            {
                "sender": "user" if kind == "user" else "assistant",
                "text": text.lstrip(_INVISIBLE),
                "at": event.get("timestamp"),
            }
        )
    return out[-MAX_TRANSCRIPT:]


def profile(tracker: Tracker) -> dict:
    """What the user is looking for: the profile_* slots, then the search context."""
    found = {name: clean(tracker.get_slot(name)) for name in PROFILE_SLOTS + CONTEXT_SLOTS}
    metadata = tracker.latest_message.get("metadata") or {}
    found["site_cluster"] = clean(metadata.get("site_cluster")) if isinstance(metadata, dict) else None
    found["language"] = language_of(tracker)  # staff see the language to answer in
    return {k: v for k, v in found.items() if v}


def reason(tracker: Tracker) -> str:
    """not_understood when the messages before this one were misunderstood twice in a row (the
    user accepted action_clarify's offer of a person), else asked_for_person."""
    streak = 0
    users = [e for e in tracker.events if e.get("event") == "user"]
    for event in reversed(users[:-1]):
        if (event.get("parse_data", {}).get("intent") or {}).get("name") != "nlu_fallback":
            break
        streak += 1
    return "not_understood" if streak >= 2 else "asked_for_person"


def display_name(tracker: Tracker) -> str | None:
    """The user's name when the channel passed one (metadata "display_name")."""
    metadata = tracker.latest_message.get("metadata") or {}
    return clean(metadata.get("display_name"), 200) if isinstance(metadata, dict) else None


async def open_ticket(tracker: Tracker, why: str, extra_profile: dict | None = None) -> handoff.Ticket:
    """Hand this conversation to the helpdesk (idempotent); returns its open ticket."""
    channel, recipient = handoff.route_for(tracker.sender_id, tracker.get_latest_input_channel())
    return await call_db(
        handoff.open_ticket,
        tracker.sender_id,
        channel,
        recipient,
        why,
        transcript=transcript(tracker),
        profile={**profile(tracker), **(extra_profile or {})},
        display_name=display_name(tracker),
    )


def opening_hours(now: dt.datetime | None = None) -> tuple[bool, str, str]:
    """(open now, the hours as text, next opening as text). A broken KAKEHASHI_OFFICE_HOURS is
    logged and treated as open: a person may well answer."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        office = hours.office_hours()
        if office.is_open(now):
            return True, office.describe(), ""
        return False, office.describe(), hours.format_opening(office.next_opening(now), office.zone)
    except hours.OfficeHoursError as exc:
        logger.error("%s", exc)
        return True, "", ""


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        await open_ticket(tracker, reason(tracker))
        is_open, office, next_opening = opening_hours()
        if is_open:
            dispatcher.utter_message(response="utter_handoff_waiting")
        else:
            dispatcher.utter_message(response="utter_handoff_after_hours", hours=office, next_opening=next_opening)
        return []
