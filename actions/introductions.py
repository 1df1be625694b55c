"""Introduction requests: record the lead for staff, and tell the user what became of it."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.answer import answer_question
from actions.common import call_db, guarded, referenced_org, slot
from actions.formatting import button
from actions.handoff import open_ticket
from actions.i18n import tr

STATUS_TEXT = {
    "new": "received, waiting for our team",
    "in_progress": "being handled by our team",
    "introduced": "done — you have been introduced",
    "declined": "declined",
    "closed": "closed",
}


def _status(status: str) -> str:
    return tr(STATUS_TEXT.get(status, status))


class ActionRequestIntroduction(Action):
    def name(self) -> str:
        return "action_request_introduction"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        org = referenced_org(tracker)
        if not org:
            dispatcher.utter_message(response="utter_ask_which_org")
            return []
        profile = {k: slot(tracker, k) for k in ("profile_sector", "profile_home", "profile_target", "profile_kind")}
        request, created, suggestions = await call_db(
            db.request_introduction,
            tracker.sender_id,
            org,
            channel=tracker.get_latest_input_channel(),
            profile={k: v for k, v in profile.items() if v},
            message=tracker.latest_message.get("text"),
        )
        if request is None:
            dispatcher.utter_message(
                response="utter_org_unknown",
                name=org,
                suggestions=(" Did you mean " + " or ".join(suggestions) + "?") if suggestions else "",
                buttons=[button(s, "request_introduction", org_name=s) for s in suggestions],
            )
            return []
        if created:  # the lead in the helpdesk queue; it holds the conversation only once staff take it
            await open_ticket(tracker, "introduction", {"introduction_to": request.org_name})
        dispatcher.utter_message(
            response="utter_introduction_created" if created else "utter_introduction_exists",
            name=request.org_name,
            status=_status(request.status),
            buttons=[button("Talk to a person now", "human_handoff")],
        )
        return [SlotSet("focus_org", org)]


class ActionIntroductionStatus(Action):
    def name(self) -> str:
        return "action_introduction_status"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        requests = await call_db(db.introduction_requests, tracker.sender_id)
        if not requests:
            answered = await answer_question(dispatcher, tracker, guess=True)
            if answered is not None:
                return answered
            dispatcher.utter_message(response="utter_no_introductions")
            return []
        lines = "\n".join(
            f"• {r.org_name}: "
            + tr("{status} (asked {date})", status=tr(STATUS_TEXT.get(r.status, r.status)), date=r.created_at[:10])
            for r in requests
        )
        dispatcher.utter_message(response="utter_introduction_status", results=lines)
        return []
