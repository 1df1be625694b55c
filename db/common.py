"""Shared loading of summaries and sources for the query modules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models as m
from db.reference import Reference
from db.results import OrgSummary, SourceRef


def chunks(items: list, size: int = 500) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def summaries(session: Session, ref: Reference, pks: Iterable[int]) -> dict[int, OrgSummary]:
    """OrgSummary of each organisation in `pks` (two queries, whatever their number)."""
    pks = list(dict.fromkeys(pks))
    if not pks:
        return {}
    orgs, sectors = {}, defaultdict(list)
    for part in chunks(pks):
        orgs.update({o.pk: o for o in session.scalars(select(m.Organisation).where(m.Organisation.pk.in_(part)))})
        for org_pk, sector_id in session.execute(
            select(m.OrganisationSector.org_pk, m.OrganisationSector.sector_id).where(
                m.OrganisationSector.org_pk.in_(part)
            )
        ):
            sector = ref.sectors.get(sector_id)
            if sector:
                sectors[org_pk].append(sector.name)
    out = {}
    for pk in pks:
        o = orgs.get(pk)
        if o is None:
            continue
        chain = ref.place_chain(o.place_id)
        out[pk] = OrgSummary(
            id=o.id,
            name=o.name,
            kind=o.kind,
            country=_country_name(ref, o),
            place=chain[0] if chain else "",
            place_chain=chain,
            sectors=sorted(sectors[pk]),
            website=o.website,
            synthetic=o.synthetic,
        )
    return out


def _country_name(ref: Reference, org: m.Organisation) -> str:
    place = ref.places.get(org.place_id)
    country = ref.country_of(place) if place else None
    return country.name if country else org.country_code


def sources_for(session: Session, record_type: str, ids: Iterable[str]) -> dict[str, list[SourceRef]]:
    """The evidence of each record, as SourceRefs, in file order."""
    ids = list(dict.fromkeys(ids))
    out: dict[str, list[SourceRef]] = defaultdict(list)
    for part in chunks(ids):
        rows = session.execute(
            select(m.Evidence.record_id, m.Evidence.passage, m.Source.id, m.Source.title, m.Source.file)
            .join(m.Source, m.Source.id == m.Evidence.source_id)
            .where(m.Evidence.record_type == record_type, m.Evidence.record_id.in_(part))
            .order_by(m.Evidence.id)
        )
        for record_id, passage, sid, title, file in rows:
            out[record_id].append(SourceRef(sid, title, file, passage))
    return out


def org_pk_by_id(session: Session, org_id: str) -> int | None:
    return session.scalar(select(m.Organisation.pk).where(m.Organisation.id == org_id))


def path_range(path: str) -> tuple[str, str]:
    """Bounds such that lo <= p < hi exactly for the paths p inside `path` (which ends in '/')."""
    return path, path[:-1] + chr(ord("/") + 1)
