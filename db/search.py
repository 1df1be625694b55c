"""search_organisations: by any mix of sector, place, country, kind and name; ranked, paginated,
each hit with the reasons it matched; broader alternatives when nothing matches."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from db import models as m
from db.common import path_range, summaries
from db.engine import session_scope
from db.kinds import kind_label, kinds_of, resolve_kind
from db.names import match_names
from db.reference import PlaceRow, Reference, SectorRow, reference
from db.results import Alternative, OrgHit, SearchResult
from db.text import clean_query

MAX_LIMIT = 50
COUNT_CAP = 1000


def search_organisations(
    sector: str | None = None,
    place: str | None = None,
    country: str | None = None,
    kind: str | None = None,
    name: str | None = None,
    limit: int = 5,
    offset: int = 0,
    url: str | None = None,
) -> SearchResult:
    """Organisations matching every criterion given; see the module docstring."""
    limit = max(1, min(int(limit or 5), MAX_LIMIT))
    offset = max(0, int(offset or 0))
    with session_scope(url) as session:
        return _search(session, reference(session), sector, place, country, kind, name, limit, offset)


def _search(session, ref, sector, place, country, kind, name, limit, offset, broaden=True) -> SearchResult:
    asked = {k: clean_query(v) for k, v in
             dict(sector=sector, place=place, country=country, kind=kind, name=name).items() if v and clean_query(v)}
    criteria, unresolved, suggestions = {}, {}, {}
    sec = pl = None
    kind_group = None
    if "sector" in asked:
        sec = ref.resolve_sector(asked["sector"])
        if sec:
            criteria["sector"] = sec.name
        else:
            unresolved["sector"] = asked["sector"]
            suggestions["sector"] = ref.suggest(asked["sector"], ref.sector_names, ref.sectors)
    places: list[PlaceRow] = []
    for key in ("place", "country"):
        if key in asked:
            row = ref.resolve_place(asked[key], countries_only=False)
            if row:
                criteria[key] = row.name
                places.append(row)
            else:
                unresolved[key] = asked[key]
                suggestions[key] = ref.suggest(asked[key], ref.place_names, ref.places)
    if places:  # the most precise place wins; a country given beside a city only confirms it
        pl = max(places, key=lambda p: len(p.path))
        if any(not pl.path.startswith(p.path) for p in places):
            unresolved["place"] = f"{places[0].name} is not in {places[1].name}"
    if "kind" in asked:
        kind_group = resolve_kind(asked["kind"])
        if kind_group:
            criteria["kind"] = kind_label(kind_group)
        else:
            unresolved["kind"] = asked["kind"]
    name_scores: dict[int, float] = {}
    if "name" in asked:
        matches = match_names(session, asked["name"], limit=50)
        name_scores = {x.org_pk: x.score for x in matches}
        criteria["name"] = asked["name"]
    if unresolved:
        return SearchResult([], 0, False, offset, limit, criteria, unresolved, suggestions)
    if not criteria:
        return SearchResult([], 0, False, offset, limit, criteria, {"query": "no criteria"})

    conditions = _conditions(ref, sec, pl, kind_group, name_scores if "name" in asked else None)
    if "name" in asked and not name_scores:
        pks, total, capped = [], 0, False
    elif "name" in asked:
        # At most 50 name candidates: filter them in SQL, order by name similarity.
        allowed = set(session.scalars(select(m.Organisation.pk).where(*conditions)))
        ranked = [pk for pk in sorted(name_scores, key=lambda p: -name_scores[p]) if pk in allowed]
        total, capped = len(ranked), False
        pks = ranked[offset : offset + limit]
    else:
        q = (select(m.Organisation.pk).where(*conditions)
             .order_by(m.Organisation.rank_weight.desc(), m.Organisation.name, m.Organisation.pk))
        pks = list(session.scalars(q.offset(offset).limit(limit)))
        counted = session.scalar(select(func.count()).select_from(
            select(m.Organisation.pk).where(*conditions).limit(COUNT_CAP + 1).subquery()))
        total, capped = min(counted, COUNT_CAP), counted > COUNT_CAP
    hits = _hits(session, ref, pks, sec, pl, kind_group, name_scores, asked.get("name"))
    alternatives = []
    if total == 0 and broaden:
        alternatives = _alternatives(session, ref, sec, pl, kind_group, asked.get("name"))
    return SearchResult(hits, total, capped, offset, limit, criteria, {}, {}, alternatives)


def _conditions(ref: Reference, sec: SectorRow | None, pl: PlaceRow | None, kind_group: str | None,
                name_scores: dict[int, float] | None) -> list:
    conds = []
    if sec is not None:
        conds.append(exists().where(
            m.OrganisationSector.org_pk == m.Organisation.pk,
            m.OrganisationSector.sector_id.in_(ref.sector_subtree(sec)),
        ))
    if pl is not None:
        lo, hi = path_range(pl.path)
        conds += [m.Organisation.place_path >= lo, m.Organisation.place_path < hi]
    if kind_group is not None:
        conds.append(m.Organisation.kind.in_(kinds_of(kind_group)))
    if name_scores is not None:
        conds.append(m.Organisation.pk.in_(list(name_scores) or [-1]))
    return conds


def _hits(session: Session, ref: Reference, pks: list[int], sec, pl, kind_group, name_scores, name) -> list[OrgHit]:
    if not pks:
        return []
    infos = summaries(session, ref, pks)
    org_rows = {o.pk: o for o in session.scalars(select(m.Organisation).where(m.Organisation.pk.in_(pks)))}
    sectors_of = defaultdict(list)
    for org_pk, sid in session.execute(select(m.OrganisationSector.org_pk, m.OrganisationSector.sector_id)
                                       .where(m.OrganisationSector.org_pk.in_(pks))):
        sectors_of[org_pk].append(sid)
    ties = _tie_counts(session, pks)
    hits = []
    for pk in pks:
        info, org = infos[pk], org_rows[pk]
        reasons, parts = [], []
        if name is not None:
            s = name_scores.get(pk, 0.0)
            names = session.scalars(select(m.OrganisationName.name).where(m.OrganisationName.org_pk == pk)).all()
            reasons.append(f"name matches “{name}”" if s >= 100 else f"name is close to “{name}”")
            aliases = [n for n in names if n != info.name]
            if aliases and s < 100:
                reasons[-1] += f" (also known as {', '.join(aliases[:2])})"
            parts.append(s / 100)
        if sec is not None:
            rels = [(ref.sector_relation(sec, sid), sid) for sid in sectors_of[pk]]
            same = [sid for rel, sid in rels if rel == "same"]
            narrower = [ref.sectors[sid].name for rel, sid in rels if rel == "narrower"]
            if same:
                reasons.append(f"works on {sec.name}")
                parts.append(1.0)
            else:
                reasons.append(f"works on {', '.join(narrower[:2])} (part of {sec.name})")
                parts.append(0.85)
        if pl is not None:
            if info.place_chain and info.place_chain[0] == pl.name:
                reasons.append(f"based in {pl.name}")
                parts.append(1.0)
            else:
                reasons.append(f"based in {info.place}, in {pl.name}")
                parts.append(0.9)
        if kind_group is not None:
            reasons.append(f"a {kind_label(org.kind)}")
        if ties.get(pk):
            n = ties[pk]
            reasons.append(f"{n} partnership{'s' if n > 1 else ''} on record")
        prominence = min(1.0, org.rank_weight / 40.0)
        match = sum(parts) / len(parts) if parts else 1.0
        hits.append(OrgHit(info, round(0.8 * match + 0.2 * prominence, 3), reasons))
    return hits


def _tie_counts(session: Session, pks: list[int]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for a, b in session.execute(select(m.Partnership.org_a_pk, m.Partnership.org_b_pk).where(
            m.Partnership.org_a_pk.in_(pks) | m.Partnership.org_b_pk.in_(pks))):
        counts[a] += 1
        counts[b] += 1
    return counts


def _ancestors(rows: dict, row, stop_kinds=()) -> list:
    out, cur = [], row
    while cur is not None and cur.parent and cur.parent in rows:
        cur = rows[cur.parent]
        if getattr(cur, "kind", None) in stop_kinds:
            break
        out.append(cur)
    return out


def _alternatives(session, ref: Reference, sec, pl, kind_group, name) -> list[Alternative]:
    """Broader queries that find something: without the kind, a wider place (up to the country),
    a broader sector, both; the nearest ones first."""
    wider_places = _ancestors(ref.places, pl, stop_kinds=("union",)) if pl else []
    broader_secs = _ancestors(ref.sectors, sec) if sec else []
    tries: list[tuple[str, SectorRow | None, PlaceRow | None, str | None]] = []
    if kind_group:
        tries.append((f"any kind of organisation, not only {kind_label(kind_group)}s", sec, pl, None))
    for wider in wider_places:
        tries.append((f"{sec.name + ' in ' if sec else 'anything in '}the wider area of {wider.name}", sec, wider, None))
    for broader in broader_secs:
        tries.append((f"the broader sector {broader.name}" + (f" in {pl.name}" if pl else ""), broader, pl, None))
    for broader in broader_secs:
        for wider in wider_places:
            tries.append((f"{broader.name} in {wider.name}", broader, wider, None))
    if sec and pl:
        tries.append((f"{sec.name} anywhere", sec, None, None))
        tries.append((f"anything in {pl.name}", None, pl, None))
    out, seen = [], {(sec.id if sec else None, pl.id if pl else None, kind_group)}
    for desc, s, p, k in tries[:16]:
        key = (s.id if s else None, p.id if p else None, k)
        if key in seen:
            continue
        seen.add(key)
        conds = _conditions(ref, s, p, k, None)
        pks = list(session.scalars(select(m.Organisation.pk).where(*conds)
                                   .order_by(m.Organisation.rank_weight.desc(), m.Organisation.name).limit(3)))
        if not pks:
            continue
        total = session.scalar(select(func.count()).select_from(
            select(m.Organisation.pk).where(*conds).limit(COUNT_CAP + 1).subquery()))
        infos = summaries(session, ref, pks)
        crit = {k2: v for k2, v in {"sector": s.name if s else None, "place": p.name if p else None,
                                     "kind": k}.items() if v}
        out.append(Alternative(desc, crit, total, [infos[pk].name for pk in pks]))
        if len(out) >= 2:
            break
    return out
