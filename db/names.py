"""Finding organisations by name: exact, alias, substring and typo-tolerant, on the backend's
own index (FTS5 trigram on SQLite, pg_trgm on PostgreSQL), then re-scored with rapidfuzz."""

from __future__ import annotations

import math
import random
import re
import time
from collections import Counter
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from db import models as m
from db.common import chunks
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
    rows = list(
        session.execute(
            select(m.OrganisationName.org_pk, m.OrganisationName.name, m.OrganisationName.norm).where(
                m.OrganisationName.norm == q
            )
        )
    )
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
    postgres = session.get_bind().dialect.name == "postgresql"
    picks = _picks(session, q, postgres)
    if postgres:
        if picks is None:
            return list(
                session.execute(
                    text(
                        "SELECT org_pk, name, norm FROM organisation_names "
                        "WHERE norm % :q OR :q <% norm "
                        "ORDER BY greatest(similarity(norm, :q), word_similarity(:q, norm)) DESC, id LIMIT :n"
                    ),
                    {"q": q, "n": CANDIDATES},
                )
            )
        n = m.OrganisationName
        plain = n.norm.concat("").self_group()  # the same text, but not looked up in the index
        # An alternative whose rarest trigram is rare reads the index for it alone and checks the
        # rest on the few rows found; otherwise the index intersects all of its trigrams.
        where = or_(
            *[
                and_(n.norm.like(f"%{key}%"), *[plain.like(f"%{part}%") for part in parts if part != key])
                if rare
                else and_(*[n.norm.like(f"%{part}%") for part in parts])
                for key, parts, rare in picks
            ]
        )
        return _best(q, session.execute(select(n.org_pk, n.name, n.norm).where(where).limit(MAX_ROWS)).all())
    # SQLite FTS5 trigram: the whole query as a substring first (selective), then any of its
    # trigrams (typos), best bm25 first.
    phrase = '"' + q.replace('"', " ") + '"'
    rows = list(
        session.execute(
            text(
                "SELECT n.org_pk, n.name, n.norm FROM organisation_names_fts f "
                "JOIN organisation_names n ON n.id = f.rowid "
                "WHERE organisation_names_fts MATCH :m ORDER BY bm25(organisation_names_fts), f.rowid LIMIT :n"
            ),
            {"m": phrase, "n": CANDIDATES},
        )
    )
    if len(rows) >= 5:
        return rows
    if picks is None:
        grams = sorted(_grams(q, postgres=False))
        if grams:
            rows += list(
                session.execute(
                    text(
                        "SELECT n.org_pk, n.name, n.norm FROM organisation_names_fts f "
                        "JOIN organisation_names n ON n.id = f.rowid "
                        "WHERE organisation_names_fts MATCH :m ORDER BY bm25(organisation_names_fts), f.rowid LIMIT :n"
                    ),
                    {"m": " OR ".join(f'"{g}"' for g in grams), "n": CANDIDATES},
                )
            )
        return rows
    # FTS5 reads every trigram of a phrase: only alternatives with a rare trigram are cheap.
    picks = [(key, parts) for key, parts, rare in picks if rare]
    if picks:
        match = " OR ".join("(" + " AND ".join(f'"{part}"' for part in parts) + ")" for _key, parts in picks)
        rows += _best(
            q,
            session.execute(
                text(
                    "SELECT n.org_pk, n.name, n.norm FROM organisation_names_fts f "
                    "JOIN organisation_names n ON n.id = f.rowid WHERE organisation_names_fts MATCH :m LIMIT :max"
                ),
                {"m": match, "max": MAX_ROWS},
            ).all(),
        )
    return rows


def _best(q: str, rows: list) -> list[tuple[int, str, str]]:
    """The CANDIDATES rows scoring best against `q` (as _score does, computed in bulk)."""
    if len(rows) <= CANDIDATES:
        return [tuple(r) for r in rows]
    norms = [r[2] for r in rows]
    best = [0.0] * len(rows)
    scorers = [(fuzz.ratio, 1.0)]
    if len(q) >= 4:
        scorers.append((fuzz.token_set_ratio, 0.95))
    if len(q) >= 5:
        scorers.append((fuzz.partial_ratio, 0.9))
    for scorer, weight in scorers:
        for _norm, score, i in process.extract(q, norms, scorer=scorer, limit=None):
            best[i] = max(best[i], score * weight)
    order = sorted(range(len(rows)), key=lambda i: (-best[i], rows[i][0], i))[:CANDIDATES]
    return [tuple(rows[i]) for i in order]


# --------------------------------------------------------------------------- trigram rarity

