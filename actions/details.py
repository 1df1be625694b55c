"""Details of one organisation, and who to contact there."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.answer import answer_question
from actions.common import call_db, guarded, referenced_org, set_focus
from actions.formatting import button, card, custom, introduce_button, person_button, place_text, sources_text
from actions.i18n import tr


def _unknown(dispatcher: CollectingDispatcher, name: str | None, suggestions: list[str], intent: str) -> list:
    if not name:
        dispatcher.utter_message(response="utter_ask_which_org")
    else:
        dispatcher.utter_message(
            response="utter_org_unknown",
            name=name,
            suggestions=(" Did you mean " + " or ".join(suggestions) + "?") if suggestions else "",
            buttons=[button(s, intent, org_name=s) for s in suggestions],
        )
    return []


class ActionOrgDetails(Action):
    def name(self) -> str:
        return "action_org_details"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        if db.asked_facts(tracker.latest_message.get("text")):  # "how many members does X have?"
            answered = await answer_question(dispatcher, tracker, guess=True)
            if answered is not None:
                return answered
        ref = referenced_org(tracker)
        detail, suggestions = await call_db(db.get_organisation, ref) if ref else (None, [])
        if detail is None:
            return _unknown(dispatcher, ref, suggestions, "ask_details")
        org = detail.org
        facts = []
        if detail.members:
            facts.append(tr("{n} members", n=detail.members))
        if detail.smes:
            facts.append(tr("{n} SMEs", n=detail.smes))
        if detail.member_of:
            facts.append(tr("member of {names}", names=", ".join(detail.member_of)))
        if detail.has_members:
            facts.append(tr("members: {names}", names=", ".join(detail.has_members)))
        dispatcher.utter_message(
            response="utter_org_details",
            name=org.name,
            kind=tr(org.kind.replace("_", " ")),
            place=place_text(org),
            description=detail.description or tr("The documents give no description."),
            sectors=", ".join(org.sectors) or tr("not stated"),
            facts=("; ".join(facts) + ".") if facts else "",
            interests=tr("Looking for: {text}", text=detail.interests) if detail.interests else "",
            website=tr("Website: {url}", url=org.website) if org.website else "",
            aliases=tr("Also known as {names}.", names=", ".join(detail.aliases[:4])) if detail.aliases else "",
            sources=sources_text(detail.sources),
            buttons=([button("Partners", "ask_partners", org_name=org.name)] if detail.partnership_count else [])
            + ([button("Contacts", "ask_contact", org_name=org.name)] if detail.contact_count else [])
            + [
                introduce_button(org.name),
                person_button(),
            ],
            json_message=custom("organisation", [card(org, detail.description)], detail.sources),
        )
        return [SlotSet("focus_org", org.id), *set_focus(("organisations", [org.id]))]


class ActionShowContacts(Action):
    def name(self) -> str:
        return "action_show_contacts"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        if {"phone", "website"} & set(db.asked_facts(tracker.latest_message.get("text"))):
            answered = await answer_question(dispatcher, tracker, guess=True)
            if answered is not None:
                return answered
        ref = referenced_org(tracker)
        org, contacts, suggestions = await call_db(db.contacts_of, ref) if ref else (None, [], [])
        if org is None:
            return _unknown(dispatcher, ref, suggestions, "ask_contact")
        if not contacts:
            dispatcher.utter_message(
                response="utter_no_contacts",
                name=org.name,
                buttons=[
                    introduce_button(org.name),
                    person_button(),
                ],
            )
            return [SlotSet("focus_org", org.id), *set_focus(("organisations", [org.id]))]
        lines = [
            f"**{c.name}**"
            + (f", {c.role}" if c.role else "")
            + (tr(" ({name}, a member)", name=c.organisation) if c.organisation and c.organisation != org.name else "")
            + (f" — {c.email}" if c.email else "")
            for c in contacts
        ]
        dispatcher.utter_message(
            response="utter_contacts",
            name=org.name,
            results="\n".join(f"• {line}" for line in lines),
            sources=sources_text(s for c in contacts for s in c.sources),
            buttons=[introduce_button(org.name)],
            json_message=custom(
                "contacts",
                [{"name": c.name, "role": c.role, "email": c.email} for c in contacts],
                [s for c in contacts for s in c.sources],
                organisation=org.name,
            ),
        )
        return [
            SlotSet("focus_org", org.id),
            *set_focus(("contacts", [c.id for c in contacts]), ("organisations", [org.id])),
        ]
