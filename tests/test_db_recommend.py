"""recommend_partners: candidates on the other side of EU–Japan, each scored by reasons whose
points add up to the score."""

from __future__ import annotations

import pytest

import db

MUNICH_SME = dict(sectors=["biotech", "personalised medicine"], home="Munich", kind="SME")


def recommend(url, limit=5, **profile):
    return db.recommend_partners(db.profile_from(**profile), limit=limit, url=url)


def names(result) -> list[str]:
    return [r.org.name for r in result.recommendations]


def check_scores(result) -> None:
    for rec in result.recommendations:
        assert rec.reasons, rec.org.name
        assert rec.score == pytest.approx(sum(r.points for r in rec.reasons), abs=0.051), rec.org.name
        for reason in rec.reasons:
            assert reason.points > 0 and reason.text.strip()
            assert reason.label in {
                "sector_overlap", "existing_ties", "programme_fit", "shared_events", "kind_fit", "place",
            }  # fmt: skip
        assert [r.points for r in rec.reasons] == sorted((r.points for r in rec.reasons), reverse=True)
    scores = [r.score for r in result.recommendations]
    assert scores == sorted(scores, reverse=True)


def test_munich_biotech_sme_gets_japanese_candidates_led_by_osaka(kb_url):
    res = recommend(kb_url, **MUNICH_SME)
    assert res.unresolved == {}
    assert res.profile["target"] == "Japan" and res.profile["home"] == "Munich"
    assert res.profile["sectors"] == ["Biotechnology", "Personalised medicine"]
    assert len(res.recommendations) == 5
    assert {r.org.country for r in res.recommendations} == {"Japan"}
    assert "Osaka Bio Headquarters" in names(res)[:2]
    obh = next(r for r in res.recommendations if r.org.id == "osaka-bio-headquarters")
    labels = {r.label for r in obh.reasons}
    assert {"sector_overlap", "existing_ties"} <= labels
    assert any("bioXclusters plus" in r.text for r in obh.reasons if r.label == "existing_ties")
    assert obh.sources, "a recommendation must say where its facts come from"
    check_scores(res)


def test_french_cosmetics_sme_gets_the_japan_cosmetic_centre_first(kb_url):
    res = recommend(kb_url, sectors="cosmetics", home="France", kind="SME")
    assert res.unresolved == {}
    assert names(res)[0] == "Japan Cosmetic Centre"
    assert {r.org.country for r in res.recommendations} == {"Japan"}
    jcc = res.recommendations[0]
    tie = next(r for r in jcc.reasons if r.label == "existing_ties")
    assert "Cosmetic Valley" in tie.text and "France" in tie.text  # a tie with the asker's own country
    check_scores(res)


def test_japanese_biomedical_org_gets_european_candidates(kb_url):
    res = recommend(kb_url, limit=10, sectors="biomedical", home="Kobe", kind="cluster")
    assert res.unresolved == {}
    assert res.profile["target"] == "European Union"
    assert "Life Science Nord" in names(res)[:3]
    for rec in res.recommendations:
        assert "European Union" in rec.org.place_chain, rec.org
        assert rec.org.country != "Japan"
    lsn = next(r for r in res.recommendations if r.org.id == "life-science-nord")
    assert any("Kobe" in r.text for r in lsn.reasons if r.label == "existing_ties")
    check_scores(res)


def test_explicit_target_restricts_the_candidates(kb_url):
    res = recommend(kb_url, limit=10, sectors="life sciences", home="Osaka", target="Germany")
    assert res.profile["target"] == "Germany"
    assert res.recommendations
    assert {r.org.country for r in res.recommendations} == {"Germany"}
    check_scores(res)


@pytest.mark.parametrize(
    "profile",
    [
        dict(sectors="energy", home="Scotland"),
        dict(sectors=["textiles"], home="Lyon", kind="cluster"),
        dict(sectors="medtech"),
        dict(sectors=["regen med", "oncology"], home="Barcelona", kind="university"),
    ],
)
def test_every_score_is_the_sum_of_its_reasons(kb_url, profile):
    res = recommend(kb_url, limit=20, **profile)
    assert res.recommendations, profile
    check_scores(res)


def test_unknown_sector_is_unresolved(kb_url):
    res = recommend(kb_url, sectors="underwater basket weaving", home="Munich")
    assert res.recommendations == []
    assert res.unresolved == {"sectors": "underwater basket weaving"}
    no_sector = recommend(kb_url, sectors=[], home="Munich")
    assert no_sector.recommendations == [] and "sectors" in no_sector.unresolved


def test_unknown_home_is_unresolved_but_still_recommends(kb_url):
    res = recommend(kb_url, sectors="cosmetics", home="Atlantis")
    assert res.unresolved == {"home": "Atlantis"}
    assert res.profile["target"] == "Japan"
    assert names(res)[0] == "Japan Cosmetic Centre"


def test_limit_is_clamped(kb_url):
    assert len(recommend(kb_url, limit=0, sectors="life sciences", home="France").recommendations) == 5
    assert len(recommend(kb_url, limit=500, sectors="life sciences", home="France").recommendations) <= 20


def test_profile_from_accepts_loose_values():
    p = db.profile_from(sectors="biotech", home="Munich", kind="SMEs", previous_contact=True)
    assert p == db.Profile(sectors=["biotech"], home="Munich", kind="company", previous_contact=True)
    assert db.profile_from(kind="spaceship").kind == "spaceship"


def test_odd_profiles_never_raise(kb_url):
    odd = ["", "x" * 10_000, "'; DROP TABLE organisations; --", "%_\\", "\x00", "🧬", "مرحبا", None]
    for text in odd:
        for profile in (
            db.profile_from(sectors=text, home=text, target=text, kind=text),
            db.Profile(sectors=[text, "biotech"] if text is not None else [], home=text, interests=text),
        ):
            res = db.recommend_partners(profile, url=kb_url)
            assert isinstance(res, db.recommend.RecommendResult)
            check_scores(res)


def test_reason_texts_use_the_right_article(kb_url):
    res = recommend(kb_url, limit=20, sectors="biotech", home="Munich")
    texts = [r.text for rec in res.recommendations for r in rec.reasons]
    assert any(t.startswith("an ") for t in texts if "association" in t)
    assert not [t for t in texts if t.startswith(("a a", "a e", "a i", "a o", "a u"))]
