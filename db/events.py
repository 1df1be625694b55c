"""Events (fairs, partnering conferences, missions, symposia) by sector, place, date and name."""

from __future__ import annotations

import datetime as dt

from rapidfuzz import fuzz
from sqlalchemy import select

from db import models as m
from db.common import path_range, sources_for
from db.engine import session_scope
from db.reference import reference
from db.results import EventInfo
from db.text import clean_query, fold


def find_events(
    sector: str | None = None,
    place: str | None = None,
    name: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: int = 10,
    url: str | None = None,
) -> tuple[list[EventInfo], dict[str, str]]:
    """Events matching every filter given, newest first; plus criteria not understood."""
    limit = max(1, min(int(limit or 10), 50))
    with session_scope(url) as session:
        ref = reference(session)
        unresolved = {}
        q = select(m.Event)
        if sector:
            sec = ref.resolve_sector(sector)
            if sec is None:
                unresolved["sector"] = sector
            else:
                q = q.where(
                    m.Event.pk.in_(
                        select(m.EventSector.event_pk).where(m.EventSector.sector_id.in_(ref.sector_subtree(sec)))
                    )
                )
        if place:
            row = ref.resolve_place(place)
            if row is None:
                unresolved["place"] = place
            else:
                lo, hi = path_range(row.path)
                q = q.where(m.Event.place_path >= lo, m.Event.place_path < hi)
        if date_from:
            q = q.where(m.Event.start_date >= date_from)
        if date_to:
            q = q.where(m.Event.start_date <= date_to)
        if unresolved:
            return [], unresolved
        events = list(session.scalars(q.order_by(m.Event.start_date.desc().nullslast(), m.Event.name)))
        if name and clean_query(name):
            key = clean_query(name)
            scored = [(max(fuzz.WRatio(key, fold(e.name)), fuzz.WRatio(key, fold(e.series or ""))), e) for e in events]
            events = [e for s, e in sorted(scored, key=lambda x: -x[0]) if s >= 80]
        events = events[:limit]
        sources = sources_for(session, "events", [e.id for e in events])
        out = []
        for e in events:
            orgs = {"organiser": [], "participant": []}
            for eo in e.orgs:
                org = session.get(m.Organisation, eo.org_pk)
                orgs[eo.role].append(org.name)
            out.append(
                EventInfo(
                    id=e.id,
                    name=e.name,
                    series=e.series,
                    kind=e.kind,
                    start=e.start,
                    end=e.end,
                    place=ref.places[e.place_id].name if e.place_id else None,
                    place_chain=ref.place_chain(e.place_id),
                    organisers=sorted(orgs["organiser"]),
                    participants=sorted(orgs["participant"]),
                    sectors=sorted(ref.sectors[s.sector_id].name for s in e.sectors),
                    figures=dict(e.figures or {}),
                    description=e.description,
                    sources=sources.get(e.id, []),
                )
            )
        return out, {}
