"""Events, contacts, market facts, organisation details, the vocabulary, introduction requests
(leads) and an unreachable database."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

import db
from db import models as m
from db.organisations import find_org_pk
from db.reference import reference
from db.results import EventInfo

# --------------------------------------------------------------------------- events


def event_names(events: list[EventInfo]) -> list[str]:
    return [e.name for e in events]


def first_day(start: str) -> dt.date:
    parts = [int(p) for p in start.split("-")] + [1, 1]
    return dt.date(parts[0], parts[1], parts[2])


def test_events_by_name(kb_url):
    events, unresolved = db.find_events(name="BioJapan", url=kb_url)
    assert unresolved == {}
    assert {"BioJapan 2016", "BioJapan 2014"} <= set(event_names(events))
    exact, _ = db.find_events(name="biojapan 2016", url=kb_url)
    assert exact[0].name == "BioJapan 2016"
    assert exact[0].place == "Yokohama" and "Japan" in exact[0].place_chain
    assert exact[0].sources


def test_events_by_sector_include_sub_sectors(kb_url):
    events, unresolved = db.find_events(sector="regen med", limit=50, url=kb_url)
    assert unresolved == {}
    assert "Regenerative Medicine Japan" in event_names(events)
    broader, _ = db.find_events(sector="life sciences", limit=50, url=kb_url)
    assert set(event_names(events)) <= set(event_names(broader))
    assert all(e.sectors for e in broader)


def test_events_by_place_include_places_inside(kb_url):
    osaka, _ = db.find_events(place="Osaka", limit=50, url=kb_url)
    assert "European Biotech & Pharma Partnering Conference" in event_names(osaka)
    assert all("Osaka" in e.place_chain for e in osaka)
    japan, _ = db.find_events(place="Japan", limit=50, url=kb_url)
    assert set(event_names(osaka)) < set(event_names(japan))
    assert all(e.place_chain[-1] == "Japan" for e in japan)
    assert "BIO-Europe 2016" not in event_names(japan)


def test_events_by_date_range_newest_first(kb_url):
    events, _ = db.find_events(date_from=dt.date(2016, 1, 1), date_to=dt.date(2016, 12, 31), limit=50, url=kb_url)
    assert len(events) >= 5
    assert all(e.start.startswith("2016") for e in events)
    starts = [first_day(e.start) for e in events]  # "2016-10" is known to the month only
    assert starts == sorted(starts, reverse=True)
    before, _ = db.find_events(date_to=dt.date(2013, 12, 31), limit=50, url=kb_url)
    assert before and all(e.start[:4] <= "2013" for e in before)
    assert not set(event_names(before)) & set(event_names(events))


def test_events_combined_filters(kb_url):
    events, _ = db.find_events(sector="textiles", place="Japan", limit=50, url=kb_url)
    assert events
    assert all("Japan" in e.place_chain for e in events)
    assert any("Fibertonics" in n for n in event_names(events))


def test_events_with_figures_and_organisers(kb_url):
    events, _ = db.find_events(name="European Biotech & Pharma Partnering Conference", url=kb_url)
    conference = events[0]
    assert conference.figures.get("b2b_meetings") == 288
    assert {"Osaka Bio Headquarters", "bioXclusters plus"} <= set(conference.organisers)


def test_events_unknown_criteria_are_reported(kb_url):
    assert db.find_events(sector="zzyzx", url=kb_url) == ([], {"sector": "zzyzx"})
    assert db.find_events(place="Atlantis", url=kb_url) == ([], {"place": "Atlantis"})
    assert db.find_events(name="Zyxwvut Quorblax Expo", url=kb_url) == ([], {})


def test_events_limit(kb_url):
    assert len(db.find_events(limit=3, url=kb_url)[0]) == 3
    assert len(db.find_events(limit=0, url=kb_url)[0]) == 10
    assert len(db.find_events(limit=1000, url=kb_url)[0]) <= 50


# --------------------------------------------------------------------------- contacts


def test_contacts_of_techtera(kb_url):
    org, contacts, suggestions = db.contacts_of("Techtera", url=kb_url)
    assert org.id == "techtera" and suggestions == []
    corinne = next(c for c in contacts if c.name == "Corinne Farace")
    assert corinne.email == "cfarace@techtera.org"
    assert corinne.organisation == "Techtera"
    assert "Managing Director" in corinne.role
    assert corinne.sources and any("Corinne Farace" in s.passage for s in corinne.sources)


def test_contacts_of_an_organisation_without_contacts_and_of_unknown_ones(kb_url):
    org, contacts, _ = db.contacts_of("Osaka Bio Headquarters", url=kb_url)
    assert org.id == "osaka-bio-headquarters" and contacts == []
    org, contacts, suggestions = db.contacts_of("Cosmetic", url=kb_url)
    assert (org, contacts) == (None, [])
    assert "Cosmetic Valley" in suggestions
    assert db.contacts_of(None, url=kb_url) == (None, [], [])


def test_several_contacts_of_one_organisation(kb_url):
    _, contacts, _ = db.contacts_of("Lyonbiopole", url=kb_url)
    assert {"Simon Gudin", "Florence Agostino"} <= {c.name for c in contacts}
    gudin = next(c for c in contacts if c.name == "Simon Gudin")
    assert gudin.email == "simon.gudin@lyonbiopole.com"


# --------------------------------------------------------------------------- market facts


def test_medical_devices_market_2013(kb_url):
    facts = db.market_facts("medical devices", url=kb_url)
    size = next(f for f in facts if f.metric == "domestic market size")
    assert (size.value, size.unit, size.year) == (2.6757, "trillion JPY", 2013)
    assert size.sector == "Medical devices"
    assert size.sources and any("2.6757 trillion yen" in s.passage for s in size.sources)
    assert all(f.topic == "medical devices" for f in facts)


@pytest.mark.parametrize(
    "asked", ["medical device market", "How big is the Japanese medical devices market", "medtech"]
)
def test_market_facts_by_other_words(kb_url, asked):
    facts = db.market_facts(asked, url=kb_url)
    assert facts and facts[0].topic == "medical devices"


def test_market_facts_unknown_topic(kb_url):
    assert db.market_facts("zyxwvut quorblax", url=kb_url) == []
    assert db.market_facts("", url=kb_url) == []
    assert db.market_facts("the market in japan", url=kb_url) == []
    assert "medical devices" in db.market_topics(url=kb_url)


# --------------------------------------------------------------------------- organisations


def test_organisation_details(kb_url):
    detail, suggestions = db.get_organisation("BioXclusters+", url=kb_url)
    assert suggestions == []
    assert detail.org.id == "bioxclusters-plus"
    assert {"Biocat", "BioM", "bioPmed", "Lyonbiopole"} <= set(detail.has_members)
    assert detail.partnership_count >= 5
    assert detail.sources
    biom, _ = db.get_organisation("biom", url=kb_url)
    assert "bioXclusters plus" in biom.member_of
    assert biom.org.place_chain[-2:] == ["Germany", "European Union"]


def test_resolve_organisation_by_id_name_alias_and_typo(kb_url):
    for text in ("osaka-bio-headquarters", "Osaka Bio Headquarters", "Osaka Bio HQ", "Osaka Bio Headquartrs"):
        org, suggestions = db.resolve_organisation(text, url=kb_url)
        assert org is not None and org.id == "osaka-bio-headquarters", text
        assert suggestions == []
    org, suggestions = db.resolve_organisation("Kobe", url=kb_url)
    assert org is None and "Kobe Biomedical Innovation Cluster" in suggestions


# --------------------------------------------------------------------------- vocabulary


def test_vocabulary_covers_aliases_synonyms_and_place_variants(kb_url):
    vocab = db.vocabulary(url=kb_url)
    assert vocab.version == db.current_version(url=kb_url) == "1"
    entries = {(e.label, e.phrase, e.value) for e in vocab.entries}
    assert {
        ("org_name", "Osaka Bio Headquarters", "Osaka Bio Headquarters"),
        ("org_name", "Osaka Bio HQ", "Osaka Bio Headquarters"),
        ("org_name", "FBRI", "Foundation for Biomedical Research and Innovation"),
        ("sector", "regen med", "Regenerative medicine"),
        ("sector", "再生医療", "Regenerative medicine"),
        ("sector", "biotech", "Biotechnology"),
        ("place", "大阪", "Osaka"),
        ("place", "神戸", "Kobe"),
        ("place", "Kebo", "Kobe"),
        ("country", "japanese", "Japan"),
        ("country", "日本", "Japan"),
        ("programme", "JETRO RIT", "Regional Industry Tie-Up Programme (RIT)"),
        ("event_name", "BioJapan 2016", "BioJapan 2016"),
        ("market_topic", "medical devices", "medical devices"),
    } <= entries
    assert all(e.phrase.strip() and e.value.strip() for e in vocab.entries)


def test_every_vocabulary_phrase_leads_back_to_its_value(kb_url):
    """What the NLU learns from the vocabulary must be understood by the API: each phrase is
    resolved the way the API resolves what users type (in one session, for speed)."""
    vocab = db.vocabulary(url=kb_url)
    wrong = []
    with db.session_scope(kb_url) as session:
        ref = reference(session)
        names = dict(session.execute(select(m.Organisation.pk, m.Organisation.name)).all())
        for e in vocab.entries:
            if e.label == "org_name":
                pk, _ = find_org_pk(session, e.phrase)
                found = names.get(pk)
            elif e.label == "sector":
                found = getattr(ref.resolve_sector(e.phrase), "name", None)
            elif e.label in {"place", "country"}:
                found = getattr(ref.resolve_place(e.phrase), "name", None)
            elif e.label == "programme":
                found = session.get(m.Programme, ref.resolve_programme(e.phrase)).name
            else:
                continue
            if found != e.value:
                wrong.append(f"{e.label} {e.phrase!r} → {found!r}, not {e.value!r}")
    assert not wrong, "\n".join(wrong)


# --------------------------------------------------------------------------- leads


@pytest.fixture
def leads_kb(scratch_kb) -> str:
    """Leads are written: not into the shared read-only knowledge base."""
    return scratch_kb


def test_request_introduction_once_per_conversation_and_organisation(leads_kb, kb_snapshot):
    first, created, suggestions = db.request_introduction(
        "conv-intro-1", "osaka bio hq", channel="web", profile={"sectors": ["biotech"]}, message="Hello", url=leads_kb
    )
    assert created and suggestions == []
    assert (first.org_name, first.status, first.channel, first.conversation_id) == (
        "Osaka Bio Headquarters", "new", "web", "conv-intro-1",
    )  # fmt: skip
    before = kb_snapshot(leads_kb)
    again, created_again, _ = db.request_introduction("conv-intro-1", "Osaka Bio Headquarters", url=leads_kb)
    assert not created_again and again.id == first.id
    assert kb_snapshot(leads_kb) == before
    # Another organisation, or another conversation, is a new request.
    assert db.request_introduction("conv-intro-1", "Techtera", url=leads_kb)[1]
    assert db.request_introduction("conv-intro-2", "Osaka Bio Headquarters", url=leads_kb)[1]
    listed = db.introduction_requests("conv-intro-1", url=leads_kb)
    assert {r.org_name for r in listed} == {"Osaka Bio Headquarters", "Techtera"}
    assert listed[0].org_name == "Techtera", "newest first"
    assert db.introduction_requests("conv-nobody", url=leads_kb) == []


def test_unknown_organisation_writes_no_lead(leads_kb, kb_snapshot):
    before = kb_snapshot(leads_kb)
    request, created, suggestions = db.request_introduction("conv-intro-3", "Cosmetic", url=leads_kb)
    assert (request, created) == (None, False)
    assert "Cosmetic Valley" in suggestions
    assert db.request_introduction("conv-intro-3", "Zyxwvut Quorblax", url=leads_kb)[:2] == (None, False)
    assert kb_snapshot(leads_kb) == before
    assert db.introduction_requests("conv-intro-3", url=leads_kb) == []


def test_lead_status_changes(leads_kb):
    request, _, _ = db.request_introduction("conv-intro-4", "Life Science Nord", url=leads_kb)
    updated = db.set_introduction_status(request.id, "in_progress", url=leads_kb)
    assert updated.status == "in_progress"
    assert db.introduction_requests("conv-intro-4", url=leads_kb)[0].status == "in_progress"
    with pytest.raises(ValueError):
        db.set_introduction_status(request.id, "teleported", url=leads_kb)
    with pytest.raises(LookupError):
        db.set_introduction_status(10**9, "closed", url=leads_kb)


def test_long_and_odd_conversation_ids_channels_and_messages(leads_kb):
    long_id = "c" * 250
    _, created, _ = db.request_introduction(long_id, "Techtera", url=leads_kb)
    assert created
    # The same long conversation asking again is the same request, not a database error.
    again, created_again, _ = db.request_introduction(long_id, "Techtera", url=leads_kb)
    assert not created_again
    assert [r.id for r in db.introduction_requests(long_id, url=leads_kb)] == [again.id]
    nul_id = "conv\x00nul"
    request, created, _ = db.request_introduction(
        nul_id, "Techtera", channel="telegram-" + "x" * 100, message="hi\x00there" * 1000, url=leads_kb
    )
    assert created and "\x00" not in request.conversation_id
    assert len(request.channel) <= 40
    assert [r.id for r in db.introduction_requests(nul_id, url=leads_kb)] == [request.id]


# --------------------------------------------------------------------------- odd input everywhere

ODD = ["", "   ", "x" * 10_000, "'; DROP TABLE organisations; --", "%", "_", "\\", "\x00", "a\x00b", "🧬🔬",
       "مرحبا", "עברית", "\u202e\u200b", None]  # fmt: skip


@pytest.mark.parametrize("text", ODD, ids=range(len(ODD)))
def test_odd_input_never_raises(kb_url, text):
    db.resolve_organisation(text, url=kb_url)
    db.get_organisation(text, url=kb_url)
    db.partners_of(text, url=kb_url)
    db.partners_of("Techtera", sector=text, kind=text, url=kb_url)
    db.find_partnerships(sector=text, country_a=text, country_b=text, kind=text, org_kind=text, url=kb_url)
    db.success_stories(sector=text, country=text, url=kb_url)
    db.find_events(sector=text, place=text, name=text, url=kb_url)
    db.find_events(name=text, url=kb_url)
    db.contacts_of(text, url=kb_url)
    db.market_facts(text, url=kb_url)
    assert db.introduction_requests(text, url=kb_url) == []
    assert db.current_version(url=kb_url) == "1"


# --------------------------------------------------------------------------- unreachable database


@pytest.mark.parametrize(
    "call",
    [
        lambda url: db.search_organisations(sector="biotech", url=url),
        lambda url: db.partners_of("Techtera", url=url),
        lambda url: db.current_version(url=url),
        lambda url: db.request_introduction("conv", "Techtera", url=url),
    ],
    ids=["search", "partners", "version", "lead"],
)
def test_unreachable_database_raises_database_unavailable(call):
    # Port 1 refuses at once: no waiting for the 5 s connect timeout.
    with pytest.raises(db.DatabaseUnavailable):
        call("postgresql+psycopg2://postgres@127.0.0.1:1/test")
