"""Ties between organisations: partners of one organisation (both directions, and through the
groups it belongs to), partnerships filtered by sector, country pair and kind, success stories."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db import models as m
from db.common import path_range, sources_for, summaries
from db.engine import session_scope
from db.kinds import kinds_of, resolve_kind
from db.organisations import find_org_pk
from db.reference import Reference, reference
from db.results import PartnerLink, Partnership, PartnersResult
from db.schema import PARTNERSHIP_KINDS
from db.text import fold

SUCCESS_STATUSES = ("active", "signed", "ongoing")
PARTNERSHIP_KIND_WORDS = {
    # Only words that name a specific kind: "agreement" or "cooperation" alone mean any tie.
    "mou": "mou",
    "memorandum of understanding": "mou",
    "memorandum": "mou",
    "mous": "mou",
    "letter of intent": "letter_of_intent",
    "loi": "letter_of_intent",
    "rit project": "rit_project",
    "memorandum of cooperation": "ministerial_moc",
    "moc": "ministerial_moc",
    "regional agreement": "regional_agreement",
    "distribution agreement": "distribution_agreement",
    "gateway agreement": "gateway_agreement",
}


def resolve_partnership_kind(text: str | None) -> str | None:
    key = fold(text)
    if not key:
        return None
    if key.replace(" ", "_") in PARTNERSHIP_KINDS:
        return key.replace(" ", "_")
    return PARTNERSHIP_KIND_WORDS.get(key) or PARTNERSHIP_KIND_WORDS.get(key.rstrip("s"))


def partners_of(org: str, sector: str | None = None, kind: str | None = None, url: str | None = None) -> PartnersResult:
    """Every tie of `org` (name, alias or id), newest first, with kind, year and sources.
    Ties of the groups `org` belongs to are included with `via` set to the group's name."""
    with session_scope(url) as session:
        ref = reference(session)
        pk, suggestions = find_org_pk(session, org)
        if pk is None:
            return PartnersResult(None, [], org or "", suggestions)
        groups = dict(
            session.execute(
                select(m.Membership.group_pk, m.Organisation.name)
                .join(m.Organisation, m.Organisation.pk == m.Membership.group_pk)
                .where(m.Membership.member_pk == pk)
            ).all()
        )
        kind_id = resolve_partnership_kind(kind) if kind else None
        links = []
        for via_pk in [pk, *groups]:
            for p in _ties(session, via_pk):
                if kind_id and p.kind != kind_id:
                    continue
                other = p.org_b_pk if p.org_a_pk == via_pk else p.org_a_pk
                if other == pk:
                    continue
                links.append((p, other, groups.get(via_pk)))
        if sector:
            sec = ref.resolve_sector(sector)
            if sec is None:
                return PartnersResult(summaries(session, ref, [pk])[pk], [], org, [])
            subtree = set(ref.sector_subtree(sec))
            links = [x for x in links if subtree & {s.sector_id for s in x[0].sectors}]
        return PartnersResult(summaries(session, ref, [pk])[pk], _links(session, ref, links), org, [])


def _ties(session: Session, pk: int) -> list[m.Partnership]:
    return list(
        session.scalars(select(m.Partnership).where(or_(m.Partnership.org_a_pk == pk, m.Partnership.org_b_pk == pk)))
    )


def _links(session, ref: Reference, links) -> list[PartnerLink]:
    infos = summaries(session, ref, [other for _, other, _ in links])
    sources = sources_for(session, "partnerships", [p.id for p, _, _ in links])
    programmes = _programme_names(session, {p.programme_id for p, _, _ in links if p.programme_id})
    out = [
        PartnerLink(
            p.id,
            infos[other],
            p.kind,
            p.year,
            p.status,
            p.outcome,
            programmes.get(p.programme_id),
            sorted(ref.sectors[s.sector_id].name for s in p.sectors),
            sources.get(p.id, []),
            via,
        )
        for p, other, via in links
    ]
    return sorted(out, key=lambda x: (x.via is not None, -(x.year or 0), x.partner.name))


