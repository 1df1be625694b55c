"""Figures on Japanese markets, by topic (fuzzy over topic, metric and sector)."""

from __future__ import annotations

from rapidfuzz import fuzz
from sqlalchemy import select

from db import models as m
from db.common import sources_for
from db.engine import session_scope
from db.reference import reference
from db.results import MarketFactInfo
from db.text import clean_query, fold

MIN_SCORE = 75.0
_FILLER = {"market", "markets", "size", "japan", "japanese", "the", "in", "of", "how", "big", "is", "for"}


def market_facts(topic: str | None, limit: int = 10, url: str | None = None) -> list[MarketFactInfo]:
    """Market facts whose topic, metric or sector matches `topic`, best match first."""
    key = " ".join(w for w in clean_query(topic).split() if w not in _FILLER)
    if not key:
        return []
    with session_scope(url) as session:
        ref = reference(session)
        facts = list(session.scalars(select(m.MarketFact)))
        sec = ref.resolve_sector(key)
        scored = []
        for f in facts:
            s = max(
                fuzz.token_set_ratio(key, fold(f.topic)),
                fuzz.partial_ratio(key, fold(f.topic)) * 0.95,
                fuzz.token_set_ratio(key, fold(f.metric)) * 0.9,
            )
            if sec and f.sector_id and ref.sectors[f.sector_id].path.startswith(sec.path):
                s = max(s, 90.0)
            if s >= MIN_SCORE:
                scored.append((s, f))
        scored.sort(key=lambda x: (-x[0], -(x[1].year or 0)))
        chosen = [f for _, f in scored[:limit]]
        sources = sources_for(session, "market_facts", [f.id for f in chosen])
        return [
            MarketFactInfo(
                f.id,
                f.topic,
                ref.sectors[f.sector_id].name if f.sector_id else None,
                f.metric,
                f.value,
                f.unit,
                f.year,
                f.note,
                sources.get(f.id, []),
            )
            for f in chosen
        ]


def market_topics(url: str | None = None) -> list[str]:
    with session_scope(url) as session:
        return sorted(set(session.scalars(select(m.MarketFact.topic))))
