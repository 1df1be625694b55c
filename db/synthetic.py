"""Synthetic organisations for scale benchmarks: clearly flagged, never mixed into curated data.

Every record made here has `Organisation.synthetic = True`, an id starting with "syn-" and a name
such as "Synthetic Cluster 000123 (Osaka)". They point at the curated places and sectors (which
they never change), carry 1–3 sectors and 1–2 aliases each, and some of them have synthetic
partnerships ("syn-p-…") with each other so that recommendations have ties to score. They are
left out of the vocabulary and of `python -m db export` (unless --synthetic), and
`remove_synthetic` deletes all of them.

Usage:
    from db.synthetic import add_synthetic, remove_synthetic
    add_synthetic("sqlite:///var/bench/kb.db", 100_000)   # 100k more synthetic organisations
    remove_synthetic("sqlite:///var/bench/kb.db")

Loading is bulk: one transaction, executemany in batches of 10k on SQLite (the FTS5 triggers
keep the trigram index in sync), COPY on PostgreSQL. The knowledge-base version is not bumped:
nothing users can name (vocabulary, places, sectors) changes.
"""

from __future__ import annotations

import io
import math
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from sqlalchemy import Table, delete, func, insert, or_, select, text
from sqlalchemy.engine import Connection

from db import models as m
from db.engine import get_engine
from db.kinds import kind_label
from db.schema import PARTNERSHIP_KINDS, PARTNERSHIP_STATUSES
from db.text import fold

ID_PREFIX = "syn-"
BATCH = 10_000
DESCRIPTION = "Synthetic record generated for benchmarks; not a real organisation."
# A realistic mix: mostly companies and clusters, then research, associations and public bodies.
KIND_MIX = {
    "company": 40,
    "cluster": 16,
    "university": 8,
    "research_institute": 6,
    "association": 8,
    "public_body": 4,
    "agency": 3,
    "network": 4,
    "cluster_management": 3,
    "foundation": 4,
    "meta_cluster": 1.5,
    "cluster_partnership": 1,
    "region": 1.5,
}
SIDE_MIX = {"japan": 45, "europe": 45, "other": 9, "none": 1}
PARTNERSHIPS_PER_ORG = 0.2  # one partnership for every five organisations
CROSS_BORDER_SHARE = 0.7  # most ties EU↔Japan, as in the curated data


@dataclass(frozen=True)
class SyntheticStats:
    organisations: int
    names: int
    sectors: int
    partnerships: int
    seconds: float


@dataclass(frozen=True)
class _Place:
    id: str
    name_norm: str
    name: str
    path: str
    country: str | None


def add_synthetic(url: str | None, count: int, seed: int = 0, batch: int = BATCH) -> SyntheticStats:
    """Add `count` synthetic organisations (numbered after those already there) in one transaction."""
    engine = get_engine(url)
    started = time.perf_counter()
    totals = [0, 0, 0, 0, 0]
    with engine.begin() as conn:
        gen = _Generator(conn, seed)
        sqlite = conn.dialect.name == "sqlite"
        load = _insert_rows if sqlite else _copy_rows
        if sqlite:
            conn.exec_driver_sql("PRAGMA cache_size=-400000")  # 400 MB of page cache while loading
        first_name = gen.next_name
        with _fts_triggers_off(conn, "organisation_names_ai") if sqlite else nullcontext():
            done = 0
            while done < count:
                n = min(batch, count - done)
                for i, (table, rows) in enumerate(gen.batch(n)):
                    load(conn, table, rows)
                    totals[i] += len(rows)
                done += n
            if sqlite:
                # One bulk pass over the new names is several times faster than the per-row trigger.
                conn.execute(
                    text(
                        "INSERT INTO organisation_names_fts(rowid, norm) "
                        "SELECT id, norm FROM organisation_names WHERE id >= :first"
                    ),
                    {"first": first_name},
                )
        if not sqlite:
            _sync_sequences(conn)
    orgs, names, sectors, ties, _ = totals
    return SyntheticStats(orgs, names, sectors, ties, seconds=round(time.perf_counter() - started, 2))


