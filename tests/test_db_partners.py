"""Ties between organisations: both directions, through the groups an organisation belongs to,
filtered by sector, kind and country pair; success stories; unknown organisations."""

from __future__ import annotations

import db

OBH = "osaka-bio-headquarters"
BXP = "bioxclusters-plus"


def partner_ids(result) -> list[str]:
    return [link.partner.id for link in result.partners]


def test_osaka_bio_headquarters_has_the_bioxclusters_plus_mou(kb_url):
    res = db.partners_of("Osaka Bio Headquarters", url=kb_url)
    assert res.org is not None and res.org.id == OBH
    link = next(link for link in res.partners if link.partner.id == BXP)
    assert (link.kind, link.year, link.via) == ("mou", 2016, None)
    assert link.partner.name == "bioXclusters plus"
    assert link.sources, "a tie must say where it comes from"
    for source in link.sources:
        assert source.title and source.file.endswith(".txt") and len(source.passage) >= 30
    assert any("MoU" in s.passage for s in link.sources)


def test_ties_are_seen_from_both_sides(kb_url):
    from_obh = db.partners_of(OBH, url=kb_url)
    from_bxp = db.partners_of(BXP, url=kb_url)
    assert BXP in partner_ids(from_obh)
    assert OBH in partner_ids(from_bxp)
    a = next(link for link in from_obh.partners if link.partner.id == BXP)
    b = next(link for link in from_bxp.partners if link.partner.id == OBH)
    assert a.partnership_id == b.partnership_id
    assert (a.kind, a.year, a.sources) == (b.kind, b.year, b.sources)


def test_members_see_their_groups_ties_via_the_group(kb_url):
    res = db.partners_of("BioM", url=kb_url)
    assert res.org.id == "biom"
    link = next(link for link in res.partners if link.partner.id == OBH)
    assert link.via == "bioXclusters plus"
    assert link.kind == "mou"
    # Every member of the alliance sees it; the group itself sees it directly.
    for member in ("Biocat", "Lyonbiopole", "bioPmed"):
        links = db.partners_of(member, url=kb_url).partners
        assert any(x.partner.id == OBH and x.via == "bioXclusters plus" for x in links), member
    assert all(x.via is None for x in db.partners_of(BXP, url=kb_url).partners)
    # A member is never listed as its own partner through its group.
    assert "biom" not in partner_ids(res)


def test_direct_ties_come_first_newest_first(kb_url):
    links = db.partners_of("Life Science Nord", url=kb_url).partners
    assert len(links) >= 2
    direct = [x for x in links if x.via is None]
    assert links[: len(direct)] == direct
    years = [x.year or 0 for x in direct]
    assert years == sorted(years, reverse=True)


def test_partners_filtered_by_sector(kb_url):
    every = db.partners_of("Life Science Nord", url=kb_url).partners
    biomedical = db.partners_of("Life Science Nord", sector="biomedical", url=kb_url).partners
    assert biomedical and len(biomedical) < len(every)
    assert {x.partnership_id for x in biomedical} <= {x.partnership_id for x in every}
    assert all("Biomedicine" in x.sectors for x in biomedical)
    assert db.partners_of("Life Science Nord", sector="cosmetics", url=kb_url).partners == []


def test_partners_filtered_by_kind(kb_url):
    mous = db.partners_of("bioXclusters plus", kind="MoU", url=kb_url).partners
    assert [x.partner.id for x in mous] == [OBH]
    gateways = db.partners_of("bioXclusters plus", kind="gateway agreement", url=kb_url).partners
    assert gateways and {x.kind for x in gateways} == {"gateway_agreement"}
    assert {"biosa", "to-health"} <= {x.partner.id for x in gateways}


