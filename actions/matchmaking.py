"""Matchmaking: read the requester's profile from what they said, ask only for what is missing
(matchmaking_form), and recommend partners with the reasons behind each score."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.common import GuardedFormValidation, call_db, clean, entities, entity, guarded, set_focus, slot
from actions.formatting import (
    PAGE,
    button,
    card,
    custom,
    details_button,
    numbered,
    person_button,
    place_text,
    sources_text,
)
from actions.i18n import tr

_TARGET_BEFORE = re.compile(r"\b(in|into|to|with|towards|from the|for)\s+(the\s+)?$", re.IGNORECASE)
# "a biotech SME in Munich", "based in Lyon", "we're from Hungary": where the requester is.
_HOME_BEFORE = re.compile(
    r"(\b(from|based in|located in|headquartered in|here in)\s+(the\s+)?$)|"
    r"(\b(we|i)\s*('re|'m| are| am)\b[^.?!,;]*\b(in)\s+(the\s+)?$)|"
    r"(\b(company|sme|firm|startup|start-up|cluster|team|business|manufacturer|university|lab|institute|"
    r"supplier|maker|group|association|network|spin-off)\b[^.?!,;]{0,30}\bin\s+(the\s+)?$)",
    re.IGNORECASE,
)
# "partners in Germany", "expand to Japan", "work with Kansai": where they look.
_WANT_BEFORE = re.compile(
    r"\b(partners?|clusters?|companies|counterparts?|contacts?|markets?|expand\w*|export\w*|looking|work|"
    r"cooperat\w*|collaborat\w*|sell\w*|enter\w*)\b[^.?!,;]{0,15}\b(in|into|to|with|towards|for)\s+(the\s+)?$",
    re.IGNORECASE,
)
_DEMONYM = re.compile(r"(ese|ish|ch|an|ian)$", re.IGNORECASE)


def _is_demonym(said: str, value: str | None) -> bool:
    """ "French" for France, "Japanese" for Japan: an adjective, i.e. not the name itself."""
    return bool(said) and said.lower() != (value or "").lower() and bool(_DEMONYM.search(said))


def split_home_target(tracker: Tracker) -> tuple[str | None, str | None]:
    """Where the requester is (home) and where they look (target), from place/country entities.

    "a French SME", "a company in Munich", "based in Lyon", "from Hungary" mark home; "in/into/to/
    with X" otherwise marks a target; a place left over goes to whichever side is still open
    ("… in hungary, japan interesting for us?": Hungary home, Japan target)."""
    text = tracker.latest_message.get("text") or ""
    home = target = None
    undecided: list[str] = []
    for ent in tracker.latest_message.get("entities") or []:
        if ent.get("entity") not in {"place", "country"}:
            continue
        value, start = clean(ent.get("value")), ent.get("start")
        before = text[max(0, start - 60) : start] if isinstance(start, int) else ""
        said = text[start : ent.get("end")] if isinstance(start, int) else ""
        if _WANT_BEFORE.search(before) and not _is_demonym(said, value):
            target = target or value
        elif _is_demonym(said, value) or _HOME_BEFORE.search(before):
            home = home or value
        elif _TARGET_BEFORE.search(before[-20:]):
            target = target or value
        else:
            undecided.append(value)
    for value in undecided:
        if home is None and value != target:
            home = value
        elif target is None and value != home:
            target = value
    if home == target:
        target = None
    return home, target


class ActionExtractProfile(Action):
    """Fill the profile slots from the message that asked for partners, before the form asks."""

    def name(self) -> str:
        return "action_extract_profile"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        home, target = split_home_target(tracker)
        sectors = entities(tracker, "sector")
        values = {
            "profile_sector": ", ".join(sectors) if sectors else None,
            "profile_home": home,
            "profile_target": target,
            "profile_kind": entity(tracker, "org_kind"),
        }
        # Only what was said now; earlier answers stay, and the form asks for what is missing.
        return [SlotSet(k, v) for k, v in values.items() if v]


class ValidateMatchmakingForm(GuardedFormValidation):
    def name(self) -> str:
        return "validate_matchmaking_form"

    async def validate_profile_sector(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        names = [await call_db(db.sector_name, part) for part in (clean(value) or "").split(",")]
        known = [n for n in names if n]
        if not known:
            dispatcher.utter_message(response="utter_sector_unknown", value=clean(value) or "")
            return {"profile_sector": None}
        return {"profile_sector": ", ".join(dict.fromkeys(known))}

    async def validate_profile_home(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        name = await call_db(db.place_name, clean(value))
        if not name:
            dispatcher.utter_message(response="utter_place_unknown", value=clean(value) or "")
            return {"profile_home": None}
        return {"profile_home": name}


async def run_recommend(dispatcher: CollectingDispatcher, tracker: Tracker, offset: int = 0) -> list:
    sectors = [s.strip() for s in (slot(tracker, "profile_sector") or "").split(",") if s.strip()]
    profile = db.Profile(
        sectors=sectors,
        home=slot(tracker, "profile_home"),
        target=slot(tracker, "profile_target"),
        kind=slot(tracker, "profile_kind"),
    )
    result = await call_db(db.recommend_partners, profile, limit=offset + PAGE)
    recs = result.recommendations[offset:]
    who = " ".join(
        v
        for v in (profile.kind or "organisation", f"in {result.profile['home']}" if result.profile.get("home") else "")
        if v
    )
    if not recs:
        dispatcher.utter_message(
            response="utter_no_recommendations",
            target=result.profile.get("target") or "",
            sectors=", ".join(result.profile.get("sectors") or sectors) or "your sector",
            buttons=[person_button()],
        )
        return await _same_sector_elsewhere(dispatcher, result.profile.get("sectors") or [])
    lines = [
        f"**{r.org.name}** — {place_text(r.org)} (score {r.score:g}): "
        + "; ".join(reason.text for reason in r.reasons[:3])
        for r in recs
    ]
    dispatcher.utter_message(
        response="utter_recommendations",
        target=result.profile.get("target") or "",
        who=who,
        sectors=", ".join(result.profile["sectors"]),
        results=numbered(lines, offset + 1),
        notes=" ".join(result.notes),
        sources=sources_text(s for r in recs for s in r.sources),
        buttons=[
            button("Show more", "show_more"),
            button(tr("Details of no. {n}", n=offset + 1), "ask_details", ordinal=str(offset + 1)),
            button(
                tr("Introduce me to {name}", name=recs[0].org.name), "request_introduction", org_name=recs[0].org.name
            ),
            person_button(),
        ],
        json_message=custom(
            "recommendations",
            [dict(card(r.org), score=r.score, reasons=[x.to_dict() for x in r.reasons]) for r in recs],
            [s for r in recs for s in r.sources],
        ),
    )
    return [
        SlotSet("last_results", [r.org.id for r in recs]),
        *set_focus(("organisations", [r.org.id for r in recs])),
        SlotSet("last_query", {"type": "recommend", "params": {}, "offset": offset + len(recs)}),
    ]


async def _same_sector_elsewhere(dispatcher: CollectingDispatcher, sectors: list[str]) -> list:
    """Nobody on the other side works in the sector: the organisations that do, anywhere (often a
    cluster on the requester's own side that already works with Japan is the way in)."""
    hits = []
    for sector in sectors[:2]:
        found = await call_db(db.search_organisations, sector=sector, limit=PAGE)
        hits += [h for h in found.hits if h.org.id not in {x.org.id for x in hits}]
    if not hits:
        return []
    lines = [f"**{h.org.name}** — {place_text(h.org)}: " + "; ".join(h.reasons[:2]) for h in hits[:PAGE]]
    dispatcher.utter_message(
        response="utter_same_sector_elsewhere",
        sectors=", ".join(sectors),
        results=numbered(lines),
        buttons=[details_button(hits[0].org.name)],
    )
    ids = [h.org.id for h in hits[:PAGE]]
    return [SlotSet("last_results", ids), *set_focus(("organisations", ids))]


class ActionRecommendPartners(Action):
    def name(self) -> str:
        return "action_recommend_partners"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        return await run_recommend(dispatcher, tracker)