def remove_synthetic(url: str | None) -> int:
    """Delete every synthetic organisation and everything attached to it; returns how many."""
    engine = get_engine(url)
    org = m.Organisation
    syn = select(org.pk).where(org.synthetic.is_(True)).scalar_subquery()
    with engine.begin() as conn:
        n = conn.scalar(select(func.count()).select_from(org).where(org.synthetic.is_(True)))
        ties = select(m.Partnership.pk).where(
            or_(
                m.Partnership.org_a_pk.in_(syn), m.Partnership.org_b_pk.in_(syn), m.Partnership.id.startswith(ID_PREFIX)
            )
        )
        conn.execute(delete(m.PartnershipSector).where(m.PartnershipSector.partnership_pk.in_(ties.scalar_subquery())))
        conn.execute(delete(m.Partnership).where(m.Partnership.pk.in_(ties.scalar_subquery())))
        conn.execute(delete(m.OrganisationSector).where(m.OrganisationSector.org_pk.in_(syn)))
        if conn.dialect.name == "sqlite":
            # Rebuilding the trigram index from the (curated) names left is quicker than a
            # per-row delete trigger over a million names.
            with _fts_triggers_off(conn, "organisation_names_ad"):
                conn.execute(delete(m.OrganisationName).where(m.OrganisationName.org_pk.in_(syn)))
                conn.execute(text("INSERT INTO organisation_names_fts(organisation_names_fts) VALUES ('rebuild')"))
        else:
            conn.execute(delete(m.OrganisationName).where(m.OrganisationName.org_pk.in_(syn)))
        conn.execute(delete(m.EventOrganisation).where(m.EventOrganisation.org_pk.in_(syn)))
        conn.execute(delete(m.Contact).where(m.Contact.org_pk.in_(syn)))
        conn.execute(delete(m.Membership).where(or_(m.Membership.member_pk.in_(syn), m.Membership.group_pk.in_(syn))))
        conn.execute(m.Programme.__table__.update().where(m.Programme.operator_pk.in_(syn)).values(operator_pk=None))
        conn.execute(
            m.IntroductionRequest.__table__.update().where(m.IntroductionRequest.org_pk.in_(syn)).values(org_pk=None)
        )
        conn.execute(delete(org).where(org.synthetic.is_(True)))
    return int(n or 0)


def synthetic_count(url: str | None) -> int:
    """How many synthetic organisations the database holds."""
    with get_engine(url).connect() as conn:
        return int(
            conn.scalar(select(func.count()).select_from(m.Organisation).where(m.Organisation.synthetic.is_(True)))
        )


# --------------------------------------------------------------------------- generating


