"""Support programmes: what they are, and whether the user's organisation may apply."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.common import call_db, entity, guarded, set_focus, slot
from actions.formatting import button, custom, numbered, person_button, sources_text
from actions.i18n import tr

VERDICTS = {
    "eligible": "utter_eligible",
    "not_eligible": "utter_not_eligible",
    "depends": "utter_eligibility_depends",
    "no_rules": "utter_eligibility_no_rules",
}
OUTCOME_MARK = {"met": "✓", "not_met": "✗", "unknown": "?"}


async def _programmes_list(dispatcher: CollectingDispatcher, name: str | None) -> list:
    programmes = await call_db(db.list_programmes)
    lines = [p.name + (f" ({p.operator})" if p.operator else "") for p in programmes]
    dispatcher.utter_message(
        response="utter_programme_unknown" if name else "utter_programmes",
        name=name or "",
        results=numbered(lines[:12]),
        buttons=[button(p.name, "ask_programme", programme=p.name) for p in programmes[:4]],
    )
    return []


class ActionProgrammeInfo(Action):
    def name(self) -> str:
        return "action_programme_info"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        name = entity(tracker, "programme")
        info, _ = await call_db(db.get_programme, name) if name else (None, [])
        if info is None:
            return await _programmes_list(dispatcher, name)
        rules = "\n".join(f"• {r}" for r in info.rules) if info.rules else tr("The documents state no specific rules.")
        dispatcher.utter_message(
            response="utter_programme_info",
            name=info.name,
            operator=f" (run by {info.operator})" if info.operator else "",
            started=f" since {info.started}" if info.started else "",
            description=info.description or "",
            rules=rules,
            sources=sources_text(info.sources),
            buttons=[
                button("Can I apply?", "ask_eligibility", programme=info.name),
                person_button(),
            ],
            json_message=custom(
                "programme", [{"name": info.name, "operator": info.operator, "rules": info.rules}], info.sources
            ),
        )
        return [SlotSet("programme", info.name), *set_focus(("programmes", [info.id]))]


class ActionCheckEligibility(Action):
    def name(self) -> str:
        return "action_check_eligibility"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        name = entity(tracker, "programme") or slot(tracker, "programme")
        if not name:
            return await _programmes_list(dispatcher, None)
        home = entity(tracker, "place") or entity(tracker, "country") or slot(tracker, "profile_home")
        kind = entity(tracker, "org_kind") or slot(tracker, "profile_kind")
        sector = entity(tracker, "sector") or slot(tracker, "profile_sector")
        profile = db.Profile(sectors=[sector] if sector else [], home=home, kind=kind)
        result, _ = await call_db(db.check_eligibility, name, profile)
        if result is None:
            return await _programmes_list(dispatcher, name)
        checks = "\n".join(f"{OUTCOME_MARK[c.outcome]} {c.text} {c.explanation}".strip() for c in result.checks)
        dispatcher.utter_message(
            response=VERDICTS[result.verdict],
            name=result.programme.name,
            checks=checks,
            advice=result.advice or "",
            sources=sources_text(result.programme.sources),
            buttons=[button("Find partners for me", "find_partner"), person_button()],
        )
        return [SlotSet("programme", result.programme.name), *set_focus(("programmes", [result.programme.id]))]
