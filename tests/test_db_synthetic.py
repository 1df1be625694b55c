"""Synthetic benchmark organisations (db/synthetic.py): flagged, kept out of the curated data,
removed completely. Runs on SQLite and PostgreSQL, on databases of their own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from ruamel.yaml import YAML
from sqlalchemy import func, select, text

import db
from db import models as m
from db.engine import get_engine
from db.synthetic import ID_PREFIX, add_synthetic, remove_synthetic, synthetic_count
from db.text import fold
from tests.conftest import ROOT

SIZE = 200


@pytest.fixture
def syn_url(kb_maker) -> str:
    """A seeded knowledge base of its own holding SIZE synthetic organisations."""
    url = kb_maker.seeded()
    add_synthetic(url, SIZE)
    return url


def _rows(url: str, stmt):
    with get_engine(url).connect() as conn:
        return conn.execute(stmt).all()


def test_generated_organisations_are_flagged_and_well_formed(syn_url):
    o = m.Organisation
    rows = _rows(syn_url, select(o.pk, o.id, o.name, o.kind, o.place_id, o.synthetic).where(o.id.startswith(ID_PREFIX)))
    assert len(rows) == SIZE == synthetic_count(syn_url)
    assert all(r.synthetic for r in rows)
    assert all(r.name.startswith("Synthetic ") for r in rows)
    assert len({r.kind for r in rows}) >= 5, "a realistic mix of kinds"
    # No curated record is flagged, no synthetic record hides among curated ids.
    flagged = _rows(syn_url, select(func.count()).select_from(o).where(o.synthetic.is_(True)))[0][0]
    assert flagged == SIZE
    pks = [r.pk for r in rows]
    sectors = _rows(
        syn_url,
        select(m.OrganisationSector.org_pk, func.count())
        .where(m.OrganisationSector.org_pk.in_(pks))
        .group_by(m.OrganisationSector.org_pk),
    )
    assert len(sectors) == SIZE and all(1 <= n <= 3 for _, n in sectors)
    names = _rows(
        syn_url,
        select(m.OrganisationName.org_pk, m.OrganisationName.name, m.OrganisationName.norm).where(
            m.OrganisationName.org_pk.in_(pks)
        ),
    )
    per_org: dict[int, int] = {}
    for org_pk, name, norm in names:
        per_org[org_pk] = per_org.get(org_pk, 0) + 1
        assert norm == fold(name)
    assert all(2 <= n <= 3 for n in per_org.values()), "the name and one or two aliases"


def test_synthetic_partnerships_only_tie_synthetic_organisations(syn_url):
    p, a, b = m.Partnership, m.Organisation.__table__.alias("a"), m.Organisation.__table__.alias("b")
    rows = _rows(
        syn_url, select(p.id, a.c.synthetic, b.c.synthetic).join(a, a.c.pk == p.org_a_pk).join(b, b.c.pk == p.org_b_pk)
    )
    synthetic = [r for r in rows if r.id.startswith(ID_PREFIX)]
    assert synthetic, "recommendations need ties to score"
    assert all(r[1] and r[2] for r in synthetic)
    assert not any(r[1] or r[2] for r in rows if not r.id.startswith(ID_PREFIX))


def test_synthetic_names_are_searchable(syn_url):
    name = _rows(syn_url, select(m.Organisation.name).where(m.Organisation.id == f"{ID_PREFIX}000007"))[0][0]
    res = db.search_organisations(name=name, url=syn_url)
    assert res.hits and res.hits[0].org.name == name and res.hits[0].org.synthetic


def test_remove_synthetic_removes_exactly_them(kb_maker, kb_snapshot):
    url = kb_maker.seeded()
    before = kb_snapshot(url)
    add_synthetic(url, SIZE)
    assert remove_synthetic(url) == SIZE
    assert kb_snapshot(url) == before
    assert synthetic_count(url) == 0
    assert not db.search_organisations(name="Synthetic Cluster", url=url).hits or not any(
        h.org.synthetic for h in db.search_organisations(name="Synthetic Cluster", url=url).hits
    )
    # Curated names are still found, through the rebuilt SQLite trigram index too.
    curated = _rows(url, select(m.Organisation.name).where(m.Organisation.synthetic.is_(False)).limit(1))[0][0]
    assert db.search_organisations(name=curated, url=url).hits[0].org.name == curated
    if get_engine(url).dialect.name == "sqlite":
        triggers = {r[0] for r in _rows(url, text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))}
        assert {"organisation_names_ai", "organisation_names_ad", "organisation_names_au"} <= triggers
        with get_engine(url).connect() as conn:  # FTS5 raises if the index and its table disagree
            conn.execute(
                text("INSERT INTO organisation_names_fts(organisation_names_fts, rank) VALUES ('integrity-check', 1)")
            )


def test_adding_twice_continues_the_numbering(kb_maker):
    url = kb_maker.seeded()
    add_synthetic(url, 30)
    add_synthetic(url, 20)
    ids = [r[0] for r in _rows(url, select(m.Organisation.id).where(m.Organisation.synthetic.is_(True)))]
    assert sorted(ids) == [f"{ID_PREFIX}{i:06d}" for i in range(50)]


def test_vocabulary_leaves_synthetic_organisations_out(syn_url):
    names = {
        fold(n)
        for (n,) in _rows(
            syn_url,
            select(m.OrganisationName.name)
            .join(m.Organisation, m.Organisation.pk == m.OrganisationName.org_pk)
            .where(m.Organisation.synthetic.is_(True)),
        )
    }
    assert len(names) > SIZE
    entries = db.vocabulary(url=syn_url).entries
    assert [e for e in entries if e.label == "org_name"], "curated names are there"
    assert not [e for e in entries if fold(e.phrase) in names or fold(e.value) in names]


def _export(url: str, *extra: str) -> dict:
    env = dict(os.environ, DATABASE_URL=url, KAKEHASHI_AUTO_SEED="1")
    out = subprocess.run(
        [sys.executable, "-m", "db", "export", "-", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    return YAML(typ="safe").load(out)


def test_export_leaves_synthetic_organisations_out(syn_url):
    data = _export(syn_url)
    assert not [o for o in data["organisations"] if o["id"].startswith(ID_PREFIX)]
    with_synthetic = _export(syn_url, "--synthetic")
    assert len([o for o in with_synthetic["organisations"] if o["id"].startswith(ID_PREFIX)]) == SIZE


def test_export_leaves_synthetic_partnerships_out(syn_url):
    data = _export(syn_url)
    assert not [p for p in data.get("partnerships", []) if p["id"].startswith(ID_PREFIX)]
