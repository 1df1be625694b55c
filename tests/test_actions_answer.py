"""Follow-ups answered from the sources: the focus every answer leaves, questions about it, the
"sources don't say" reply, and where the profile's home and target come from."""

from __future__ import annotations

import pytest

import db
from actions.answer import ActionAnswerQuestion
from actions.clarify import ActionClarify
from actions.matchmaking import split_home_target
from actions.partners import ActionShowPartners
from tests.test_actions import ent, run, said, tracker


@pytest.fixture
def kb(sqlite_kb_file, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{sqlite_kb_file}")
    yield
    db.dispose_all()


OBH_FOCUS = [
    ["partnerships", "bioxclusters-plus-osaka-bio-headquarters-mou-2016"],
    ["organisations", "osaka-bio-headquarters"],
]


def focus_of(events: list[dict]) -> list:
    return next(e["value"] for e in events if e.get("event") == "slot" and e.get("name") == "focus")


def marker(messages: list[dict]) -> str | None:
    for m in messages:
        info = (m.get("custom") or {}).get("kakehashi") or {}
        if info.get("answer"):
            return info["answer"]
    return None


async def test_an_answer_puts_what_it_showed_in_focus(kb):
    _, events = await run(
        ActionShowPartners(),
        tracker("who does osaka bio hq partner with", "ask_partners", [ent("org_name", "Osaka Bio Headquarters")]),
    )
    focus = focus_of(events)
    assert ["partnerships", "bioxclusters-plus-osaka-bio-headquarters-mou-2016"] in focus
    assert ["organisations", "osaka-bio-headquarters"] in focus


async def test_when_did_they_sign_is_answered_about_the_partnership_in_focus(kb):
    messages, events = await run(
        ActionAnswerQuestion(), tracker("when did they sign?", "ask_fact", slots={"focus": OBH_FOCUS})
    )
    text = said(messages)
    assert "2016" in text and "Source:" in text
    assert marker(messages) == "from_sources"
    assert focus_of(events)  # the records asked about stay in focus


async def test_what_the_sources_do_not_say_is_said_so_about_the_record_in_question(kb):
    t = tracker("and their phone number?", "ask_fact", slots={"focus": [["organisations", "osaka-bio-headquarters"]]})
    messages, _ = await run(ActionAnswerQuestion(), t)
    assert messages[0]["response"] == "utter_not_in_sources"
    assert messages[0]["what"] == "a phone number" and messages[0]["name"] == "Osaka Bio Headquarters"
    assert marker(messages) == "not_in_sources"


async def test_a_fact_question_with_nothing_in_focus_asks_which_record(kb):
    messages, _ = await run(ActionAnswerQuestion(), tracker("how many attended?", "ask_fact"))
    assert [m["response"] for m in messages] == ["utter_ask_which_item"]


async def test_out_of_scope_stays_out_of_scope_even_with_something_in_focus(kb):
    t = tracker("can you book me a table at a sushi restaurant?", "out_of_scope", slots={"focus": OBH_FOCUS})
    messages, _ = await run(ActionAnswerQuestion(), t)
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]


async def test_a_follow_up_the_nlu_did_not_place_is_answered_instead_of_clarified(kb):
    t = tracker("and when did that get signed", "nlu_fallback", slots={"focus": OBH_FOCUS})
    messages, _ = await run(ActionClarify(), t)
    assert "2016" in said(messages)
    assert messages[0]["response"] == "utter_evidence_answer"


async def test_a_message_the_sources_know_nothing_about_is_still_clarified(kb):
    t = tracker("blorp zzz", "nlu_fallback", slots={"focus": OBH_FOCUS})
    messages, _ = await run(ActionClarify(), t)
    assert messages[0]["response"] in {"utter_clarify", "utter_clarify_none"}


@pytest.mark.parametrize(
    ("text", "places", "home", "target"),
    [
        (
            "we're a geothermal drilling company in hungary, japan interesting for us?",
            ["hungary", "japan"],
            "hungary",
            "japan",
        ),
        ("we are a biotech SME in Munich, who could we partner with in Japan?", ["Munich", "Japan"], "Munich", "Japan"),
        ("osaka company looking for partners in germany", ["osaka", "germany"], "osaka", "germany"),
        (
            "portuguese injection moulding company. any japan cluster contact?",
            ["portuguese", "japan"],
            "portuguese",
            "japan",
        ),
        ("we are a French cosmetics SME, who could we work with in Japan?", ["French", "Japan"], "French", "Japan"),
    ],
)
def test_home_and_target_follow_what_the_user_said(text, places, home, target):
    ents = [ent("country", p.capitalize(), p, text.index(p)) for p in places]
    t = tracker(text, "find_partner", ents)
    assert split_home_target(t) == (home.capitalize(), target.capitalize())


async def test_partners_of_an_organisation_in_a_named_country_only(kb):
    text = "who does bioXclusters plus work with in Japan"
    t = tracker(
        text,
        "ask_partners",
        [
            ent("org_name", "bioXclusters plus", "bioXclusters plus", 9),
            ent("country", "Japan", "Japan", text.index("Japan")),
        ],
    )
    messages, _ = await run(ActionShowPartners(), t)
    shown = said(messages)
    assert "Osaka Bio Headquarters" in shown
    assert "TO Health!" not in shown and "BioSA" not in shown