class _Generator:
    """Makes rows batch by batch; keys continue after what the database already holds."""

    def __init__(self, conn: Connection, seed: int):
        self.places = _places(conn)
        self.sectors = [(s.id, s.name, fold(s.name)) for s in conn.execute(select(m.Sector).order_by(m.Sector.path))]
        if not self.places or not self.sectors:
            raise RuntimeError("seed the curated places and sectors before adding synthetic organisations")
        # Popular sectors first: the draw is Zipf-like so broad searches match a realistic share.
        self.sector_weights = [1.0 / math.sqrt(i + 1) for i in range(len(self.sectors))]
        self.next_org = _next(conn, m.Organisation.pk)
        self.next_name = _next(conn, m.OrganisationName.id)
        self.next_tie = _next(conn, m.Partnership.pk)
        self.number = int(
            conn.scalar(select(func.count()).select_from(m.Organisation).where(m.Organisation.synthetic.is_(True))) or 0
        )
        self.seed = seed
        self.kinds = list(KIND_MIX)
        self.kind_weights = list(KIND_MIX.values())
        self.kind_words = {k: kind_label(k).title() for k in self.kinds}
        self.kind_norms = {k: fold(f"Synthetic {w}") for k, w in self.kind_words.items()}

    def batch(self, n: int) -> list[tuple[Table, list[tuple]]]:
        rng = random.Random(f"{self.seed}:{self.number}")
        orgs, names, org_sectors = [], [], []
        sides: dict[str, list[int]] = {"japan": [], "europe": [], "other": [], "none": []}
        side_list = rng.choices(list(SIDE_MIX), weights=list(SIDE_MIX.values()), k=n)
        kinds = rng.choices(self.kinds, weights=self.kind_weights, k=n)
        pks = range(self.next_org, self.next_org + n)
        for i, pk in enumerate(pks):
            sides[side_list[i]].append(pk)
        # Ties first: their number feeds the prominence (rank_weight) as for curated records.
        ties, tie_count = self._ties(rng, n, sides)
        place_of = {}
        for side, members in sides.items():
            choices = self.places.get(side) or [None]
            for pk in members:
                place_of[pk] = rng.choice(choices)
        name_id = self.next_name
        for i, pk in enumerate(pks):
            number = self.number + i
            kind, place = kinds[i], place_of[pk]
            where = place.name if place else "Europe"
            where_norm = place.name_norm if place else "europe"
            name = f"Synthetic {self.kind_words[kind]} {number:06d} ({where})"
            norm = f"{self.kind_norms[kind]} {number:06d} {where_norm}"
            chosen = rng.choices(range(len(self.sectors)), weights=self.sector_weights, k=rng.randint(1, 3))
            sector_ids = list(dict.fromkeys(self.sectors[j][0] for j in chosen))
            org_sectors += [(pk, sid) for sid in sector_ids]
            main = self.sectors[chosen[0]]
            word = self.kind_words[kind]
            alias = f"Syn {where} {main[1]} {word} {number}"
            alias_norm = f"syn {where_norm} {main[2]} {fold(word)} {number}"
            names.append((name_id, pk, name, norm, True))
            names.append((name_id + 1, pk, alias, alias_norm, False))
            name_id += 2
            if rng.random() < 0.5:
                short = f"SYN-{number:06d}"
                names.append((name_id, pk, short, fold(short), False))
                name_id += 1
            size = int(rng.lognormvariate(3.5, 1.2)) if kind in {"cluster", "network", "meta_cluster"} else None
            weight = round(rng.uniform(0.0, 9.0) + 3.0 * tie_count.get(pk, 0) + math.log10((size or 0) + 1), 4)
            orgs.append(
                (
                    pk,
                    f"{ID_PREFIX}{number:06d}",
                    name,
                    kind,
                    place.country if place else None,
                    place.id if place else None,
                    place.path if place else "",
                    size,
                    int(size * 0.7) if size else None,
                    DESCRIPTION,
                    None,
                    None,
                    True,
                    weight,
                )
            )
        self.number += n
        self.next_org += n
        self.next_name = name_id
        tie_rows, tie_sectors = [], []
        sector_of = dict(org_sectors)
        for j, (a, b) in enumerate(ties):
            pk = self.next_tie + j
            tie_rows.append(
                (
                    pk,
                    f"{ID_PREFIX}p-{pk:07d}",
                    a,
                    b,
                    rng.choice(PARTNERSHIP_KINDS),
                    rng.randint(2008, 2025),
                    rng.choice(PARTNERSHIP_STATUSES),
                    None,
                    None,
                )
            )
            tie_sectors.append((pk, sector_of[a]))
        self.next_tie += len(ties)
        return [
            (m.Organisation.__table__, orgs),
            (m.OrganisationName.__table__, names),
            (m.OrganisationSector.__table__, org_sectors),
            (m.Partnership.__table__, tie_rows),
            (m.PartnershipSector.__table__, tie_sectors),
        ]

    @staticmethod
    def _ties(rng: random.Random, n: int, sides: dict[str, list[int]]) -> tuple[list[tuple[int, int]], dict[int, int]]:
        everyone = [pk for members in sides.values() for pk in members]
        ties, seen, count = [], set(), {}
        if len(everyone) < 2:
            return ties, count
        for _ in range(int(n * PARTNERSHIPS_PER_ORG)):
            if sides["japan"] and sides["europe"] and rng.random() < CROSS_BORDER_SHARE:
                a, b = rng.choice(sides["europe"]), rng.choice(sides["japan"])
            else:
                a, b = rng.sample(everyone, 2)
            if (a, b) in seen or (b, a) in seen:
                continue
            seen.add((a, b))
            ties.append((a, b))
            count[a] = count.get(a, 0) + 1
            count[b] = count.get(b, 0) + 1
        return ties, count


