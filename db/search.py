"""search_organisations: by any mix of sector, place, country, kind and name; ranked, paginated,
each hit with the reasons it matched; broader alternatives when nothing matches."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import ClassVar

from sqlalchemy import exists, func, literal_column, select, union
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from db import models as m
from db.common import path_range, summaries
from db.engine import session_scope
from db.kinds import kind_label, kinds_of, resolve_kind, with_article
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
    asked = {
        k: clean_query(v)
        for k, v in dict(sector=sector, place=place, country=country, kind=kind, name=name).items()
        if v and clean_query(v)
    }
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

    flt = _filter(ref, sec, pl, kind_group)
    if "name" in asked and not name_scores:
        pks, total, capped = [], 0, False
    elif "name" in asked:
        # At most 50 name candidates: filter them in SQL, order by name similarity.
        allowed = set(
            session.scalars(select(m.Organisation.pk).where(*_where(replace(flt, pks=tuple(name_scores)), "pks")))
        )
        ranked = [pk for pk in sorted(name_scores, key=lambda p: -name_scores[p]) if pk in allowed]
        total, capped = len(ranked), False
        pks = ranked[offset : offset + limit]
    else:
        pks = ranked_pks(session, flt, offset, limit)
        counted = count_matches(session, flt, COUNT_CAP + 1)
        total, capped = min(counted, COUNT_CAP), counted > COUNT_CAP
    hits = _hits(session, ref, pks, sec, pl, kind_group, name_scores, asked.get("name"))
    alternatives = []
    if total == 0 and broaden:
        alternatives = _alternatives(session, ref, sec, pl, kind_group, asked.get("name"))
    return SearchResult(hits, total, capped, offset, limit, criteria, {}, {}, alternatives)


# --------------------------------------------------------------------------- filter queries
#
# A filter (sector subtree, place range, kinds) is answered in one of three ways, whichever the
# row counts say reads least: walk organisations in result order (ix_org_rank_order) and stop
# after the page, when matches are common; or start from the smaller side, the organisations of
# the kinds/place asked (ix_org_kind_place, ix_org_place_rank) or of the sectors asked
# (ix_orgsector_sector), and sort what matches. Every way returns the same rows in the same
# order; only the work differs. Counts of organisations per kind+place and per sector, cached a
# few minutes per database (sooner when the highest pk jumps), drive the choice; stale counts
# only cost speed.

STATS_TTL_S = 600.0
CHECK_EVERY_S = 2.0


@dataclass(frozen=True)
class Filter:
    """What matching organisations must satisfy; None means "not asked"."""

    sectors: tuple[str, ...] | None = None  # sector ids, the asked sector's whole subtree
    place: tuple[str, str] | None = None  # place_path range [lo, hi)
    kinds: tuple[str, ...] | None = None
    pks: tuple[int, ...] | None = None  # name matches, when the search is by name


@dataclass
class _Stats:
    version: str
    top: int  # the highest organisation pk when counted
    total: int
    kind_place: dict[tuple[str, str], int]
    sectors: dict[str, int]
    at: float
    checked_at: float


_stats_cache: dict[str, _Stats] = {}


class _NoIndex(ColumnElement):
    """`+column` on SQLite, the documented way to keep the planner from using an index on that
    term (the value is unchanged); the bare column elsewhere."""

    inherit_cache = True
    _traverse_internals: ClassVar = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column):
        self.column = column
        self.type = column.type


@compiles(_NoIndex)
def _no_index_default(element, compiler, **kw):
    return compiler.process(element.column, **kw)


@compiles(_NoIndex, "sqlite")
def _no_index_sqlite(element, compiler, **kw):
    return "+" + compiler.process(element.column, **kw)


def _filter(ref: Reference, sec: SectorRow | None, pl: PlaceRow | None, kind_group: str | None) -> Filter:
    return Filter(
        sectors=tuple(ref.sector_subtree(sec)) if sec is not None else None,
        place=path_range(pl.path) if pl is not None else None,
        kinds=tuple(kinds_of(kind_group)) if kind_group is not None else None,
    )


def _stats(session: Session) -> _Stats:
    key = str(session.get_bind().url)
    version = reference(session).version
    now = time.monotonic()
    st = _stats_cache.get(key)
    if st is not None and st.version == version and now - st.at < STATS_TTL_S:
        if now - st.checked_at < CHECK_EVERY_S:
            return st
        # Bulk loads (synthetic organisations) do not change the version: a jump of the highest
        # pk tells that the counts are off.
        st.checked_at = now
        top = session.scalar(select(func.coalesce(func.max(m.Organisation.pk), 0)))
        if abs(top - st.top) <= max(1000, st.total // 10):
            return st
    o, s = m.Organisation, m.OrganisationSector
    top = session.scalar(select(func.coalesce(func.max(o.pk), 0)))
    kind_place = {
        (k, p): n
        for k, p, n in session.execute(select(o.kind, o.place_path, func.count()).group_by(o.kind, o.place_path))
    }
    sectors = dict(session.execute(select(s.sector_id, func.count()).group_by(s.sector_id)).all())
    st = _stats_cache[key] = _Stats(version, top, sum(kind_place.values()), kind_place, sectors, now, now)
    return st


def _plan(session: Session, flt: Filter, need: int | None) -> str:
    """ "rank", "kp" or "sector": the cheapest way to find the first `need` rows in result order,
    or (need None) to count matches up to COUNT_CAP."""
    st = _stats(session)
    total = max(st.total, 1)
    lo, hi = flt.place or ("", "")
    n_kp = sum(
        n
        for (k, p), n in st.kind_place.items()
        if (flt.kinds is None or k in flt.kinds) and (flt.place is None or lo <= p < hi)
    )
    probe = 2.0 if flt.sectors is not None else 0.0  # a look-up in organisation_sectors per row
    n_s = min(total, sum(st.sectors.get(x, 0) for x in flt.sectors)) if flt.sectors is not None else total
    matches = n_kp * n_s / total
    costs: dict[str, float] = {}
    if need is not None:
        # Rows walked in result order until `need` matches have been seen.
        walked = min(total, need * total / matches) if matches else total
        costs["rank"] = walked * (1 + probe * n_kp / total)
        sort = 2.0 * matches
        if flt.place is not None or flt.kinds is not None:
            costs["kp"] = n_kp * (1 + probe) + sort
        if flt.sectors is not None:
            costs["sector"] = n_s * 3.0 + sort
    else:
        share = min(1.0, (COUNT_CAP + 1) / matches) if matches else 1.0  # stop at the cap
        costs["rank"] = total * share * (1 + probe * n_kp / total)
        if flt.place is not None or flt.kinds is not None:
            costs["kp"] = n_kp * share * (1 + probe)
        if flt.sectors is not None:
            costs["sector"] = n_s + n_s * share * 2.0
    return min(costs, key=costs.get)


def _where(flt: Filter, mode: str) -> list:
    """Conditions for `flt`, written so that the backend starts from the side `mode` names."""
    o, s = m.Organisation, m.OrganisationSector
    kp = mode == "kp"
    conds = []
    if flt.pks is not None:
        conds.append(o.pk.in_(list(flt.pks) or [-1]))
    if flt.kinds is not None:
        conds.append((o.kind if kp else _NoIndex(o.kind)).in_(flt.kinds))
    if flt.place is not None:
        path = o.place_path if kp else _NoIndex(o.place_path)
        conds += [path >= flt.place[0], path < flt.place[1]]
    if flt.sectors is not None:
        if mode == "sector":
            conds.append(o.pk.in_(select(s.org_pk).where(s.sector_id.in_(flt.sectors))))
        else:
            # A look-up among the organisation's own few sectors, row by row: one range read rather
            # than a probe per sector id (SQLite: `+`), and never a hash of every organisation of
            # a broad sector (PostgreSQL: OFFSET 0 keeps EXISTS from becoming a semi-join).
            conds.append(
                exists(
                    select(literal_column("1"))
                    .where(s.org_pk == o.pk, _NoIndex(s.sector_id).in_(flt.sectors))
                    .offset(0)
                )
            )
    return conds


def ranked_pks(session: Session, flt: Filter, offset: int, limit: int, by_name: bool = True) -> list[int]:
    """Primary keys of the organisations matching `flt`, by rank_weight desc, then name (unless
    `by_name` is false), then pk; the `limit` rows after `offset`."""
    o = m.Organisation
    mode = _plan(session, flt, offset + limit)
    # Outside "rank", `rank_weight + 0` (the same value) keeps the backend from walking the rank
    # index hoping to meet matches early: it sorts the matches of the side it starts from.
    rank = o.rank_weight if mode == "rank" else o.rank_weight + literal_column("0")
    order = [rank.desc(), o.name, o.pk] if by_name else [rank.desc(), o.pk]
    q = select(o.pk).where(*_where(flt, mode)).order_by(*order).offset(offset).limit(limit)
    return list(session.scalars(q))


def count_matches(session: Session, flt: Filter, cap: int) -> int:
    """How many organisations match `flt`, counting no further than `cap`."""
    inner = select(m.Organisation.pk).where(*_where(flt, _plan(session, flt, None))).limit(cap)
    return session.scalar(select(func.count()).select_from(inner.subquery()))


def _hits(session: Session, ref: Reference, pks: list[int], sec, pl, kind_group, name_scores, name) -> list[OrgHit]:
    if not pks:
        return []
    infos = summaries(session, ref, pks)
    # summaries() loaded these rows into the session: get() answers without a query.
    org_rows = {pk: session.get(m.Organisation, pk) for pk in pks}
    sectors_of, names_of = defaultdict(list), defaultdict(list)
    if sec is not None:
        os_ = m.OrganisationSector
        for org_pk, sid in session.execute(
            select(os_.org_pk, os_.sector_id).where(os_.org_pk.in_(pks)).order_by(os_.org_pk, os_.sector_id)
        ):
            sectors_of[org_pk].append(sid)
    if name is not None:  # names and aliases of every hit in one query
        on = m.OrganisationName
        for org_pk, alias in session.execute(
            select(on.org_pk, on.name).where(on.org_pk.in_(pks)).order_by(on.org_pk, on.id)
        ):
            names_of[org_pk].append(alias)
    ties = _tie_counts(session, pks)
    hits = []
    for pk in pks:
        info, org = infos[pk], org_rows[pk]
        reasons, parts = [], []
        if name is not None:
            s = name_scores.get(pk, 0.0)
            names = names_of[pk]
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
            reasons.append(with_article(kind_label(org.kind)))
        if ties.get(pk):
            n = ties[pk]
            reasons.append(f"{n} partnership{'s' if n > 1 else ''} on record")
        # The score is what the hits are ordered by: name similarity for name queries; for filter
        # queries every hit meets every criterion, so prominence (EU–Japan ties, events, size)
        # orders them, and how each criterion was met is in the reasons.
        score = parts[0] if name is not None and parts else min(1.0, org.rank_weight / 40.0)
        hits.append(OrgHit(info, round(score, 3), reasons))
    return hits


def _tie_counts(session: Session, pks: list[int]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for a, b in session.execute(select(m.Partnership.org_a_pk, m.Partnership.org_b_pk).where(ties_of(session, pks))):
        counts[a] += 1
        counts[b] += 1
    return counts


def ties_of(session: Session, pks: list[int]):
    """A condition on Partnership: one of `pks` on either side. On SQLite, a union of the two
    sides so that each uses its own index (it scans the whole table for `OR`); PostgreSQL
    combines both indexes for `OR` itself."""
    p = m.Partnership
    if session.get_bind().dialect.name != "sqlite":
        return p.org_a_pk.in_(pks) | p.org_b_pk.in_(pks)
    tie = m.Partnership.__table__.alias("tie")
    sides = union(select(tie.c.pk).where(tie.c.org_a_pk.in_(pks)), select(tie.c.pk).where(tie.c.org_b_pk.in_(pks)))
    return p.pk.in_(sides.scalar_subquery())


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
    # Each broadening has a cost (a level up the place hierarchy or the sector taxonomy = 1,
    # dropping the kind = 0.5); the cheapest ones that find something are offered first.
    tries: list[tuple[float, str, SectorRow | None, PlaceRow | None, str | None]] = []
    if kind_group:
        tries.append((0.5, f"any kind of organisation, not only {kind_label(kind_group)}s", sec, pl, None))
    sectors = [(0, sec)] + [(i + 1, s) for i, s in enumerate(broader_secs)] if sec else [(0, None)]
    places = [(0, pl)] + [(i + 1, p) for i, p in enumerate(wider_places)] if pl else [(0, None)]
    for s_up, s in sectors:
        for p_up, p in places:
            if s_up == p_up == 0:
                continue
            what = s.name if s else "anything"
            if p_up:
                desc = f"{what} in the wider area of {p.name}"
            elif p:
                desc = f"the broader sector {what} in {p.name}" if s_up else f"{what} in {p.name}"
            else:
                desc = f"the broader sector {what}"
            tries.append((s_up + p_up, desc, s, p, None))
    if sec and pl:
        tries.append((len(wider_places) + 1, f"{sec.name} anywhere", sec, None, None))
    tries = [t[1:] for t in sorted(tries, key=lambda t: t[0])]
    out, seen = [], {(sec.id if sec else None, pl.id if pl else None, kind_group)}
    for desc, s, p, k in tries[:16]:
        key = (s.id if s else None, p.id if p else None, k)
        if key in seen:
            continue
        seen.add(key)
        flt = _filter(ref, s, p, k)
        pks = ranked_pks(session, flt, 0, 3)
        if not pks:
            continue
        total = count_matches(session, flt, COUNT_CAP + 1)
        infos = summaries(session, ref, pks)
        crit = {
            k2: v for k2, v in {"sector": s.name if s else None, "place": p.name if p else None, "kind": k}.items() if v
        }
        out.append(Alternative(desc, crit, total, [infos[pk].name for pk in pks]))
        if len(out) >= 2:
            break
    return out
