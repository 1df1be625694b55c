"""Every partnership in the knowledge base is found by the questions a user would naturally ask of
it, from either side: who does A partner with, who does B partner with, partnerships between A's
and B's countries (either order), and with a kind of organisation that fits one side."""

from __future__ import annotations

from sqlalchemy import select

import db
from db import models as m
from db.engine import session_scope
from db.kinds import kinds_of


def all_partnerships(url: str) -> list[tuple[str, str, str, str, str]]:
    with session_scope(url) as session:
        rows = session.execute(select(m.Partnership.id, m.Partnership.org_a_pk, m.Partnership.org_b_pk))
        orgs = {o.pk: o for o in session.scalars(select(m.Organisation))}
        return [(pid, orgs[a].id, orgs[b].id, orgs[a].kind, orgs[b].kind) for pid, a, b in rows]


def test_every_partnership_is_found_from_both_sides(kb_url):
    pairs = all_partnerships(kb_url)
    assert len(pairs) >= 30
    for pid, a, b, _, _ in pairs:
        for org in (a, b):
            found = db.partners_of(org, url=kb_url)
            ids = {link.partnership_id for link in found.partners}
            assert pid in ids, f"{pid} is not among the partners of {org}"


def test_every_partnership_is_found_by_its_countries_in_either_order(kb_url):
    for pid, a, b, _, _ in all_partnerships(kb_url):
        country_a = db.resolve_organisation(a, url=kb_url)[0].country
        country_b = db.resolve_organisation(b, url=kb_url)[0].country
        if not (country_a and country_b):
            continue
        for first, second in ((country_a, country_b), (country_b, country_a)):
            rows, unresolved = db.find_partnerships(country_a=first, country_b=second, limit=200, url=kb_url)
            assert not unresolved
            assert pid in {p.id for p in rows}, f"{pid} not found for {first} ↔ {second}"


def test_a_kind_that_fits_one_side_keeps_the_partnership(kb_url):
    cluster_kinds = set(kinds_of("cluster"))
    mixed = [
        (pid, ka, kb_)
        for pid, _, _, ka, kb_ in all_partnerships(kb_url)
        if (ka in cluster_kinds) != (kb_ in cluster_kinds)
    ]
    assert mixed, "the dataset has cluster ties with non-clusters (e.g. Polepharma–Toyama)"
    rows, _ = db.find_partnerships(org_kind="cluster", limit=200, url=kb_url)
    found = {p.id for p in rows}
    for pid, _, _ in mixed:
        assert pid in found, f"{pid} dropped by the cluster filter although one side is a cluster"
