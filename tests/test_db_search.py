"""search_organisations: sectors with their sub-sectors and synonyms, places with everything
inside them, names with typos and aliases, kind filter, pagination, reasons, alternatives, and
input that must never break it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import db
from db import models as m

OBH = "osaka-bio-headquarters"
KOBE_CLUSTER = "kobe-biomedical-innovation-cluster"


def ids(result) -> list[str]:
    return [h.org.id for h in result.hits]


def all_hits(url: str, **criteria) -> list:
    """Every hit of a search, page by page (50 per page, the most a page holds)."""
    hits, offset = [], 0
    while True:
        res = db.search_organisations(**criteria, limit=50, offset=offset, url=url)
        hits += res.hits
        offset += len(res.hits)
        if not res.hits or offset >= res.total:
            return hits


# --------------------------------------------------------------------------- sectors


@pytest.mark.parametrize(
    ("sector", "canonical", "expected"),
    [
        ("regenerative medicine", "Regenerative medicine", {OBH}),
        ("regen med", "Regenerative medicine", {OBH}),
        ("Regenerative Medicine", "Regenerative medicine", {OBH}),
        ("再生医療", "Regenerative medicine", {OBH}),
        ("cell therapy", "Regenerative medicine", {OBH}),
        ("biomedicine", "Biomedicine", {OBH, KOBE_CLUSTER, "fbri"}),
        ("biomedical", "Biomedicine", {OBH, KOBE_CLUSTER}),
        ("personalized medicine", "Personalised medicine", {OBH, "bioxclusters-plus"}),
        ("biotech", "Biotechnology", {"biom", "jba"}),
        ("cosmetics", "Cosmetics", {"japan-cosmetic-centre", "cosmetic-valley"}),
    ],
)
def test_sector_synonyms_and_subsectors_match(kb_url, sector, canonical, expected):
    res = db.search_organisations(sector=sector, limit=50, url=kb_url)
    assert res.criteria == {"sector": canonical}
    assert res.unresolved == {}
    assert expected <= set(ids(res))
    assert res.total == len(res.hits)


def test_sector_matches_organisations_of_its_subsectors_only(kb_url):
    res = db.search_organisations(sector="biomedicine", limit=50, url=kb_url)
    obh = next(h for h in res.hits if h.org.id == OBH)
    assert "Biomedicine" not in obh.org.sectors  # found through its sub-sectors
    assert any("(part of Biomedicine)" in r for r in obh.reasons)
    subsectors = {"Biomedicine", "Regenerative medicine", "Personalised medicine", "Oncology", "Immunotherapy",
                  "Vaccines", "Bioinformatics", "Cardiovascular", "Inflammatory diseases", "Infectious diseases",
                  "Central nervous system"}  # fmt: skip
    for hit in res.hits:
        assert subsectors & set(hit.org.sectors), f"{hit.org.name} has no biomedical sector: {hit.org.sectors}"
    # A broader sector finds at least what the narrower one finds.
    broader = {h.org.id for h in all_hits(kb_url, sector="life sciences")}
    assert set(ids(res)) <= broader


# --------------------------------------------------------------------------- places


def test_region_matches_every_place_inside_it(kb_url):
    kansai = all_hits(kb_url, place="Kansai")
    kansai_ids = {h.org.id for h in kansai}
    assert {OBH, KOBE_CLUSTER, "fbri"} <= kansai_ids
    for hit in kansai:
        assert "Kansai" in hit.org.place_chain, hit.org
    osaka = {h.org.id for h in all_hits(kb_url, place="Osaka")}
    kobe = {h.org.id for h in all_hits(kb_url, place="Kobe")}
    assert osaka and kobe
    assert osaka | kobe <= kansai_ids
    assert not (kansai_ids & {h.org.id for h in all_hits(kb_url, place="Kyushu")})


def test_japan_matches_every_japanese_prefecture(kb_url):
    japan = all_hits(kb_url, place="Japan")
    japan_ids = {h.org.id for h in japan}
    with db.session_scope(kb_url) as s:
        jp_orgs = set(s.scalars(select(m.Organisation.id).where(m.Organisation.country_code == "JP")))
        prefectures = list(
            s.scalars(select(m.Place.name).where(m.Place.kind == "prefecture", m.Place.country_code == "JP"))
        )
    assert japan_ids == jp_orgs
    assert all(h.org.country == "Japan" for h in japan)
    populated = 0
    for prefecture in prefectures:
        inside = {h.org.id for h in all_hits(kb_url, place=prefecture)}
        assert inside <= japan_ids, prefecture
        populated += bool(inside)
    assert populated >= 6, "the dataset should hold organisations in several prefectures"
    assert {"Osaka Prefecture", "Hyogo Prefecture", "Saga Prefecture", "Toyama Prefecture"} <= {
        chain for h in japan for chain in h.org.place_chain
    }


@pytest.mark.parametrize(("variant", "canonical"), [
    ("大阪", "Osaka"), ("Ōsaka", "Osaka"), ("OSAKA", "Osaka"), ("osaka city", "Osaka"),
    ("Kōbe", "Kobe"), ("kobe", "Kobe"), ("KOBE", "Kobe"), ("神戸", "Kobe"), ("Kebo", "Kobe"),
    ("Hyogo", "Hyogo Prefecture"), ("兵庫県", "Hyogo Prefecture"), ("関西", "Kansai"), ("Kinki", "Kansai"),
    ("日本", "Japan"), ("Japanese", "Japan"), ("Bayern", "Bavaria"), ("Catalunya", "Catalonia"),
])  # fmt: skip
def test_place_variants_resolve_to_the_same_place(kb_url, variant, canonical):
    res = db.search_organisations(place=variant, limit=50, url=kb_url)
    assert res.criteria == {"place": canonical}
    assert res.unresolved == {}
    assert ids(res) == ids(db.search_organisations(place=canonical, limit=50, url=kb_url))
    assert res.hits


def test_country_filter_and_demonym(kb_url):
    french = all_hits(kb_url, country="French")
    assert french and {h.org.country for h in french} == {"France"}
    assert {h.org.id for h in french} == {h.org.id for h in all_hits(kb_url, country="France")}


def test_place_outside_the_country_given_is_not_understood(kb_url):
    res = db.search_organisations(place="Osaka", country="France", url=kb_url)
    assert res.hits == [] and res.total == 0
    assert "place" in res.unresolved
    ok = db.search_organisations(place="Osaka", country="Japan", url=kb_url)
    assert OBH in ids(ok) and ok.unresolved == {}


def test_sector_and_place_together(kb_url):
    res = db.search_organisations(sector="regenerative medicine", place="Osaka", url=kb_url)
    assert ids(res) == [OBH]
    assert res.criteria == {"sector": "Regenerative medicine", "place": "Osaka"}
    assert res.hits[0].reasons[:2] == ["works on Regenerative medicine", "based in Osaka"]


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(("name", "expected"), [
    ("FBRI", "fbri"),
    ("fbri", "fbri"),
    ("life sciense nord", "life-science-nord"),
    ("Life Sciences Nord", "life-science-nord"),
    ("bioXclusters+", "bioxclusters-plus"),
    ("BioXClusters+", "bioxclusters-plus"),
    ("bioxclusters plus", "bioxclusters-plus"),
    ("osaka bio hq", OBH),
    ("Osaka Bio Quarters", OBH),
    ("Osaka Bio Headquarter", OBH),
    ("Kobe Biomedical Innovaton Cluster", KOBE_CLUSTER),
    ("techtera", "techtera"),
])  # fmt: skip
def test_names_with_typos_and_aliases(kb_url, name, expected):
    res = db.search_organisations(name=name, url=kb_url)
    assert ids(res)[:1] == [expected]
    assert res.hits[0].reasons[0].startswith(("name matches", "name is close to"))


def test_name_with_other_criteria_filters_the_name_matches(kb_url):
    assert ids(db.search_organisations(name="Kobe", place="Kobe", limit=50, url=kb_url))
    res = db.search_organisations(name="Osaka Bio Headquarters", place="France", url=kb_url)
    assert res.hits == [] and res.total == 0


def test_unknown_name_finds_nothing_and_says_so(kb_url):
    res = db.search_organisations(name="Zyxwvut Quorblax", url=kb_url)
    assert res.hits == [] and res.total == 0
    assert res.criteria == {"name": "zyxwvut quorblax"}
    assert res.unresolved == {}


# --------------------------------------------------------------------------- kinds


@pytest.mark.parametrize(("kind", "label", "allowed"), [
    ("cluster", "cluster", {"cluster", "meta_cluster", "cluster_partnership", "cluster_management", "network"}),
    ("SMEs", "company", {"company"}),
    ("companies", "company", {"company"}),
    ("universities", "university", {"university", "research_institute"}),
    ("foundation", "foundation", {"foundation"}),
])  # fmt: skip
def test_kind_filter(kb_url, kind, label, allowed):
    hits = all_hits(kb_url, kind=kind)
    assert hits
    assert {h.org.kind for h in hits} <= allowed
    res = db.search_organisations(kind=kind, place="Japan", url=kb_url)
    assert res.criteria["kind"] == label
    assert all(h.org.country == "Japan" for h in res.hits)


def test_kind_filter_narrows_a_search(kb_url):
    everything = {h.org.id for h in all_hits(kb_url, place="Japan")}
    clusters = {h.org.id for h in all_hits(kb_url, place="Japan", kind="cluster")}
    companies = {h.org.id for h in all_hits(kb_url, place="Japan", kind="company")}
    assert clusters and companies
    assert clusters | companies <= everything
    assert not clusters & companies
    assert {OBH, KOBE_CLUSTER} <= clusters


def test_unknown_kind_is_not_understood(kb_url):
    res = db.search_organisations(kind="spaceship", place="Japan", url=kb_url)
    assert res.unresolved == {"kind": "spaceship"}
    assert res.hits == []


# --------------------------------------------------------------------------- pagination


@pytest.mark.parametrize("criteria", [{"place": "Japan"}, {"sector": "life sciences"}, {"name": "cluster"}])
def test_pages_do_not_overlap_and_totals_are_stable(kb_url, criteria):
    everything = db.search_organisations(**criteria, limit=50, url=kb_url)
    assert everything.total > 10
    seen, offset = [], 0
    while offset < min(everything.total, 48):  # 12 pages of 4 within the 50 of `everything`
        page = db.search_organisations(**criteria, limit=4, offset=offset, url=kb_url)
        assert page.total == everything.total
        assert (page.offset, page.limit) == (offset, 4)
        assert page.has_more == (offset + len(page.hits) < everything.total)
        assert not set(ids(page)) & set(seen), "pages overlap"
        seen += ids(page)
        offset += 4
    assert seen == ids(everything)[: len(seen)]
    beyond = db.search_organisations(**criteria, limit=5, offset=everything.total, url=kb_url)
    assert beyond.hits == [] and beyond.total == everything.total and not beyond.has_more


def test_out_of_range_paging_is_clamped(kb_url):
    assert len(db.search_organisations(place="Japan", limit=0, url=kb_url).hits) == 5
    assert len(db.search_organisations(place="Japan", limit=10_000, url=kb_url).hits) == 50
    negative = db.search_organisations(place="Japan", offset=-7, url=kb_url)
    assert negative.offset == 0
    assert ids(negative) == ids(db.search_organisations(place="Japan", url=kb_url))


def test_same_query_gives_same_order(kb_url):
    first = ids(db.search_organisations(sector="life sciences", limit=50, url=kb_url))
    assert first == ids(db.search_organisations(sector="life sciences", limit=50, url=kb_url))


# --------------------------------------------------------------------------- reasons


@pytest.mark.parametrize("criteria", [
    {"sector": "biotech"}, {"place": "Kansai"}, {"name": "osaka bio"}, {"kind": "cluster"},
    {"sector": "life sciences", "place": "Germany", "kind": "cluster"}, {"country": "France"},
])  # fmt: skip
def test_every_hit_has_reasons_and_a_score(kb_url, criteria):
    res = db.search_organisations(**criteria, limit=50, url=kb_url)
    assert res.hits
    for hit in res.hits:
        assert hit.reasons and all(isinstance(r, str) and r.strip() for r in hit.reasons)
        assert 0.0 <= hit.score <= 1.0
        if "sector" in criteria:
            assert any(res.criteria["sector"] in r for r in hit.reasons)
        if "place" in criteria:
            assert any(r.startswith("based in") and res.criteria["place"] in r for r in hit.reasons)


def test_hits_come_best_score_first(kb_url):
    res = db.search_organisations(sector="biomedicine", limit=50, url=kb_url)
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores, reverse=True)


def test_kind_reason_uses_the_right_article(kb_url):
    res = db.search_organisations(kind="public body", limit=50, url=kb_url)
    kinds = {h.org.kind for h in res.hits}
    assert "agency" in kinds  # the case that needs "an"
    reasons = [r for h in res.hits for r in h.reasons]
    assert "an agency" in reasons
    assert not [r for r in reasons if r.startswith(("a a", "a e", "a i", "a o", "a u"))]


def test_hits_serialise_for_the_channels(kb_url):
    hit = db.search_organisations(sector="regen med", place="Osaka", url=kb_url).hits[0]
    d = hit.to_dict()
    assert {"id", "name", "country", "place", "place_chain", "sectors", "score", "reasons"} <= set(d)
    assert d["place_chain"] == ["Osaka", "Osaka Prefecture", "Kansai", "Japan"]


# --------------------------------------------------------------------------- nothing found


def test_nothing_found_offers_broader_alternatives(kb_url):
    res = db.search_organisations(sector="regenerative medicine", place="Kyoto", url=kb_url)
    assert (res.hits, res.total, res.unresolved) == ([], 0, {})
    assert res.alternatives
    first = res.alternatives[0]
    assert first.criteria == {"sector": "Regenerative medicine", "place": "Kansai"}
    assert "Osaka Bio Headquarters" in first.examples
    assert first.total >= 1
    for alt in res.alternatives:
        check = db.search_organisations(**alt.criteria, limit=50, url=kb_url)
        assert check.total == alt.total
        assert set(alt.examples) <= {h.org.name for h in check.hits}


def test_kind_too_narrow_offers_any_kind(kb_url):
    res = db.search_organisations(sector="cosmetics", place="Saga Prefecture", kind="university", url=kb_url)
    assert res.total == 0
    assert res.alternatives
    assert "Japan Cosmetic Centre" in res.alternatives[0].examples


@pytest.mark.parametrize(("key", "typed", "suggested"), [
    ("sector", "biotechnolgy stuff", "Biotechnology"),
    ("sector", "cosmetic valley", "Cosmetics"),
    ("place", "Osaca", "Osaka"),
    ("place", "Tokio", "Tokyo"),
    ("place", "Kansay", "Kansai"),
    ("country", "Osaka-shi", "Osaka"),
])  # fmt: skip
def test_unknown_sector_or_place_is_unresolved_with_suggestions(kb_url, key, typed, suggested):
    res = db.search_organisations(**{key: typed}, url=kb_url)
    assert res.hits == [] and res.total == 0
    assert key in res.unresolved
    assert suggested in res.suggestions[key]


def test_unknown_place_without_any_near_name_has_no_suggestions(kb_url):
    res = db.search_organisations(place="Hokkaido", sector="regen med", url=kb_url)
    assert res.unresolved == {"place": "hokkaido"}
    assert res.suggestions == {"place": []}
    assert res.criteria == {"sector": "Regenerative medicine"}


# --------------------------------------------------------------------------- odd input

ODD = [
    "", " ", "\t\n  ", "x" * 10_000, "'; DROP TABLE organisations; --", "%", "_", "\\", "%%__\\%",
    "' OR '1'='1", '"; SELECT 1; --', "\x00", "a\x00b", "\x01\x02\x1b[31m", "\u200b\u202e", "🧬🔬🇯🇵",
    "مرحبا بالعالم", "עברית", "大阪 バイオ", "NEAR(osaka bio)", "osaka* OR bio", '"osaka"', "^$.*+?()[]{}|",
    "Ｏｓａｋａ", None,
]  # fmt: skip


@pytest.mark.parametrize("field", ["sector", "place", "country", "kind", "name"])
def test_odd_input_never_raises(kb_url, field):
    for text in ODD:
        res = db.search_organisations(**{field: text}, url=kb_url)
        assert isinstance(res, db.search.SearchResult), repr(text)
        assert res.total >= len(res.hits)
        for key, value in {**res.criteria, **res.unresolved}.items():
            assert len(value) <= 200, (key, repr(text))
    # The table is still there, and still answers.
    assert ids(db.search_organisations(name="Osaka Bio Headquarters", url=kb_url))[:1] == [OBH]


def test_empty_or_blank_criteria_ask_for_criteria(kb_url):
    for blank in (None, "", "   ", "\n\t", "%", "\x00"):
        res = db.search_organisations(sector=blank, place=blank, name=blank, url=kb_url)
        assert res.hits == [] and res.total == 0
        assert res.unresolved == {"query": "no criteria"}, repr(blank)
    assert db.search_organisations(url=kb_url).unresolved == {"query": "no criteria"}


def test_fullwidth_and_accented_input_is_folded(kb_url):
    assert db.search_organisations(place="Ｏｓａｋａ", url=kb_url).criteria == {"place": "Osaka"}
    assert ids(db.search_organisations(name="ＴＥＣＨＴＥＲＡ", url=kb_url))[:1] == ["techtera"]
