"""Who partners with whom: ties of one organisation, or partnerships between countries."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.common import call_db, entities, entity, guarded, referenced_org, set_focus
from actions.formatting import PAGE, button, card, custom, details_button, numbered, person_button, sources_text
from actions.i18n import plural, tr

KIND_LABELS = {
    "mou": "MoU",
    "letter_of_intent": "letter of intent",
    "rit_project": "JETRO RIT project",
    "ministerial_moc": "ministerial memorandum of cooperation",
}


def _country(country: str | None) -> str:
    return f" ({country})" if country else ""


def tie_label(kind: str, year: int | None) -> str:
    label = tr(KIND_LABELS.get(kind, kind.replace("_", " ")))
    return f"{label}, {year}" if year else label


async def run_partners(dispatcher: CollectingDispatcher, params: dict, offset: int = 0) -> list:
    result = await call_db(db.partners_of, params["org"], sector=params.get("sector"), kind=params.get("kind"))
    if result.org is None:
        hint = result.suggestions
        dispatcher.utter_message(
            response="utter_org_unknown",
            name=params["org"],
            suggestions=(" Did you mean " + " or ".join(hint) + "?") if hint else "",
            buttons=[button(h, "ask_partners", org_name=h) for h in hint],
        )
        return []
    partners = result.partners
    if params.get("place"):  # "who does bioXclusters plus work with in Japan?": partners there only
        where = params["place"]
        there = [lk for lk in partners if where in (lk.partner.place_chain or []) or where == lk.partner.country]
        if there:  # none there: the place named the partner itself ("polepharma toyama partnership")
            partners = there
        else:
            params = {**params, "place": None}
    links = partners[offset : offset + PAGE]
    if not links:
        dispatcher.utter_message(
            response="utter_no_partners" if offset == 0 else "utter_no_more_results", name=result.org.name
        )
        return [SlotSet("focus_org", result.org.id), *set_focus(("organisations", [result.org.id]))]
    lines = []
    for link in links:
        via = tr(" (through {name})", name=link.via) if link.via else ""
        outcome = f" — {link.outcome}" if link.outcome else ""
        lines.append(
            f"**{link.partner.name}**{_country(link.partner.country)}: {tie_label(link.kind, link.year)}{via}{outcome}"
        )
    more = offset + PAGE < len(partners)
    dispatcher.utter_message(
        response="utter_partners",
        name=result.org.name,
        count=plural(len(partners), "{n} recorded partnership", "{n} recorded partnerships")
        + (tr(" in {place}", place=params["place"]) if params.get("place") else ""),
        results=numbered(lines, offset + 1),
        sources=sources_text(s for lk in links for s in lk.sources),
        buttons=([button("Show more", "show_more")] if more else [])
        + [
            details_button(links[0].partner.name),
            button(
                tr("Introduce me to {name}", name=result.org.name), "request_introduction", org_name=result.org.name
            ),
            person_button(),
        ],
        json_message=custom(
            "partners",
            [card(lk.partner, tie_label(lk.kind, lk.year)) for lk in links],
            [s for lk in links for s in lk.sources],
            organisation=result.org.name,
        ),
    )
    return [
        SlotSet("focus_org", result.org.id),
        SlotSet("last_results", [lk.partner.id for lk in links]),
        *set_focus(
            ("partnerships", [lk.partnership_id for lk in links]),
            ("organisations", [result.org.id] + [lk.partner.id for lk in links]),
        ),
        SlotSet("last_query", {"type": "partners", "params": params, "offset": offset + len(links)}),
    ]


async def run_partnerships(dispatcher: CollectingDispatcher, params: dict, offset: int = 0) -> list:
    rows, unresolved = await call_db(db.find_partnerships, limit=offset + PAGE + 1, **params)
    if unresolved:
        key, value = next(iter(unresolved.items()))
        dispatcher.utter_message(
            response="utter_criterion_unknown", criterion=key.split("_")[0], value=value, suggestions=""
        )
        return []
    page = rows[offset : offset + PAGE]
    described = " · ".join(v for v in params.values() if v)
    if not page:
        dispatcher.utter_message(
            response="utter_no_partnerships" if offset == 0 else "utter_no_more_results", criteria=described
        )
        return []
    lines = [
        f"**{p.a.name}**{_country(p.a.country)} ↔ **{p.b.name}**{_country(p.b.country)}: {tie_label(p.kind, p.year)}"
        for p in page
    ]
    dispatcher.utter_message(
        response="utter_partnerships",
        criteria=described,
        results=numbered(lines, offset + 1),
        sources=sources_text(s for p in page for s in p.sources),
        buttons=([button("Show more", "show_more")] if len(rows) > offset + PAGE else [])
        + [
            details_button(page[0].a.name),
            person_button(),
        ],
        json_message=custom(
            "partnerships",
            [{"a": card(p.a), "b": card(p.b), "kind": p.kind, "year": p.year} for p in page],
            [s for p in page for s in p.sources],
        ),
    )
    return [
        SlotSet("last_results", [p.a.id for p in page]),
        *set_focus(("partnerships", [p.id for p in page])),
        SlotSet("last_query", {"type": "partnerships", "params": params, "offset": offset + len(page)}),
    ]


class ActionShowPartners(Action):
    def name(self) -> str:
        return "action_show_partners"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        kind = entity(tracker, "partnership_kind")
        sector = entity(tracker, "sector")
        org = entity(tracker, "org_name")
        places = entities(tracker, "country") + entities(tracker, "place")
        if org or not places:
            org = org or referenced_org(tracker)
            if org:
                where = await call_db(db.place_name, places[0]) if places else None
                return await run_partners(dispatcher, {"org": org, "kind": kind, "sector": sector, "place": where})
        if places or kind or sector:
            params = {
                "country_a": places[0] if places else None,
                "country_b": places[1] if len(places) > 1 else None,
                "kind": kind,
                "sector": sector,
                "org_kind": entity(tracker, "org_kind"),
            }
            return await run_partnerships(dispatcher, {k: v for k, v in params.items() if v})
        dispatcher.utter_message(response="utter_ask_which_org")
        return []


class ActionSuccessStories(Action):
    def name(self) -> str:
        return "action_success_stories"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        sector = entity(tracker, "sector")
        country = entity(tracker, "country") or entity(tracker, "place")
        rows, unresolved = await call_db(db.success_stories, sector=sector, country=country, limit=PAGE)
        if unresolved or not rows:
            dispatcher.utter_message(
                response="utter_no_success_stories",
                criteria=" · ".join(v for v in (sector, country) if v) or tr("any sector"),
            )
            return []
        lines = [f"**{p.a.name}** ↔ **{p.b.name}** ({tie_label(p.kind, p.year)}): {p.outcome}" for p in rows]
        dispatcher.utter_message(
            response="utter_success_stories",
            results=numbered(lines),
            sources=sources_text(s for p in rows for s in p.sources),
            buttons=[
                button(tr("Partners of {name}", name=rows[0].a.name), "ask_partners", org_name=rows[0].a.name),
                person_button(),
            ],
            json_message=custom(
                "partnerships",
                [{"a": card(p.a), "b": card(p.b), "kind": p.kind, "year": p.year, "outcome": p.outcome} for p in rows],
                [s for p in rows for s in p.sources],
            ),
        )
        return [SlotSet("last_results", [p.a.id for p in rows]), *set_focus(("partnerships", [p.id for p in rows]))]
