"""Finding organisations by name: exact, alias, substring and typo-tolerant, on the backend's
own index (FTS5 trigram on SQLite, pg_trgm on PostgreSQL), then re-scored with rapidfuzz."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db import models as m
from db.text import clean_query

CANDIDATES = 200
MIN_SCORE = 72.0


@dataclass(frozen=True)
class NameMatch:
    org_pk: int
    score: float  # 0–100
    matched: str  # the name or alias that matched
    exact: bool


def match_names(session: Session, query: str, limit: int = 20, min_score: float = MIN_SCORE) -> list[NameMatch]:
    """Organisations whose name or an alias matches `query`, best first (one row per org)."""
    q = clean_query(query)
    if len(q) < 2:
        return []
    rows = list(session.execute(
        select(m.OrganisationName.org_pk, m.OrganisationName.name, m.OrganisationName.norm)
        .where(m.OrganisationName.norm == q)
    ))
    if len(q) >= 3:
        rows += _candidates(session, q)
    best: dict[int, NameMatch] = {}
    for org_pk, name, norm in rows:
        exact = norm == q
        score = 100.0 if exact else _score(q, norm)
        if score < min_score:
            continue
        cur = best.get(org_pk)
        if cur is None or score > cur.score:
            best[org_pk] = NameMatch(org_pk, score, name, exact)
    return sorted(best.values(), key=lambda x: (-x.score, x.org_pk))[:limit]


def _score(q: str, norm: str) -> float:
    # Whole-name similarity, or a query that is a whole word-run of a longer name
    # ("life science nord" in "life science nord management gmbh").
    score = fuzz.ratio(q, norm)
    if len(q) >= 4:
        score = max(score, fuzz.token_set_ratio(q, norm) * 0.95)
        if len(q) >= 5:
            score = max(score, fuzz.partial_ratio(q, norm) * 0.9)
    return score


def _candidates(session: Session, q: str) -> list[tuple[int, str, str]]:
    if session.get_bind().dialect.name == "postgresql":
        return list(session.execute(text(
            "SELECT org_pk, name, norm FROM organisation_names "
            "WHERE norm % :q OR :q <% norm "
            "ORDER BY greatest(similarity(norm, :q), word_similarity(:q, norm)) DESC, id LIMIT :n"
        ), {"q": q, "n": CANDIDATES}))
    # SQLite FTS5 trigram: the whole query as a substring first (selective), then any of its
    # trigrams (typos), best bm25 first.
    phrase = '"' + q.replace('"', " ") + '"'
    rows = list(session.execute(text(
        "SELECT n.org_pk, n.name, n.norm FROM organisation_names_fts f "
        "JOIN organisation_names n ON n.id = f.rowid "
        "WHERE organisation_names_fts MATCH :m ORDER BY bm25(organisation_names_fts), f.rowid LIMIT :n"
    ), {"m": phrase, "n": CANDIDATES}))
    if len(rows) < 5:
        grams = {q[i : i + 3] for i in range(len(q) - 2)}
        grams = [g for g in grams if g.strip() and '"' not in g]
        if grams:
            match = " OR ".join(f'"{g}"' for g in sorted(grams))
            rows += list(session.execute(text(
                "SELECT n.org_pk, n.name, n.norm FROM organisation_names_fts f "
                "JOIN organisation_names n ON n.id = f.rowid "
                "WHERE organisation_names_fts MATCH :m ORDER BY bm25(organisation_names_fts), f.rowid LIMIT :n"
            ), {"m": match, "n": CANDIDATES}))
    return rows
