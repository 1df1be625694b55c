"""The start of a conversation session: earlier slots carried over (as Rasa's default does), and
the language the channel knows — the widget's `data-language` or page `lang`, Telegram's
`language_code` — taken as the conversation's language until the user's own words say otherwise."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

LANGUAGES = ("en", "ja", "de", "fr")
NOT_CARRIED = {"session_started_metadata", "requested_slot"}


def hinted_language(metadata: object) -> str | None:
    """ "ja", "ja-JP", "de_AT" → the language if it is one the assistant speaks."""
    if not isinstance(metadata, dict):
        return None
    value = str(metadata.get("language") or "").strip().lower().replace("_", "-").split("-")[0]
    return value if value in LANGUAGES else None


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        carried = {k: v for k, v in tracker.current_slot_values().items() if v is not None and k not in NOT_CARRIED}
        events += [SlotSet(k, v) for k, v in carried.items()]
        hint = hinted_language(tracker.get_slot("session_started_metadata"))
        if hint and not carried.get("language"):
            events.append(SlotSet("language", hint))
        events.append(ActionExecuted("action_listen"))
        return events