GRAM_BUDGET = {"sqlite": 1_500, "postgresql": 1_000}  # names a typo search may read, by estimate
MIN_GRAMS = 4  # one typo spoils at most three trigrams: take up to four when affordable
MAX_ROWS = 3_000  # names scored at most, whatever the estimates said
SAMPLE_NAMES = 30_000
STATS_TTL_S = 600.0
CHECK_EVERY_S = 2.0


@dataclass
class _GramStats:
    names: int  # names in the database
    top: int  # the highest name id when sampled
    sample: int  # names sampled
    counts: Counter  # trigram → sampled names containing it
    at: float
    checked_at: float


_gram_cache: dict[str, _GramStats] = {}


def _grams(q: str, postgres: bool) -> set[str]:
    """The trigrams of `q` an index can look up as substrings: any three characters for FTS5;
    three letters or digits inside a word for pg_trgm (it cannot index other characters)."""
    grams = {q[i : i + 3] for i in range(len(q) - 2)}
    if postgres:
        return {g for g in grams if g.isascii() and g.isalnum()}
    return {g for g in grams if g.strip() and '"' not in g}


def _pg_trigrams(q: str) -> set[str]:
    """The trigrams pg_trgm makes of `q` (each word padded with two spaces before, one after)."""
    out: set[str] = set()
    for word in _WORD.findall(q):
        padded = f"  {word} "
        out.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return out


_WORD = re.compile(r"[0-9a-z]+")


def _picks(session: Session, q: str, postgres: bool) -> list[tuple[str, list[str], bool]] | None:
    """None when reading every name holding one of the query's trigrams is cheap enough (then
    the query runs as it always did). Otherwise, at scale, where a query shares common trigrams
    ("ion", "ter") with a large share of all names: the substrings that pick the candidates, as
    alternatives (the rarest trigram, everything a name must contain, whether that trigram is
    rare): each of the query's rarest trigrams (typos), all of its words, and all but one of
    them (a misspelt word) when few names should hold them all."""
    grams = _grams(q, postgres)
    if not grams:
        return None
    budget = GRAM_BUDGET["postgresql" if postgres else "sqlite"]
    st = _gram_stats(session)
    scale = st.names / max(st.sample, 1)
    looked_up = _pg_trigrams(q) if postgres else grams  # what the plain query reads
    if min(sum(st.counts.get(g, 0) for g in looked_up) * scale, st.names) <= budget:
        return None
    est = {g: st.counts.get(g, 0) * scale for g in grams}
    picks, cost = [], 0.0
    for g in sorted(grams, key=lambda g: (est[g], g)):
        if cost + est[g] > (budget if len(picks) >= MIN_GRAMS else 4 * budget):
            break
        picks.append((g, [g], True))
        cost += est[g]
    # Words a trigram index can find, each held by at most as many names as its rarest trigram;
    # words assumed independent.
    words = [w for w in dict.fromkeys(q.replace('"', " ").split()) if len(w) >= 3 and _grams(w, postgres)]

    def rarest(parts: list[str]) -> str:
        return min((g for w in parts for g in _grams(w, postgres)), key=lambda g: (est[g], g))

    if words:
        key = rarest(words)
        picks.append((key, words, est[key] <= budget))
    if len(words) >= 2:
        share = {w: est[rarest([w])] / max(st.names, 1) for w in words}
        for w in words:
            rest = [x for x in words if x != w]
            key = rarest(rest)
            if st.names * math.prod(share[x] for x in rest) <= budget:
                picks.append((key, rest, est[key] <= budget))
    return picks


def _gram_stats(session: Session) -> _GramStats:
    """How common each trigram is, from a sample of names, cached a few minutes per database."""
    key = str(session.get_bind().url)
    now = time.monotonic()
    st = _gram_cache.get(key)
    n = m.OrganisationName
    if st is not None and now - st.at < STATS_TTL_S:
        if now - st.checked_at < CHECK_EVERY_S:
            return st
        st.checked_at = now  # a bulk load or removal moves the highest id
        if abs(session.scalar(select(func.coalesce(func.max(n.id), 0))) - st.top) <= max(1000, st.names // 10):
            return st
    total, top = session.execute(select(func.count(), func.coalesce(func.max(n.id), 0))).one()
    if total <= SAMPLE_NAMES:
        norms = list(session.scalars(select(n.norm)))
    else:
        ids = sorted(random.Random(top).sample(range(1, top + 1), min(top, SAMPLE_NAMES)))
        norms = [x for part in chunks(ids, 500) for x in session.scalars(select(n.norm).where(n.id.in_(part)))]
    postgres = session.get_bind().dialect.name == "postgresql"
    counts: Counter = Counter()
    for norm in norms:
        counts.update(_pg_trigrams(norm) if postgres else _grams(norm, postgres))
    st = _gram_cache[key] = _GramStats(total, top, len(norms), counts, now, now)
    return st
