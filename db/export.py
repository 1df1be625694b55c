"""Write the knowledge base back out in the dataset format (round-trips through the importer)."""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML
from sqlalchemy import select

from db import models as m
from db.engine import session_scope
from db.schema import ORDER


def export_dataset(url: str | None = None, include_synthetic: bool = False) -> dict[str, list[dict]]:
    """Every curated record, as the importer reads them."""
    with session_scope(url) as s:
        ev: dict[tuple[str, str], list[dict]] = {}
        for e in s.scalars(select(m.Evidence).order_by(m.Evidence.id)):
            ev.setdefault((e.record_type, e.record_id), []).append({"source": e.source_id, "passage": e.passage})
        orgs = {o.pk: o for o in s.scalars(select(m.Organisation))}
        slug = {pk: o.id for pk, o in orgs.items()}
        keep = {pk for pk, o in orgs.items() if include_synthetic or not o.synthetic}
        groups: dict[int, list[str]] = {}
        for mem in s.scalars(select(m.Membership)):
            if mem.group_pk in keep:
                groups.setdefault(mem.member_pk, []).append(slug[mem.group_pk])

        def clean(d: dict) -> dict:
            return {k: v for k, v in d.items() if v not in (None, [], {})}

        out: dict[str, list[dict]] = {k: [] for k in ORDER}
        for x in s.scalars(select(m.Source).order_by(m.Source.id)):
            out["sources"].append(clean(dict(id=x.id, file=x.file, title=x.title, publisher=x.publisher, year=x.year)))
        for x in s.scalars(select(m.Place).order_by(m.Place.path)):
            out["places"].append(
                clean(
                    dict(
                        id=x.id,
                        name=x.name,
                        kind=x.kind,
                        parent=x.parent_id,
                        country=x.country_code if x.kind == "country" or not x.parent_id else None,
                        aliases=[n.name for n in x.names if n.name != x.name],
                    )
                )
            )
        for x in s.scalars(select(m.Sector).order_by(m.Sector.path)):
            out["sectors"].append(
                clean(
                    dict(
                        id=x.id, name=x.name, parent=x.parent_id, synonyms=[n.name for n in x.names if n.name != x.name]
                    )
                )
            )
        for pk in sorted(keep, key=lambda p: slug[p]):
            o = orgs[pk]
            out["organisations"].append(
                clean(
                    dict(
                        id=o.id,
                        name=o.name,
                        aliases=[n.name for n in o.names if n.name != o.name],
                        kind=o.kind,
                        country=o.country_code,
                        place=o.place_id,
                        member_of=sorted(groups.get(pk, [])),
                        members=o.members,
                        smes=o.smes,
                        description=o.description,
                        interests=o.interests,
                        sectors=sorted(x.sector_id for x in o.sectors),
                        website=o.website,
                        evidence=ev.get(("organisations", o.id)),
                    )
                )
            )
        for x in s.scalars(select(m.Programme).order_by(m.Programme.id)):
            out["programmes"].append(
                clean(
                    dict(
                        id=x.id,
                        name=x.name,
                        aliases=[n.name for n in x.names if n.name != x.name],
                        operator=slug.get(x.operator_pk),
                        started=x.started,
                        description=x.description,
                        rules=[clean(dict(kind=r.kind, values=r.values, text=r.text)) for r in x.rules],
                        sectors=sorted(y.sector_id for y in x.sectors),
                        evidence=ev.get(("programmes", x.id)),
                    )
                )
            )
        for x in s.scalars(select(m.Partnership).order_by(m.Partnership.id)):
            if x.org_a_pk not in keep or x.org_b_pk not in keep:
                continue  # a synthetic tie is left out with its synthetic parties
            out["partnerships"].append(
                clean(
                    dict(
                        id=x.id,
                        parties=[slug[x.org_a_pk], slug[x.org_b_pk]],
                        kind=x.kind,
                        year=x.year,
                        status=x.status,
                        outcome=x.outcome,
                        programme=x.programme_id,
                        sectors=sorted(y.sector_id for y in x.sectors),
                        evidence=ev.get(("partnerships", x.id)),
                    )
                )
            )
        for x in s.scalars(select(m.Event).order_by(m.Event.id)):
            out["events"].append(
                clean(
                    dict(
                        id=x.id,
                        name=x.name,
                        series=x.series,
                        kind=x.kind,
                        start=x.start,
                        end=x.end,
                        place=x.place_id,
                        organisers=sorted(slug[o.org_pk] for o in x.orgs if o.role == "organiser" and o.org_pk in keep),
                        participants=sorted(
                            slug[o.org_pk] for o in x.orgs if o.role == "participant" and o.org_pk in keep
                        ),
                        sectors=sorted(y.sector_id for y in x.sectors),
                        figures=x.figures,
                        description=x.description,
                        evidence=ev.get(("events", x.id)),
                    )
                )
            )
        for x in s.scalars(select(m.Contact).order_by(m.Contact.id)):
            if x.org_pk is not None and x.org_pk not in keep:
                continue
            out["contacts"].append(
                clean(
                    dict(
                        id=x.id,
                        name=x.name,
                        role=x.role,
                        organisation=slug.get(x.org_pk),
                        email=x.email,
                        evidence=ev.get(("contacts", x.id)),
                    )
                )
            )
        for x in s.scalars(select(m.MarketFact).order_by(m.MarketFact.id)):
            out["market_facts"].append(
                clean(
                    dict(
                        id=x.id,
                        topic=x.topic,
                        sector=x.sector_id,
                        metric=x.metric,
                        value=x.value,
                        unit=x.unit,
                        year=x.year,
                        note=x.note,
                        evidence=ev.get(("market_facts", x.id)),
                    )
                )
            )
        return {k: v for k, v in out.items() if v}


def dump(data: dict, target: Path | io.TextIOBase) -> None:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 110
    if isinstance(target, Path):
        with target.open("w", encoding="utf-8") as fh:
            yaml.dump(data, fh)
    else:
        yaml.dump(data, target)
