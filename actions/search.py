"""Searching organisations, and the follow-ups that re-run a search: show more, refine."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.common import call_db, clean, entities, entity, guarded, set_focus
from actions.formatting import (
    PAGE,
    button,
    card,
    custom,
    next_step_buttons,
    numbered,
    org_line,
    person_button,
    sources_text,
)
from actions.i18n import plural, tr

CRITERIA = ("sector", "place", "country", "kind", "name")


def count_text(n: int, lower_bound: bool = False) -> str:
    if lower_bound:
        return tr("{n}+ organisations", n=n)
    return plural(n, "{n} organisation", "{n} organisations")


def search_params(tracker: Tracker) -> dict[str, str]:
    """Search criteria from the latest message's entities."""
    ents = tracker.latest_message.get("entities") or []
    place_spans = {(e.get("start"), e.get("end")) for e in ents if e.get("entity") in {"place", "country"}}
    names = [
        clean(e.get("value"))
        for e in ents
        if e.get("entity") == "org_name" and (e.get("start"), e.get("end")) not in place_spans
    ]
    countries = entities(tracker, "country")
    params = {
        "sector": entity(tracker, "sector"),
        "place": entity(tracker, "place"),
        "country": countries[-1] if countries else None,
        "kind": entity(tracker, "org_kind"),
        "name": names[0] if names else None,
    }
    return {k: v for k, v in params.items() if v}


async def run_search(dispatcher: CollectingDispatcher, params: dict[str, Any], offset: int = 0) -> list:
    """Search, say the results (or why there are none), remember the query for follow-ups."""
    params = {k: clean(v) for k, v in params.items() if k in CRITERIA and clean(v)}
    if not params:
        dispatcher.utter_message(response="utter_ask_search_criteria")
        return []
    result = await call_db(db.search_organisations, limit=PAGE, offset=offset, **params)
    if result.unresolved:
        for key, value in result.unresolved.items():
            hint = result.suggestions.get(key) or []
            dispatcher.utter_message(
                response="utter_criterion_unknown",
                criterion=key.replace("kind", "kind of organisation"),
                value=value,
                suggestions=(" Did you mean " + " or ".join(hint) + "?") if hint else "",
                buttons=[
                    button(h, "search_organisations", **{("org_kind" if key == "kind" else key): h}) for h in hint
                ],
            )
        return []
    criteria = " · ".join(result.criteria.values())
    if not result.hits:
        return _no_results(dispatcher, result, criteria, offset)
    ids = [h.org.id for h in result.hits]
    sources = await call_db(db.organisation_sources, ids)
    lines = [org_line(h.org, h.reasons) for h in result.hits]
    dispatcher.utter_message(
        response="utter_search_results" if offset == 0 else "utter_more_results",
        count=count_text(result.total, result.total_is_lower_bound),
        criteria=criteria,
        first=offset + 1,
        last=offset + len(lines),
        results=numbered(lines, offset + 1),
        sources=sources_text(s for hit_sources in sources.values() for s in hit_sources),
        buttons=next_step_buttons(len(lines), result.has_more, result.hits[0].org.name if len(lines) == 1 else None),
        json_message=custom(
            "organisations",
            [card(h.org, "; ".join(h.reasons[:2])) for h in result.hits],
            [s for v in sources.values() for s in v],
            total=result.total,
            offset=offset,
        ),
    )
    events = [
        SlotSet("last_query", {"type": "search", "params": params, "offset": offset + len(lines)}),
        SlotSet("last_results", ids),
    ]
    if len(ids) == 1:
        events.append(SlotSet("focus_org", ids[0]))
    return events + set_focus(("organisations", ids))


def _no_results(dispatcher, result, criteria: str, offset: int) -> list:
    if offset:
        dispatcher.utter_message(response="utter_no_more_results")
        return []
    alternatives = result.alternatives
    if alternatives:
        lines = [f"{a.description}: {count_text(a.total)}, e.g. {', '.join(a.examples)}" for a in alternatives]
        dispatcher.utter_message(
            response="utter_no_results_alternatives",
            criteria=criteria,
            alternatives=numbered(lines),
            buttons=[
                button(
                    f"Show {a.description}"[:64],
                    "search_organisations",
                    **{("org_kind" if k == "kind" else k): v for k, v in a.criteria.items()},
                )
                for a in alternatives
            ]
            + [person_button()],
        )
    else:
        dispatcher.utter_message(response="utter_no_results", criteria=criteria)
    return [SlotSet("last_results", [])]


class ActionSearchOrganisations(Action):
    def name(self) -> str:
        return "action_search_organisations"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        return await run_search(dispatcher, search_params(tracker))
