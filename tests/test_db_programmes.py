"""Support programmes: finding them by any of their names, and checking eligibility rule by rule."""

from __future__ import annotations

import pytest

import db
from db.results import Profile

RIT = "jetro-rit"


@pytest.mark.parametrize("name", [
    "RIT", "rit", "JETRO RIT", "JETRO-RIT", "regional industry tie-up", "Regional Industry Tie-Up Programme",
    "the RIT programme", "JETRO's RIT", "regional industry tie up programme", "Regional Industry Tie-Up (RIT)",
])  # fmt: skip
def test_get_programme_by_any_of_its_names(kb_url, name):
    info, suggestions = db.get_programme(name, url=kb_url)
    assert info is not None and info.id == RIT, name
    assert suggestions == []


def test_programme_details(kb_url):
    info, _ = db.get_programme("RIT", url=kb_url)
    assert info.name == "Regional Industry Tie-Up Programme (RIT)"
    assert info.operator == "Japan External Trade Organisation"
    assert info.started == 2007
    assert "JETRO RIT" in info.aliases
    assert len(info.rules) == 3 and any("Japanese organisations" in r for r in info.rules)
    assert info.sources and all(s.source_id == "eccp-japan" for s in info.sources)


def test_unknown_programme_gives_suggestions(kb_url):
    info, suggestions = db.get_programme("RTI", url=kb_url)
    assert info is None
    assert "Regional Industry Tie-Up Programme (RIT)" in suggestions
    assert db.get_programme("zyxwvut quorblax", url=kb_url) == (None, [])
    for blank in ("", None):
        assert db.get_programme(blank, url=kb_url) == (None, [])


def test_european_cluster_cannot_apply_to_rit_and_is_told_how(kb_url):
    result, suggestions = db.check_eligibility("RIT", Profile(home="Lyon", kind="cluster"), url=kb_url)
    assert suggestions == []
    assert result.verdict == "not_eligible"
    assert result.programme.id == RIT
    assert [c.outcome for c in result.checks] == ["not_met", "unknown", "unknown"]
    assert "France" in result.checks[0].explanation
    assert result.advice and "Japan" in result.advice and "partner" in result.advice


@pytest.mark.parametrize("home", ["Osaka", "Japan", "Kobe", "日本", "Japanese"])
def test_japanese_applicant_with_contact_and_ready_product_is_eligible(kb_url, home):
    profile = Profile(home=home, kind="cluster", previous_contact=True, market_ready=True)
    result, _ = db.check_eligibility("JETRO RIT", profile, url=kb_url)
    assert result.verdict == "eligible"
    assert [c.outcome for c in result.checks] == ["met", "met", "met"]
    assert result.advice is None


@pytest.mark.parametrize(
    ("profile", "outcomes"),
    [
        (Profile(), ["unknown", "unknown", "unknown"]),
        (Profile(home="Osaka"), ["met", "unknown", "unknown"]),
        (Profile(home="Osaka", previous_contact=True), ["met", "met", "unknown"]),
        (Profile(home="Atlantis", previous_contact=True, market_ready=True), ["unknown", "met", "met"]),
    ],
)
def test_unknown_facts_make_it_depend(kb_url, profile, outcomes):
    result, _ = db.check_eligibility("RIT", profile, url=kb_url)
    assert result.verdict == "depends"
    assert [c.outcome for c in result.checks] == outcomes
    for check in result.checks:
        assert check.text and check.explanation


def test_a_rule_not_met_makes_it_not_eligible(kb_url):
    profile = Profile(home="Osaka", previous_contact=False, market_ready=True)
    result, _ = db.check_eligibility("RIT", profile, url=kb_url)
    assert result.verdict == "not_eligible"
    assert [c.outcome for c in result.checks] == ["met", "not_met", "met"]


def test_kind_rule(kb_url):
    cluster, _ = db.check_eligibility("Clusters Go International", Profile(kind="cluster"), url=kb_url)
    company, _ = db.check_eligibility("Clusters Go International", Profile(kind="SME"), url=kb_url)
    unknown, _ = db.check_eligibility("Clusters Go International", Profile(), url=kb_url)
    assert (cluster.verdict, company.verdict, unknown.verdict) == ("eligible", "not_eligible", "depends")


def test_programme_without_rules(kb_url):
    result, _ = db.check_eligibility("Horizon 2020", Profile(home="Lyon"), url=kb_url)
    assert result.verdict == "no_rules" and result.checks == []


def test_eligibility_of_an_unknown_programme(kb_url):
    result, suggestions = db.check_eligibility("RTI", Profile(home="Osaka"), url=kb_url)
    assert result is None
    assert "Regional Industry Tie-Up Programme (RIT)" in suggestions
    assert db.check_eligibility(None, Profile(), url=kb_url) == (None, [])


def test_list_programmes(kb_url):
    every = db.list_programmes(url=kb_url)
    assert len(every) >= 15
    assert [p.name for p in every] == sorted(p.name for p in every)
    assert RIT in {p.id for p in every}
    for_cosmetics = db.list_programmes(sector="cosmetics", url=kb_url)
    assert {p.id for p in for_cosmetics} <= {p.id for p in every}
    assert all(not p.sectors or "Cosmetics" in p.sectors for p in for_cosmetics)
    nursing = {p.id for p in db.list_programmes(sector="nursing care robots", url=kb_url)}
    assert "nursing-care-robotics-five-year-plan" in nursing
    assert "nursing-care-robotics-five-year-plan" not in {p.id for p in for_cosmetics}


def test_odd_programme_input_never_raises(kb_url):
    odd = ["x" * 10_000, "'; DROP TABLE programmes; --", "%", "_", "\\", "\x00", "🧬", "עברית", "   "]
    for text in odd:
        info, suggestions = db.get_programme(text, url=kb_url)
        assert info is None or info.id
        assert isinstance(suggestions, list)
        result, _ = db.check_eligibility(text, Profile(home=text, kind=text, sectors=[text]), url=kb_url)
        assert result is None or result.verdict in {"eligible", "not_eligible", "depends", "no_rules"}
        assert isinstance(db.list_programmes(sector=text, url=kb_url), list)