def test_unknown_organisation_gets_suggestions_not_partners(kb_url):
    res = db.partners_of("Kobe", url=kb_url)  # three organisations in Kobe: ambiguous
    assert res.org is None and res.partners == []
    assert {"Kobe Biomedical Innovation Cluster", "Foundation for Biomedical Research and Innovation"} <= set(
        res.suggestions
    )
    nothing = db.partners_of("Zyxwvut Quorblax", url=kb_url)
    assert (nothing.org, nothing.partners, nothing.suggestions) == (None, [], [])
    for blank in ("", "   ", None):
        res = db.partners_of(blank, url=kb_url)
        assert (res.org, res.partners) == (None, [])


def test_typo_in_the_organisation_name_still_finds_it(kb_url):
    assert db.partners_of("Osaka Bio Headquartrs", url=kb_url).org.id == OBH
    assert db.partners_of("osaka bio hq", url=kb_url).org.id == OBH


def test_find_partnerships_between_japan_and_france_by_kind(kb_url):
    found, unresolved = db.find_partnerships(country_a="Japan", country_b="France", kind="MoU", url=kb_url)
    assert unresolved == {}
    pairs = {frozenset((p.a.id, p.b.id)) for p in found}
    assert frozenset(("japan-cosmetic-centre", "cosmetic-valley")) in pairs
    for p in found:
        assert p.kind == "mou"
        assert {p.a.country, p.b.country} == {"Japan", "France"}
        assert p.sources
    # Either order of the countries, and their adjectives.
    again, _ = db.find_partnerships(country_a="French", country_b="Japanese", kind="memorandum", url=kb_url)
    assert {p.id for p in again} == {p.id for p in found}


def test_find_partnerships_by_sector(kb_url):
    found, unresolved = db.find_partnerships(sector="renewable energy", url=kb_url)
    assert unresolved == {}
    assert {frozenset((p.a.id, p.b.id)) for p in found} >= {
        frozenset(("scotland-house", "nagasaki-dejima-incubator")),
        frozenset(("fukushima-prefecture", "north-rhine-westphalia")),
    }
    assert all("Renewable energy" in p.sectors or "Offshore wind" in p.sectors for p in found)
    cosmetics, _ = db.find_partnerships(sector="beauty", url=kb_url)
    assert "japan-cosmetic-centre-cosmetic-valley-mou-2013" in {p.id for p in cosmetics}
    assert all("Cosmetics" in p.sectors for p in cosmetics)


def test_find_partnerships_by_one_country_and_by_kind_of_organisation(kb_url):
    german, _ = db.find_partnerships(country_a="Germany", limit=50, url=kb_url)
    assert german
    assert all("Germany" in (p.a.country, p.b.country) for p in german)
    clusters, _ = db.find_partnerships(country_a="Japan", country_b="European Union", org_kind="cluster", url=kb_url)
    assert clusters
    assert "bioxclusters-plus-osaka-bio-headquarters-mou-2016" in {p.id for p in clusters}
    group = {"cluster", "meta_cluster", "cluster_partnership", "cluster_management", "network"}
    # the kind fits one side at least: a cluster's tie with an association is a cluster partnership
    assert all(p.a.kind in group or p.b.kind in group for p in clusters)
    years = [p.year or 0 for p in german]
    assert years == sorted(years, reverse=True)


def test_find_partnerships_reports_what_it_did_not_understand(kb_url):
    found, unresolved = db.find_partnerships(sector="zzyzx", country_a="Atlantis", kind="handshake", url=kb_url)
    assert found == []
    assert unresolved == {"sector": "zzyzx", "country_a": "Atlantis", "kind": "handshake"}


def test_success_stories_have_an_outcome(kb_url):
    stories, unresolved = db.success_stories(url=kb_url)
    assert unresolved == {} and stories
    assert all(s.status in {"active", "signed", "ongoing"} and s.outcome for s in stories)
    assert "bioxclusters-plus-osaka-bio-headquarters-mou-2016" in {s.id for s in stories}
    japanese, _ = db.success_stories(country="Japan", url=kb_url)
    assert japanese and all("Japan" in (s.a.country, s.b.country) for s in japanese)
