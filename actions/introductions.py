"""Introduction requests: record the lead for staff, and tell the user what became of it."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.answer import answer_question
from actions.common import GuardedFormValidation, call_db, clean, focus_keys, guarded, referenced_org, slot
from actions.formatting import button
from actions.handoff import open_ticket
from actions.i18n import language_of, tr

STATUS_TEXT = {
    "new": "received, waiting for our team",
    "in_progress": "being handled by our team",
    "introduced": "done — you have been introduced",
    "declined": "declined",
    "closed": "closed",
}


def _status(status: str) -> str:
    return tr(STATUS_TEXT.get(status, status))


# What stops a request, in the four languages; anything else during the questions is an answer.
_CANCEL = re.compile(
    r"^\W*(no|nope|cancel|stop|forget it|never ?mind|not now|nein|abbrechen|vergiss es|non|annuler|laisse tomber|"
    r"いいえ|やめ|キャンセル|結構です)\b|\b(cancel|forget it|abbrechen|annuler)\b|やめて|キャンセル",
    re.IGNORECASE,
)
_ABOUT_INTRODUCTIONS = re.compile(
    r"introduc|request|in touch|anfrage|vorstell|kontakt|demande|mise en relation|présent|presentat|"
    r"紹介|依頼|リクエスト",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]{2,}$")
REQUESTER = ("requester_name", "requester_org", "requester_email")


def _listed_org_ids(tracker: Tracker) -> list[str]:
    ids = [str(x) for x in tracker.get_slot("last_results") or []]
    ids += [rid for rtype, rid in focus_keys(tracker) if rtype == "organisations"]
    return list(dict.fromkeys(ids))[:5]


class ActionPrepareIntroduction(Action):
    """Start an introduction request: whom to meet (named, by ordinal from the list, or the
    organisation in focus) — the form then asks only for what it does not know yet."""

    def name(self) -> str:
        return "action_prepare_introduction"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        ref = referenced_org(tracker)
        org = (await call_db(db.resolve_organisation, ref))[0] if ref else None
        # a new request: the target and what it is for are asked afresh; who the requester is stays
        return [
            SlotSet("intro_org", org.name if org else None),
            SlotSet("intro_purpose", None),
            SlotSet("intro_confirmed", None),
        ]


class ActionAskIntroOrg(Action):
    """ "Put me in touch" with nothing named: offer the organisations just shown."""

    def name(self) -> str:
        return "action_ask_intro_org"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        names = []
        for oid in _listed_org_ids(tracker):
            org, _ = await call_db(db.resolve_organisation, oid)
            if org:
                names.append(org.name)
        dispatcher.utter_message(
            text=tr("Whom would you like to be introduced to?")
            + ("" if names else " " + tr("Name the organisation, e.g. “Osaka Bio Headquarters”.")),
            buttons=[button(n, "inform", org_name=n) for n in names],
        )
        return []


class ValidateIntroductionForm(GuardedFormValidation):
    def name(self) -> str:
        return "validate_introduction_form"

    async def validate_intro_org(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict:
        org, suggestions = await call_db(db.resolve_organisation, clean(value))
        if org is None:
            dispatcher.utter_message(
                response="utter_org_unknown",
                name=clean(value) or "",
                suggestions=tr(" Did you mean {names}?", names=" / ".join(suggestions)) if suggestions else "",
                buttons=[button(n, "inform", org_name=n) for n in suggestions],
            )
            return {"intro_org": None}
        return {"intro_org": org.name}

    async def validate_requester_name(self, value: Any, dispatcher, tracker: Tracker, domain: dict) -> dict:
        return {"requester_name": clean(value, 120)}

    async def validate_requester_org(self, value: Any, dispatcher, tracker: Tracker, domain: dict) -> dict:
        return {"requester_org": clean(value, 200)}

    async def validate_requester_email(self, value: Any, dispatcher, tracker: Tracker, domain: dict) -> dict:
        text = (clean(value, 200) or "").strip(" .;,<>")
        found = next((w.strip(" .;,<>()") for w in text.split() if "@" in w), text)
        if not _EMAIL.match(found):
            dispatcher.utter_message(response="utter_invalid_email")
            return {"requester_email": None}
        return {"requester_email": found}

    async def validate_intro_purpose(self, value: Any, dispatcher, tracker: Tracker, domain: dict) -> dict:
        return {"intro_purpose": clean(value, 1000)}


class ActionCancelIntroduction(Action):
    def name(self) -> str:
        return "action_cancel_introduction"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        asked = _last_requested_slot(tracker)
        text = clean(tracker.latest_message.get("text"), 1000) or ""
        if asked and asked not in {"intro_org", "intro_confirmed"} and not _CANCEL.search(text):
            # "Marie Dupont" read as a "no": it was the answer to the question asked — take it
            # and carry on with the request
            return [SlotSet(asked, text), FollowupAction("introduction_form")]
        dispatcher.utter_message(response="utter_introduction_cancelled")
        return [SlotSet("intro_org", None), SlotSet("intro_purpose", None), SlotSet("intro_confirmed", None)]


def _last_requested_slot(tracker: Tracker) -> str | None:
    for event in reversed(tracker.events):
        if event.get("event") == "slot" and event.get("name") == "requested_slot" and event.get("value"):
            return str(event["value"])
    return None


class ActionRequestIntroduction(Action):
    """The confirmed request: one record (with who asks, how to reach them and what for) in the
    helpdesk queue; the requester hears its status in their own channel."""

    def name(self) -> str:
        return "action_request_introduction"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        org = slot(tracker, "intro_org") or referenced_org(tracker)
        if not org:
            dispatcher.utter_message(response="utter_ask_which_org")
            return []
        profile = {k: slot(tracker, k) for k in ("profile_sector", "profile_home", "profile_target", "profile_kind")}
        requester = {k: slot(tracker, k) for k in REQUESTER}
        purpose = slot(tracker, "intro_purpose")
        request, created, suggestions = await call_db(
            db.request_introduction,
            tracker.sender_id,
            org,
            channel=tracker.get_latest_input_channel(),
            profile={**{k: v for k, v in profile.items() if v}, **{k: v for k, v in requester.items() if v},
                     "language": language_of(tracker)},
            message=purpose or tracker.latest_message.get("text"),
        )  # fmt: skip
        if request is None:
            dispatcher.utter_message(
                response="utter_org_unknown",
                name=org,
                suggestions=tr(" Did you mean {names}?", names=" / ".join(suggestions)) if suggestions else "",
                buttons=[button(s, "request_introduction", org_name=s) for s in suggestions],
            )
            return []
        if created:  # the lead in the helpdesk queue; it holds the conversation only once staff take it
            await open_ticket(
                tracker, "introduction", {"introduction_to": request.org_name, **requester, "purpose": purpose}
            )
        dispatcher.utter_message(
            response="utter_introduction_created" if created else "utter_introduction_exists",
            name=request.org_name,
            email=requester.get("requester_email") or tr("the address you gave"),
            status=_status(request.status),
            buttons=[button("Talk to a person now", "human_handoff")],
        )
        return [SlotSet("focus_org", org), SlotSet("intro_confirmed", None)]


class ActionIntroductionStatus(Action):
    def name(self) -> str:
        return "action_introduction_status"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        requests = await call_db(db.introduction_requests, tracker.sender_id)
        if not requests:
            # a question that does not mention introductions was misread as one: try the sources
            text = tracker.latest_message.get("text") or ""
            answered = None if _ABOUT_INTRODUCTIONS.search(text) else await answer_question(dispatcher, tracker, True)
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
