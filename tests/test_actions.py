"""Action tests: each custom action with CollectingDispatcher + Tracker.from_dict over the real
seeded knowledge base (SQLite), asserting what the user would be told."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.clarify import ActionClarify
from actions.details import ActionOrgDetails, ActionShowContacts
from actions.events import ActionFindEvents
from actions.followups import ActionRefineSearch, ActionShowMore
from actions.introductions import ActionIntroductionStatus, ActionRequestIntroduction
from actions.market import ActionMarketFacts
from actions.matchmaking import ActionExtractProfile, ActionRecommendPartners, ValidateMatchmakingForm
from actions.partners import ActionShowPartners, ActionSuccessStories
from actions.programmes import ActionCheckEligibility, ActionProgrammeInfo
from actions.search import ActionSearchOrganisations

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def kb(sqlite_kb_file, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{sqlite_kb_file}")
    yield
    db.dispose_all()


def ent(entity: str, value: str, text: str | None = None, start: int | None = None) -> dict:
    e = {"entity": entity, "value": value}
    if start is not None:
        e.update(start=start, end=start + len(text or value))
    return e


def tracker(
    text: str = "",
    intent: str = "",
    entities: list | None = None,
    slots: dict | None = None,
    events: list | None = None,
    sender: str = "test-user",
) -> Tracker:
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": slots or {},
            "events": events or [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
            "latest_message": {
                "text": text,
                "intent": {"name": intent, "confidence": 0.9},
                "entities": entities or [],
                "intent_ranking": [],
            },
        }
    )


async def run(action, t: Tracker) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


def said(messages: list[dict]) -> str:
    """Everything the user would read: response variables and texts."""
    parts = []
    for m in messages:
        parts += [str(v) for k, v in m.items() if k not in {"buttons", "custom", "template", "response"} and v]
        parts += [b["title"] for b in m.get("buttons") or []]
    return "\n".join(parts)


def slot_events(events: list[dict]) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


# ------------------------------------------------------------------ responses exist


def test_every_response_an_action_uses_is_in_the_domain():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    used = set()
    for path in (ROOT / "actions").glob("*.py"):
        used |= set(re.findall(r'"(utter_[a-z_]+)"', path.read_text()))
    assert used, "no responses found — the scan is broken"
    missing = sorted(used - set(domain["responses"]))
    assert not missing, f"responses used by actions but missing from domain.yml: {missing}"


def test_every_action_is_declared_in_the_domain():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    declared = set(domain["actions"])
    names = set()
    for path in (ROOT / "actions").glob("*.py"):
        names |= set(re.findall(r'return "((?:action|validate)_[a-z_]+)"', path.read_text()))
    assert names - declared == set()


# ------------------------------------------------------------------ search and follow-ups


@pytest.mark.parametrize(
    ("entities", "expect", "absent"),
    [
        (
            [ent("sector", "Regenerative medicine"), ent("org_kind", "cluster"), ent("place", "Osaka")],
            "Osaka Bio Headquarters",
            "Kobe Biomedical Innovation Cluster",
        ),
        ([ent("sector", "Cosmetics"), ent("country", "Japan")], "Japan Cosmetic Centre", "Cosmetic Valley"),
        ([ent("sector", "Technical textiles"), ent("country", "France")], "Techtera", "Japan Chemical Fibre"),
        ([ent("org_name", "Life Science Nord")], "Life Science Nord", "Osaka Bio Headquarters"),
    ],
)
async def test_search_names_the_right_organisations(kb, entities, expect, absent):
    messages, events = await run(ActionSearchOrganisations(), tracker("q", "search_organisations", entities))
    text = said(messages)
    assert expect in text and absent not in text
    assert messages[0]["response"] == "utter_search_results"
    assert "Source:" in messages[0]["sources"]
    assert slot_events(events)["last_results"]
    cards = messages[0]["custom"]["kakehashi"]["items"]
    assert any(c["name"] == expect for c in cards)


async def test_search_with_no_match_offers_nearest_alternatives(kb):
    t = tracker("q", "search_organisations", [ent("sector", "Regenerative medicine"), ent("place", "Kyoto")])
    messages, _ = await run(ActionSearchOrganisations(), t)
    assert messages[0]["response"] == "utter_no_results_alternatives"
    assert "Kansai" in messages[0]["alternatives"] or "Japan" in messages[0]["alternatives"]
    assert messages[0]["buttons"], "alternatives come with buttons to run them"


async def test_search_with_unknown_sector_says_so(kb):
    messages, events = await run(
        ActionSearchOrganisations(), tracker("q", "search_organisations", [ent("sector", "quantum basket weaving")])
    )
    assert messages[0]["response"] == "utter_criterion_unknown"
    assert events == []


async def test_search_without_criteria_asks_for_some(kb):
    messages, _ = await run(ActionSearchOrganisations(), tracker("find something", "search_organisations"))
    assert messages[0]["response"] == "utter_ask_search_criteria"


async def test_refine_replaces_the_place_and_keeps_the_sector(kb):
    last = {"type": "search", "params": {"sector": "Biomedicine", "place": "Osaka"}, "offset": 5}
    t = tracker("what about kobe?", "refine_search", [ent("place", "Kobe")], slots={"last_query": last})
    messages, events = await run(ActionRefineSearch(), t)
    text = said(messages)
    assert "Kobe Biomedical Innovation Cluster" in text and "Osaka Bio Headquarters" not in text
    assert slot_events(events)["last_query"]["params"] == {"sector": "Biomedicine", "place": "Kobe"}


async def test_a_bare_answer_after_a_search_asks_to_rephrase_instead_of_repeating_it(kb):
    last = {"type": "search", "params": {"sector": "Food packaging", "country": "Italy"}, "offset": 0}
    messages, events = await run(ActionRefineSearch(), tracker("d̋o̽m̂", "inform", [], slots={"last_query": last}))
    assert [m["response"] for m in messages] == ["utter_default"]
    assert events == []


async def test_refine_with_mou_lists_partnerships_of_that_kind(kb):
    last = {"type": "search", "params": {"country": "Japan"}, "offset": 5}
    t = tracker(
        "only the ones with an MoU", "refine_search", [ent("partnership_kind", "mou")], slots={"last_query": last}
    )
    messages, _ = await run(ActionRefineSearch(), t)
    assert messages[0]["response"] == "utter_partnerships"
    assert "MoU" in messages[0]["results"]


async def test_show_more_pages_without_repeating(kb):
    _first, events = await run(
        ActionSearchOrganisations(), tracker("q", "search_organisations", [ent("sector", "Life sciences")])
    )
    slots = slot_events(events)
    second, events2 = await run(ActionShowMore(), tracker("show more", "show_more", slots=slots))
    assert second[0]["response"] == "utter_more_results"
    assert set(slots["last_results"]).isdisjoint(slot_events(events2)["last_results"])


async def test_show_more_without_a_list_explains(kb):
    messages, _ = await run(ActionShowMore(), tracker("more", "show_more"))
    assert messages[0]["response"] == "utter_nothing_to_continue"


# ------------------------------------------------------------------ organisations


async def test_details_by_ordinal_from_the_last_list(kb):
    slots = {"last_results": ["techtera", "osaka-bio-headquarters"]}
    messages, events = await run(
        ActionOrgDetails(), tracker("the second one", "ask_details", [ent("ordinal", "2")], slots=slots)
    )
    assert messages[0]["name"] == "Osaka Bio Headquarters"
    assert slot_events(events)["focus_org"] == "osaka-bio-headquarters"


async def test_contact_there_uses_the_organisation_in_focus(kb):
    messages, _ = await run(
        ActionShowContacts(), tracker("who is the contact there?", "ask_contact", slots={"focus_org": "techtera"})
    )
    assert "Corinne Farace" in messages[0]["results"] and "cfarace@techtera.org" in messages[0]["results"]


async def test_unknown_organisation_gets_did_you_mean(kb):
    messages, _ = await run(ActionOrgDetails(), tracker("q", "ask_details", [ent("org_name", "Life Sciance Nordd")]))
    assert messages[0]["response"] in {"utter_org_unknown", "utter_org_details"}
    assert "Life Science Nord" in said(messages)


async def test_partners_of_an_organisation(kb):
    messages, _ = await run(
        ActionShowPartners(), tracker("q", "ask_partners", [ent("org_name", "Osaka Bio Headquarters")])
    )
    assert "bioXclusters plus" in messages[0]["results"] and "MoU, 2016" in messages[0]["results"]


async def test_partnerships_between_countries(kb):
    t = tracker(
        "which japanese clusters have an MoU with a french cluster",
        "ask_partners",
        [ent("country", "Japan"), ent("org_kind", "cluster"), ent("partnership_kind", "mou"), ent("country", "France")],
    )
    messages, _ = await run(ActionShowPartners(), t)
    assert "Japan Cosmetic Centre" in messages[0]["results"] and "Cosmetic Valley" in messages[0]["results"]


async def test_success_stories(kb):
    messages, _ = await run(ActionSuccessStories(), tracker("q", "ask_success_stories", [ent("sector", "Textiles")]))
    assert "Techtera" in said(messages)


# ------------------------------------------------------------------ matchmaking


async def test_profile_home_and_target_from_one_sentence(kb):
    text = "we are a French cosmetics SME, who could we work with in Japan?"
    t = tracker(
        text,
        "find_partner",
        [
            ent("country", "France", "French", text.index("French")),
            ent("sector", "Cosmetics", "cosmetics", text.index("cosmetics")),
            ent("org_kind", "company", "SME", text.index("SME")),
            ent("country", "Japan", "Japan", text.index("Japan")),
        ],
    )
    _, events = await run(ActionExtractProfile(), t)
    slots = slot_events(events)
    assert slots["profile_home"] == "France" and slots["profile_target"] == "Japan"
    assert slots["profile_sector"] == "Cosmetics"


async def test_recommendations_come_with_reasons_and_sources(kb):
    slots = {
        "profile_sector": "Biotechnology, Personalised medicine",
        "profile_home": "Munich",
        "profile_kind": "company",
    }
    messages, _events = await run(ActionRecommendPartners(), tracker("q", "find_partner", slots=slots))
    msg = messages[0]
    assert msg["response"] == "utter_recommendations"
    assert "Osaka Bio Headquarters" in msg["results"] and "MoU" in msg["results"]
    items = msg["custom"]["kakehashi"]["items"]
    assert all(i["country"] == "Japan" for i in items)
    assert all(abs(i["score"] - sum(r["points"] for r in i["reasons"])) < 0.01 for i in items)


async def test_form_validation_rejects_unknown_sector_and_canonicalises_known(kb):
    form = ValidateMatchmakingForm()
    d = CollectingDispatcher()
    assert (await form.validate_profile_sector("regen med", d, tracker(), {})) == {
        "profile_sector": "Regenerative medicine"
    }
    assert (await form.validate_profile_sector("zzzz", d, tracker(), {})) == {"profile_sector": None}
    assert d.messages[-1]["response"] == "utter_sector_unknown"
    assert (await form.validate_profile_home("München", d, tracker(), {})) == {"profile_home": "Munich"}


# ------------------------------------------------------------------ programmes, events, market


async def test_programme_info_states_rules_with_source(kb):
    messages, _ = await run(ActionProgrammeInfo(), tracker("what is rit", "ask_programme", [ent("programme", "RIT")]))
    assert "Japanese" in messages[0]["rules"] and "Source:" in messages[0]["sources"]


async def test_european_cluster_cannot_apply_to_rit(kb):
    t = tracker(
        "can my cluster in Lyon apply to RIT?",
        "ask_eligibility",
        [ent("org_kind", "cluster"), ent("place", "Lyon"), ent("programme", "RIT")],
    )
    messages, _ = await run(ActionCheckEligibility(), t)
    assert messages[0]["response"] == "utter_not_eligible"
    assert "partner" in messages[0]["advice"].lower()


async def test_events_by_name(kb):
    messages, _ = await run(
        ActionFindEvents(), tracker("when is biojapan", "ask_events", [ent("event_name", "BioJapan")])
    )
    assert "BioJapan" in messages[0]["results"]


async def test_market_facts_with_figures_and_source(kb):
    messages, _ = await run(
        ActionMarketFacts(), tracker("medical devices market", "ask_market", [ent("market_topic", "medical devices")])
    )
    assert "2.6757" in messages[0]["results"] and "Source:" in messages[0]["sources"]


# ------------------------------------------------------------------ introductions, clarify


async def test_introduction_request_is_recorded_once_and_reported(kb):
    t = tracker("introduce me to techtera", "request_introduction", [ent("org_name", "Techtera")], sender="intro-1")
    first, _ = await run(ActionRequestIntroduction(), t)
    again, _ = await run(ActionRequestIntroduction(), t)
    assert first[0]["response"] == "utter_introduction_created"
    assert again[0]["response"] == "utter_introduction_exists"
    status, _ = await run(
        ActionIntroductionStatus(), tracker("what happened", "ask_introduction_status", sender="intro-1")
    )
    assert "Techtera" in status[0]["results"]
    assert len(db.introduction_requests("intro-1")) == 1


def _fallback_event() -> dict:
    return {"event": "user", "text": "??", "parse_data": {"intent": {"name": "nlu_fallback"}}}


async def test_clarify_offers_guesses_then_a_person(kb):
    ranking_msg = tracker("biotech osaka partner thing", "nlu_fallback", events=[_fallback_event()])
    ranking_msg.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback"},
        {"name": "search_organisations"},
        {"name": "ask_partners"},
    ]
    messages, _ = await run(ActionClarify(), ranking_msg)
    assert messages[0]["response"] == "utter_clarify"
    assert [b["payload"].split("{")[0] for b in messages[0]["buttons"]][:2] == [
        "/search_organisations",
        "/ask_partners",
    ]
    twice = tracker("??", "nlu_fallback", events=[_fallback_event(), _fallback_event()])
    messages, _ = await run(ActionClarify(), twice)
    assert messages[0]["response"] == "utter_offer_person"
    assert any(b["payload"] == "/human_handoff" for b in messages[0]["buttons"])


# ------------------------------------------------------------------ faults


async def test_database_down_gives_a_clear_apology(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/none")
    messages, events = await run(
        ActionSearchOrganisations(), tracker("q", "search_organisations", [ent("sector", "Cosmetics")])
    )
    assert [m["response"] for m in messages] == ["utter_kb_unavailable"]
    assert events == []
    db.dispose_all()


@pytest.mark.parametrize("value", ["x" * 10_000, "'; DROP TABLE organisations; --", "\x00\x01", "💥" * 50, "   "])
async def test_odd_entity_values_never_crash(kb, value):
    messages, _ = await run(
        ActionSearchOrganisations(), tracker(value, "search_organisations", [ent("sector", value), ent("place", value)])
    )
    assert messages and messages[0]["response"] in {
        "utter_criterion_unknown",
        "utter_ask_search_criteria",
        "utter_no_results",
        "utter_no_results_alternatives",
    }


async def test_cards_show_the_matched_sector_first(kb):
    t = tracker("q", "search_organisations", [ent("sector", "Regenerative medicine"), ent("place", "Osaka")])
    messages, _ = await run(ActionSearchOrganisations(), t)
    card = next(c for c in messages[0]["custom"]["kakehashi"]["items"] if c["name"] == "Osaka Bio Headquarters")
    assert card["sectors"][0] == "Regenerative medicine"