def _programme_names(session, ids) -> dict[str, str]:
    if not ids:
        return {}
    return dict(session.execute(select(m.Programme.id, m.Programme.name).where(m.Programme.id.in_(ids))).all())


def find_partnerships(
    sector: str | None = None,
    country_a: str | None = None,
    country_b: str | None = None,
    kind: str | None = None,
    org_kind: str | None = None,
    success_only: bool = False,
    limit: int = 20,
    url: str | None = None,
) -> tuple[list[Partnership], dict[str, str]]:
    """Partnerships matching the filters; `country_a`/`country_b` are places or countries (either
    order: "Japanese clusters with an MoU with a French cluster" = JP/FR). Returns the
    partnerships and a mapping of criteria that could not be understood."""
    with session_scope(url) as session:
        ref = reference(session)
        unresolved = {}
        q = select(m.Partnership)
        if kind:
            kid = resolve_partnership_kind(kind)
            if kid is None:
                unresolved["kind"] = kind
            else:
                q = q.where(m.Partnership.kind == kid)
        if success_only:
            q = q.where(m.Partnership.status.in_(SUCCESS_STATUSES), m.Partnership.outcome.is_not(None))
        if sector:
            sec = ref.resolve_sector(sector)
            if sec is None:
                unresolved["sector"] = sector
            else:
                q = q.where(
                    m.Partnership.pk.in_(
                        select(m.PartnershipSector.partnership_pk).where(
                            m.PartnershipSector.sector_id.in_(ref.sector_subtree(sec))
                        )
                    )
                )
        paths = []
        for key, value in (("country_a", country_a), ("country_b", country_b)):
            if value:
                row = ref.resolve_place(value)
                if row is None:
                    unresolved[key] = value
                else:
                    paths.append(row.path)
        if unresolved:
            return [], unresolved
        rows = list(session.scalars(q.order_by(m.Partnership.year.desc().nullslast(), m.Partnership.id)))
        org_pks = {pk for p in rows for pk in (p.org_a_pk, p.org_b_pk)}
        orgs = (
            {o.pk: o for o in session.scalars(select(m.Organisation).where(m.Organisation.pk.in_(org_pks)))}
            if org_pks
            else {}
        )
        kinds = set(kinds_of(resolve_kind(org_kind))) if org_kind and resolve_kind(org_kind) else None

        def inside(o: m.Organisation, path: str) -> bool:
            lo, hi = path_range(path)
            return lo <= o.place_path < hi

        def fits(p: m.Partnership) -> bool:
            a, b = orgs[p.org_a_pk], orgs[p.org_b_pk]
            # "Japanese clusters working with French ones" names a kind for one side at least; a
            # cluster's tie with an association (Polepharma–Toyama) is still a cluster partnership.
            if kinds and not (a.kind in kinds or b.kind in kinds):
                return False
            if len(paths) == 2:
                return (inside(a, paths[0]) and inside(b, paths[1])) or (inside(a, paths[1]) and inside(b, paths[0]))
            if len(paths) == 1:
                return inside(a, paths[0]) or inside(b, paths[0])
            return True

        rows = [p for p in rows if fits(p)][:limit]
        infos = summaries(session, ref, org_pks)
        sources = sources_for(session, "partnerships", [p.id for p in rows])
        progs = _programme_names(session, {p.programme_id for p in rows if p.programme_id})
        return [
            Partnership(
                p.id,
                infos[p.org_a_pk],
                infos[p.org_b_pk],
                p.kind,
                p.year,
                p.status,
                p.outcome,
                progs.get(p.programme_id),
                sorted(ref.sectors[s.sector_id].name for s in p.sectors),
                sources.get(p.id, []),
            )
            for p in rows
        ], {}


def success_stories(
    sector: str | None = None, country: str | None = None, limit: int = 10, url: str | None = None
) -> tuple[list[Partnership], dict[str, str]]:
    """Partnerships that are active/signed/ongoing and have a recorded outcome."""
    return find_partnerships(sector=sector, country_a=country, success_only=True, limit=limit, url=url)
