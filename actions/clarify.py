"""Low confidence: offer the top guesses as buttons; the second miss in a row offers a person."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import answer_question
from actions.common import guarded
from actions.formatting import button, person_button
from actions.i18n import tr
from nlu_components.switch import SWITCH

GUESS_TITLES = {
    "search_organisations": "Find organisations",
    "ask_partners": "See who partners with whom",
    "find_partner": "Get partner suggestions for me",
    "ask_programme": "Learn about a support programme",
    "ask_eligibility": "Check if I can apply to a programme",
    "ask_events": "Find events",
    "ask_contact": "Find a contact person",
    "ask_market": "Japanese market figures",
    "ask_success_stories": "See success stories",
    "request_introduction": "Request an introduction",
    "ask_introduction_status": "Check my introduction request",
    "human_handoff": "Talk to a person",
    "help": "What can you do?",
}
MAX_GUESSES = 3


def fallback_streak(tracker: Tracker) -> int:
    """How many of the latest user messages in a row were not understood."""
    streak = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if (event.get("parse_data", {}).get("intent") or {}).get("name") != "nlu_fallback":
            break
        streak += 1
    return streak


class ActionClarify(Action):
    def name(self) -> str:
        return "action_clarify"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        # A follow-up worded in a way the NLU did not place is often still a question about what is
        # on screen (or names something the sources hold): answer it from the sources if they do.
        if any(p.search(tracker.latest_message.get("text") or "") for p in SWITCH.values()):
            dispatcher.utter_message(text=tr("OK — I'll answer in English from now on."))  # "in English please"
            return []
        answered = await answer_question(dispatcher, tracker, guess=True)
        if answered is not None:
            return answered
        if fallback_streak(tracker) >= 2:
            dispatcher.utter_message(
                response="utter_offer_person",
                buttons=[person_button(), button("What can you do?", "help")],
            )
            return []
        ranking = tracker.latest_message.get("intent_ranking") or []
        guesses = [r["name"] for r in ranking if r.get("name") in GUESS_TITLES][:MAX_GUESSES]
        ents = {}
        for ent in tracker.latest_message.get("entities") or []:
            if (
                ent.get("entity") in {"sector", "place", "country", "org_name", "programme"}
                and ent["entity"] not in ents
            ):
                ents[ent["entity"]] = str(ent.get("value"))[:60]
        if not guesses:
            dispatcher.utter_message(response="utter_clarify_none", buttons=[button("What can you do?", "help")])
            return []
        dispatcher.utter_message(
            response="utter_clarify",
            buttons=[button(GUESS_TITLES[g], g, **ents) for g in guesses] + [button("Something else", "help")],
        )
        return []
