"""Answers from the sources' own words: the passage that answers a question about the records in
focus (or, failing that, anywhere), the kind of fact asked for, and "the sources don't say" —
on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import db
from db import models as m
from db.engine import session_scope

OBH = ("organisations", "osaka-bio-headquarters")
HEALTHCAPITAL = ("organisations", "healthcapital-berlin-brandenburg")
TECHTERA = ("organisations", "techtera")


def stored_passages(url: str) -> set[str]:
    with session_scope(url) as session:
        return set(session.scalars(select(m.Evidence.passage)))


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("how many", ["count"]),
        ("how many european clusters", ["count"]),  # "euro" is a money word, "european" is not
        ("when did they sign?", ["date"]),
        ("where was it held", ["place"]),
        ("do you have his email", ["email"]),
        ("phone number?", ["phone"]),
        ("what is the budget per project", ["money"]),
        ("what came out of it", ["outcome"]),
        ("wann wurde das unterzeichnet?", ["date"]),
        ("combien de participants ?", ["count"]),
        ("いつ締結しましたか", ["date"]),
        ("tell me about them", []),
    ],
)
def test_the_kind_of_fact_asked_for(question, expected):
    assert db.asked_facts(question) == expected


def test_a_count_is_answered_by_the_passage_with_the_number_next_to_the_noun(kb_url):
    answer = db.answer_from_evidence("how many members do they have", [HEALTHCAPITAL], url=kb_url)
    assert answer.found and answer.asked == ["count"]
    top = answer.passages[0]
    assert "235" in top.text and "members" in top.text
    assert top.record_name == "HealthCapital Berlin-Brandenburg"
    assert top.source.title and top.source.passage == top.text


def test_a_follow_up_date_question_finds_the_partnership_of_the_organisation_in_focus(kb_url):
    answer = db.answer_from_evidence("when did they sign?", [OBH], url=kb_url)
    assert answer.found
    assert "2016" in answer.passages[0].text
    assert answer.passages[0].record_type == "partnerships"


def test_an_email_kept_as_a_field_is_stated_with_its_source(kb_url):
    answer = db.answer_from_evidence("do you have her email", [TECHTERA], url=kb_url)
    assert answer.found
    assert any("cfarace@techtera.org" in p.text for p in answer.passages)
    assert all(p.source.title for p in answer.passages)


def test_what_the_sources_do_not_hold_is_not_found_and_what_they_do_say_is_offered(kb_url):
    answer = db.answer_from_evidence("what's their phone number", [OBH], url=kb_url)
    assert not answer.found
    assert answer.asked == ["phone"]
    assert answer.scope[0][2] == "Osaka Bio Headquarters"
    assert answer.recorded is not None and answer.recorded.text in stored_passages(kb_url)


def test_a_question_with_nothing_in_common_with_the_passages_is_not_answered(kb_url):
    assert not db.answer_from_evidence("what is your favourite colour", [OBH], url=kb_url).found


def test_every_quoted_passage_is_a_stored_passage_or_a_field_of_the_record(kb_url):
    stored = stored_passages(kb_url)
    for question, scope in [
        ("how many attended", [("events", "bio-europe-2016")]),
        ("what came out of it", [("partnerships", "toyama-pharmaceutical-association-polepharma-2014")]),
        ("when did they sign", [OBH]),
        ("how big is it", [("organisations", "life-science-nord")]),
    ]:
        for p in db.answer_from_evidence(question, scope, url=kb_url).passages:
            assert p.text in stored, f"{question!r} quoted something that is not a source passage: {p.text!r}"


def test_a_question_naming_nothing_known_is_searched_across_the_knowledge_base(kb_url):
    answer = db.search_evidence("tell me about the yonezawa organic electronics collab", url=kb_url)
    assert answer.found
    assert "Yonezawa" in answer.passages[0].text and "Organic Electronics Saxony" in answer.passages[0].text
    assert not db.search_evidence("what is the weather in tokyo today", url=kb_url).found


def test_names_resolve_to_records_regions_included(kb_url):
    keys, unknown = db.scope_of_names(
        orgs=["osaka bio HQ"], events=["BIO-Europe 2016"], programmes=["RIT"], places=["Fukushima"], url=kb_url
    )
    types = {t for t, _ in keys}
    assert {"organisations", "events", "programmes"} <= types
    assert ("organisations", "fukushima-prefecture") in keys or any("fukushima" in i for _, i in keys)
    assert unknown == []
    _, unknown = db.scope_of_names(orgs=["Sapporo Robotics Valley"], url=kb_url)
    assert unknown == ["Sapporo Robotics Valley"]
