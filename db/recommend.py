"""recommend_partners: candidate partners on the other side of EU–Japan for a requester profile,
with a transparent score: each point comes with the reason it was given."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from db import models as m
from db.common import path_range, sources_for, summaries
from db.engine import session_scope
from db.kinds import kind_label, resolve_kind, with_article
from db.reference import PlaceRow, Reference, SectorRow, reference
from db.results import Profile, Reason, Recommendation, RecommendResult
from db.search import Filter, ranked_pks, ties_of

CANDIDATES = 300
SECTOR_POINTS = {"same": 40.0, "narrower": 32.0, "broader": 20.0, "sibling": 12.0}
TIE_POINTS, TIE_CAP = 10.0, 30.0
HOME_TIE_BONUS = 5.0
PROGRAMME_POINTS = 8.0
EVENT_POINTS, EVENT_CAP = 4.0, 12.0
KIND_POINTS = {
    "cluster": 10.0,
    "meta_cluster": 10.0,
    "cluster_partnership": 8.0,
    "cluster_management": 10.0,
    "network": 8.0,
    "foundation": 8.0,
    "association": 7.0,
    "public_body": 5.0,
    "agency": 5.0,
    "region": 4.0,
    "research_institute": 5.0,
    "university": 5.0,
    "company": 3.0,
}


def recommend_partners(profile: Profile, limit: int = 5, url: str | None = None) -> RecommendResult:
    """Best partners for `profile`, EU→Japan or Japan→EU, each with scored reasons."""
    limit = max(1, min(int(limit or 5), 20))
    with session_scope(url) as session:
        return _recommend(session, reference(session), profile, limit)


def _recommend(session: Session, ref: Reference, profile: Profile, limit: int) -> RecommendResult:
    unresolved, notes = {}, []
    sectors: list[SectorRow] = []
    for text in profile.sectors or []:
        row = ref.resolve_sector(text)
        if row:
            sectors.append(row)
        else:
            unresolved.setdefault("sectors", text)
    home = ref.resolve_place(profile.home) if profile.home else None
    if profile.home and home is None:
        unresolved["home"] = profile.home
    target = ref.resolve_place(profile.target) if profile.target else None
    if profile.target and target is None:
        unresolved["target"] = profile.target
    if target is None:
        side = ref.side_of(home) if home else None
        target = ref.resolve_place("european union" if side == "japan" else "japan")
        if target is not None and not profile.target:
            notes.append(
                f"Looking for partners in {target.name}"
                + ("" if home else " (tell me where you are based to refine this)")
                + "."
            )
    understood = {
        "sectors": [s.name for s in sectors],
        "home": home.name if home else None,
        "target": target.name if target else None,
        "kind": profile.kind,
    }
    if not sectors or target is None:
        if not sectors and "sectors" not in unresolved:
            unresolved["sectors"] = ""
        return RecommendResult([], understood, unresolved, notes)

    related = _related_sectors(ref, sectors)
    lo, hi = path_range(target.path)
    # The most prominent organisations of the target area in any related sector (rank_weight
    # desc, pk), planned like a search filter so that a million organisations stay quick.
    cand = ranked_pks(session, Filter(sectors=tuple(sorted(related)), place=(lo, hi)), 0, CANDIDATES, by_name=False)
    if not cand:
        return RecommendResult([], understood, unresolved, notes)
    scored = _score(session, ref, cand, sectors, home, target)
    best = sorted(scored.items(), key=lambda kv: (-sum(r.points for r in kv[1]), kv[0]))[:limit]
    infos = summaries(session, ref, [pk for pk, _ in best])
    ids = {pk: infos[pk].id for pk, _ in best}
    sources = sources_for(session, "organisations", ids.values())
    recs = [
        Recommendation(
            infos[pk],
            round(sum(r.points for r in reasons), 1),
            sorted(reasons, key=lambda r: -r.points),
            sources.get(ids[pk], []),
        )
        for pk, reasons in best
    ]
    return RecommendResult(recs, understood, unresolved, notes)


def _related_sectors(ref: Reference, sectors: list[SectorRow]) -> set[str]:
    out: set[str] = set()
    for s in sectors:
        out.update(ref.sector_subtree(s))
        cur = s
        while cur.parent and cur.parent in ref.sectors:  # broader sectors count too
            cur = ref.sectors[cur.parent]
            out.add(cur.id)
    return out


def _score(
    session: Session, ref: Reference, cand: list[int], sectors: list[SectorRow], home: PlaceRow | None, target: PlaceRow
) -> dict[int, list[Reason]]:
    reasons: dict[int, list[Reason]] = defaultdict(list)
    org_sectors, kinds = defaultdict(list), {}
    # Kind and sectors of every candidate in one query.
    for org_pk, kind, sid in session.execute(
        select(m.Organisation.pk, m.Organisation.kind, m.OrganisationSector.sector_id)
        .outerjoin(m.OrganisationSector, m.OrganisationSector.org_pk == m.Organisation.pk)
        .where(m.Organisation.pk.in_(cand))
        .order_by(m.Organisation.pk, m.OrganisationSector.sector_id)
    ):
        kinds[org_pk] = kind
        if sid is not None:
            org_sectors[org_pk].append(sid)
    relation: dict[tuple[str, str], str | None] = {}  # a few dozen sectors, hundreds of candidates
    for pk in cand:
        best = None
        for asked in sectors:
            for sid in org_sectors[pk]:
                key = (asked.id, sid)
                rel = relation[key] if key in relation else relation.setdefault(key, ref.sector_relation(asked, sid))
                if rel and (best is None or SECTOR_POINTS[rel] > best[0]):
                    best = (SECTOR_POINTS[rel], rel, asked, ref.sectors[sid])
        if best:
            pts, rel, asked, has = best
            text = {
                "same": f"works on {has.name}, your sector",
                "narrower": f"works on {has.name}, a speciality within {asked.name}",
                "broader": f"works across {has.name}, which includes {asked.name}",
                "sibling": f"works on {has.name}, next to {asked.name}",
            }[rel]
            reasons[pk].append(Reason("sector_overlap", pts, text))
        kind = kinds[pk]
        if KIND_POINTS.get(kind):
            reasons[pk].append(
                Reason(
                    "kind_fit",
                    KIND_POINTS[kind],
                    with_article(kind_label(kind))
                    + (
                        ": a gateway to its members"
                        if kind in {"cluster", "meta_cluster", "cluster_management", "network"}
                        else ""
                    ),
                )
            )
    _tie_reasons(session, ref, cand, sectors, home, target, reasons)
    _event_reasons(session, ref, cand, sectors, reasons)
    return reasons


def _tie_reasons(session, ref: Reference, cand, sectors, home, target, reasons) -> None:
    p_, a_, b_ = m.Partnership, aliased(m.Organisation), aliased(m.Organisation)
    # Each tie with the name and place of both parties, in one query.
    rows = session.execute(
        select(
            p_.org_a_pk, p_.org_b_pk, p_.kind, p_.year, p_.programme_id, a_.name, a_.place_path, b_.name, b_.place_path
        )
        .join(a_, a_.pk == p_.org_a_pk)
        .join(b_, b_.pk == p_.org_b_pk)
        .where(ties_of(session, cand))
        .order_by(p_.pk)
    ).all()
    if not rows:
        return
    cand = set(cand)
    orgs = {}
    for org_a, org_b, *_, a_name, a_path, b_name, b_path in rows:
        orgs[org_a], orgs[org_b] = (a_name, a_path), (b_name, b_path)
    programmes = (
        dict(session.execute(select(m.Programme.id, m.Programme.name)).all()) if any(r[4] for r in rows) else {}
    )
    lo, hi = path_range(target.path)
    home_lo, home_hi = path_range(home.path) if home else ("", "")
    tie_pts: dict[int, float] = defaultdict(float)
    prog_done: set[tuple[int, str]] = set()
    for org_a, org_b, kind, year_, programme_id, *_ in rows:
        for me, other in ((org_a, org_b), (org_b, org_a)):
            if me not in cand or other not in orgs:
                continue
            other_name, other_path = orgs[other]
            if lo <= other_path < hi:
                continue  # a tie inside the target area says nothing about cross-border fit
            year = f" ({year_})" if year_ else ""
            label = kind.replace("_", " ")
            label = "an MoU" if kind == "mou" else f"a {label}"
            if tie_pts[me] < TIE_CAP:
                pts = min(TIE_POINTS, TIE_CAP - tie_pts[me])
                tie_pts[me] += pts
                text = f"has {label}{year} with {other_name}"
                if home and home_lo <= other_path < home_hi:
                    pts += HOME_TIE_BONUS
                    text += f", from your area ({home.name})"
                reasons[me].append(Reason("existing_ties", pts, text))
            if programme_id and (me, programme_id) not in prog_done:
                prog_done.add((me, programme_id))
                reasons[me].append(
                    Reason(
                        "programme_fit",
                        PROGRAMME_POINTS,
                        f"already works with partners abroad through {programmes[programme_id]}",
                    )
                )


def _event_reasons(session, ref: Reference, cand, sectors, reasons) -> None:
    related = _related_sectors(ref, sectors)
    rows = session.execute(
        select(m.EventOrganisation.org_pk, m.Event.name, m.Event.start)
        .join(m.Event, m.Event.pk == m.EventOrganisation.event_pk)
        .where(
            m.EventOrganisation.org_pk.in_(cand),
            m.Event.pk.in_(select(m.EventSector.event_pk).where(m.EventSector.sector_id.in_(list(related)))),
        )
        .order_by(m.Event.start_date.desc().nullslast(), m.Event.pk)
    ).all()
    pts: dict[int, float] = defaultdict(float)
    for org_pk, name, _start in rows:
        if pts[org_pk] >= EVENT_CAP:
            continue
        pts[org_pk] += EVENT_POINTS
        reasons[org_pk].append(Reason("shared_events", EVENT_POINTS, f"took part in {name}, an event in your field"))


def profile_from(sectors=None, home=None, target=None, kind=None, **extra) -> Profile:
    """A Profile from loose values (a single sector string or a list)."""
    if isinstance(sectors, str):
        sectors = [sectors]
    return Profile(sectors=list(sectors or []), home=home, target=target, kind=resolve_kind(kind) or kind, **extra)