def _places(conn: Connection) -> dict[str, list[_Place]]:
    rows = list(conn.execute(select(m.Place).order_by(m.Place.path)))
    eu = next((p.path for p in rows if p.kind == "union"), "/eu/")
    out: dict[str, list[_Place]] = {"japan": [], "europe": [], "other": []}
    for p in rows:
        if p.kind == "union":
            continue
        side = "japan" if p.country_code == "JP" else "europe" if p.path.startswith(eu) else "other"
        out[side].append(_Place(p.id, fold(p.name), p.name, p.path, p.country_code))
    return out


def _next(conn: Connection, column) -> int:
    return int(conn.scalar(select(func.coalesce(func.max(column), 0)))) + 1


# --------------------------------------------------------------------------- loading


_DROP_TRIGGER = {
    "organisation_names_ai": "DROP TRIGGER organisation_names_ai",
    "organisation_names_ad": "DROP TRIGGER organisation_names_ad",
}


@contextmanager
def _fts_triggers_off(conn: Connection, *names: str) -> Iterator[None]:
    """Drop SQLite triggers for the block and re-create them as they were, all in the open
    transaction (a failure rolls the drop back too)."""
    if not conn.connection.dbapi_connection.in_transaction:
        conn.exec_driver_sql("BEGIN")  # pysqlite would otherwise autocommit the DDL
    saved = []
    for name in names:
        sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"), {"n": name})
        sql = sql.scalar()
        if sql:
            saved.append(sql)
            conn.exec_driver_sql(_DROP_TRIGGER[name])
    yield
    for sql in saved:
        conn.exec_driver_sql(sql)


def _insert_rows(conn: Connection, table: Table, rows: Sequence[tuple]) -> None:
    """executemany of one compiled INSERT (the FTS5 triggers keep the name index in sync)."""
    if not rows:
        return
    stmt = str(insert(table).compile(dialect=conn.dialect, column_keys=[c.key for c in table.columns]))
    for part in _chunks(rows, BATCH):
        conn.exec_driver_sql(stmt, list(part))


def _copy_rows(conn: Connection, table: Table, rows: Sequence[tuple]) -> None:
    """COPY FROM STDIN (text format) through psycopg2."""
    if not rows:
        return
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join(_copy_value(v) for v in row))
        buf.write("\n")
    buf.seek(0)
    columns = ", ".join(f'"{c.name}"' for c in table.columns)
    cursor = conn.connection.cursor()
    try:
        cursor.copy_expert(f"COPY {table.name} ({columns}) FROM STDIN", buf)
    finally:
        cursor.close()


def _copy_value(value) -> str:
    if value is None:
        return r"\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _sync_sequences(conn: Connection) -> None:
    """Explicit keys were copied in: move the serial sequences past them."""
    for column in (m.Organisation.pk, m.OrganisationName.id, m.Partnership.pk):
        top = conn.scalar(select(func.coalesce(func.max(column), 1)))
        sequence = func.pg_get_serial_sequence(column.table.name, column.name)
        conn.execute(select(func.setval(sequence, top)))


def _chunks(rows: Sequence[tuple], size: int) -> Iterator[Sequence[tuple]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]
