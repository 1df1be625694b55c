"""Knowledge-base scale benchmark: search and recommend latency at 1k / 100k / 1M organisations.

Usage:
    python -m bench.db_bench [--sizes 1000,100000,1000000] [--backends sqlite,postgresql] [--queries N]
    make bench-db

For each backend (a SQLite file under var/bench/, PostgreSQL in the schema `kk_bench` of
KK_BENCH_PG_URL, default postgresql+psycopg2://postgres@127.0.0.1:5432/test) the knowledge base is
migrated and seeded with the curated data, then synthetic organisations (db.synthetic, flagged
and kept apart from curated records) are added up to each size in turn, the database is analysed,
and a realistic mix of queries is timed: search by sector+place, by country+kind, by name with a
typo, by alias, a second page (offset 20), and recommend_partners for EU→Japan and Japan→EU
profiles. The report (p50/p95/p99 in ms per query type and overall) is printed as Markdown and
written to bench/results/db-<date>.md.

The run bounds itself: --budget-minutes caps the whole run (a size whose projected build time does
not fit is skipped, and said so), --max-seconds caps the timed queries of one size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from db import models as m
from db.engine import dispose_all, get_engine
from db.recommend import recommend_partners
from db.reference import reference
from db.results import Profile
from db.search import search_organisations
from db.synthetic import add_synthetic
from db.text import fold

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SQLITE_FILE = ROOT / "var" / "bench" / "kb-bench.db"
PG_URL = os.environ.get("KK_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
PG_SCHEMA = "kk_bench"
SEARCH_TYPES = ("sector+place", "country+kind", "name (typo)", "alias", "page 2 (offset 20)")
RECOMMEND_TYPES = ("recommend EU→JP", "recommend JP→EU")
KIND_WORDS = ("cluster", "company", "university", "association", "public body", "foundation", "meta-cluster")
# Broad and narrow pairs people actually ask for, on top of random ones drawn from the taxonomy.
COMMON_PAIRS = (
    ("life sciences", "Japan"),
    ("biotechnology", "Germany"),
    ("renewable energy", "Kyushu"),
    ("medical devices", "Osaka"),
    ("healthcare", "European Union"),
    ("photonics", "France"),
    ("textiles", "Japan"),
    ("energy", "Europe"),
    ("cosmetics", "Saga"),
    ("automotive", "Bavaria"),
)


# --------------------------------------------------------------------------- backends


@dataclass
class Backend:
    name: str
    url: str
    reset: Callable[[], None]
    analyse: Callable[[Engine], None]
    size_of: Callable[[Engine], str]


def sqlite_backend() -> Backend:
    url = f"sqlite:///{SQLITE_FILE}"

    def reset() -> None:
        SQLITE_FILE.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", ".lock"):
            Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)

    def analyse(engine: Engine) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def size_of(_engine: Engine) -> str:
        return f"{SQLITE_FILE.stat().st_size / 2**20:.0f} MB"

    return Backend("SQLite", url, reset, analyse, size_of)


def postgres_backend() -> Backend:
    url = PG_URL + ("&" if "?" in PG_URL else "?") + f"options=-csearch_path%3D{PG_SCHEMA},public"

    def reset() -> None:
        admin = create_engine(PG_URL, future=True)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        admin.dispose()

    def analyse(engine: Engine) -> None:
        # What autovacuum would do on a live server: visibility map for index-only scans, the
        # GIN pending list merged, fresh statistics (only this schema: the server is shared).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            tables = conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": PG_SCHEMA})
            preparer = conn.dialect.identifier_preparer
            for table in tables.all():
                conn.exec_driver_sql(f"VACUUM ANALYZE {preparer.quote_schema(PG_SCHEMA)}.{preparer.quote(table)}")

    def size_of(engine: Engine) -> str:
        with engine.connect() as conn:
            size = conn.scalar(
                text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r'"
                ),
                {"s": PG_SCHEMA},
            )
        return f"{(size or 0) / 2**20:.0f} MB"

    return Backend("PostgreSQL", url, reset, analyse, size_of)


BACKENDS = {"sqlite": sqlite_backend, "postgresql": postgres_backend}


def postgres_reachable() -> bool:
    try:
        engine = create_engine(PG_URL, future=True, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


# --------------------------------------------------------------------------- the query mix


@dataclass
class Workload:
    """Query generators over the curated vocabulary (what real users can name)."""

    sector_place: list[tuple[str, str]]
    country_kind: list[tuple[str, str]]
    typo_names: list[str]
    aliases: list[str]
    eu_profiles: list[Profile]
    jp_profiles: list[Profile]

    @classmethod
    def build(cls, url: str, rng: random.Random) -> Workload:
        engine = get_engine(url)
        with engine.connect() as conn:
            curated_names = conn.execute(
                select(m.OrganisationName.name, m.OrganisationName.primary)
                .join(m.Organisation, m.Organisation.pk == m.OrganisationName.org_pk)
                .where(m.Organisation.synthetic.is_(False))
                .order_by(m.OrganisationName.id)
            ).all()
        from sqlalchemy.orm import Session

        with Session(engine, future=True) as session:
            ref = reference(session)
        places = [p for p in ref.places.values() if p.kind != "union"]
        countries = [p for p in places if p.kind == "country"]
        sectors = list(ref.sectors.values())
        japan = [p for p in places if p.country == "JP"]
        europe = [p for p in places if ref.side_of(p) == "europe"]
        pairs = [(s, p) for s, p in COMMON_PAIRS if ref.resolve_sector(s) and ref.resolve_place(p)]
        pairs += [(rng.choice(sectors).name, rng.choice(places).name) for _ in range(60)]
        country_kind = [(rng.choice(countries).name, rng.choice(KIND_WORDS)) for _ in range(60)]
        primary = [n for n, is_primary in curated_names if is_primary and len(fold(n)) >= 6]
        aliases = [n for n, is_primary in curated_names if not is_primary and len(fold(n)) >= 2]
        typos = [_typo(n, rng) for n in rng.sample(primary, min(80, len(primary)))]

        def profiles(homes: list) -> list[Profile]:
            return [
                Profile(
                    sectors=[s.name for s in rng.sample(sectors, rng.choice((1, 1, 2)))], home=rng.choice(homes).name
                )
                for _ in range(60)
            ]

        return cls(
            pairs, country_kind, typos, rng.sample(aliases, min(80, len(aliases))), profiles(europe), profiles(japan)
        )

    def calls(self, url: str, rng: random.Random) -> dict[str, Callable[[], object]]:
        """One zero-argument call per query type, drawing new arguments each time."""

        def sector_place():
            s, p = rng.choice(self.sector_place)
            return search_organisations(sector=s, place=p, url=url)

        def country_kind():
            c, k = rng.choice(self.country_kind)
            return search_organisations(country=c, kind=k, url=url)

        def page_two():
            if rng.random() < 0.5:
                s, p = rng.choice(self.sector_place)
                return search_organisations(sector=s, place=p, offset=20, url=url)
            c, k = rng.choice(self.country_kind)
            return search_organisations(country=c, kind=k, offset=20, url=url)

        return {
            "sector+place": sector_place,
            "country+kind": country_kind,
            "name (typo)": lambda: search_organisations(name=rng.choice(self.typo_names), url=url),
            "alias": lambda: search_organisations(name=rng.choice(self.aliases), url=url),
            "page 2 (offset 20)": page_two,
            "recommend EU→JP": lambda: recommend_partners(rng.choice(self.eu_profiles), url=url),
            "recommend JP→EU": lambda: recommend_partners(rng.choice(self.jp_profiles), url=url),
        }


def _typo(name: str, rng: random.Random) -> str:
    """One realistic slip: a dropped, doubled, swapped or replaced letter."""
    letters = [i for i, ch in enumerate(name) if ch.isalpha()]
    i = rng.choice(letters[1:-1] or letters)
    how = rng.choice(("drop", "double", "swap", "replace"))
    if how == "drop":
        return name[:i] + name[i + 1 :]
    if how == "double":
        return name[:i] + name[i] + name[i:]
    if how == "swap" and i + 1 < len(name):
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return name[:i] + rng.choice("aeiourstn") + name[i + 1 :]


def _empty(result) -> bool:
    return not (getattr(result, "hits", None) or getattr(result, "recommendations", None))


# --------------------------------------------------------------------------- running


@dataclass
class Row:
    backend: str
    size: int
    query: str
    samples: list[float] = field(default_factory=list)  # wall clock, ms
    cpu: list[float] = field(default_factory=list)  # CPU time of this process, ms
    empty: int = 0

    def pct(self, p: float, cpu: bool = False) -> float:
        xs = sorted(self.cpu if cpu else self.samples)
        if not xs:
            return float("nan")
        k = max(0, min(len(xs) - 1, round(p / 100 * len(xs) + 0.5) - 1))  # nearest rank
        return xs[k]


@dataclass
class Build:
    backend: str
    size: int
    added: int
    build_s: float
    analyse_s: float
    disk: str
    note: str = ""


def time_queries(
    url: str, workload: Workload, n: int, warmup: int, max_seconds: float, backend: str, size: int, seed: int
) -> list[Row]:
    rng = random.Random(seed)
    calls = workload.calls(url, rng)
    rows = {q: Row(backend, size, q) for q in calls}
    for _ in range(warmup):
        for call in calls.values():
            call()
    started = time.perf_counter()
    for _ in range(n):
        for q, call in calls.items():  # round-robin so every type sees the same cache state
            t0, c0 = time.perf_counter(), time.process_time()
            result = call()
            rows[q].cpu.append((time.process_time() - c0) * 1000)
            rows[q].samples.append((time.perf_counter() - t0) * 1000)
            rows[q].empty += _empty(result)
        if time.perf_counter() - started > max_seconds:
            break
    out = list(rows.values())
    for label, group in (("search (all)", SEARCH_TYPES), ("recommend (all)", RECOMMEND_TYPES)):
        pooled = Row(backend, size, label)
        for q in group:
            pooled.samples += rows[q].samples
            pooled.cpu += rows[q].cpu
            pooled.empty += rows[q].empty
        out.append(pooled)
    return out


def run_backend(backend: Backend, sizes: list[int], args, deadline: float) -> tuple[list[Row], list[Build]]:
    rows, builds = [], []
    dispose_all()
    backend.reset()
    t0 = time.perf_counter()
    engine = get_engine(backend.url)  # migrate + seed the curated data
    print(f"[{backend.name}] migrated and seeded in {time.perf_counter() - t0:.1f} s", flush=True)
    with engine.connect() as conn:
        have = conn.scalar(select(func.count()).select_from(m.Organisation))
    workload = Workload.build(backend.url, random.Random(args.seed))
    rate = None  # organisations per second, measured on the previous size
    for size in sizes:
        need = size - have
        if need < 0:
            builds.append(Build(backend.name, size, 0, 0, 0, "", f"skipped: the curated data alone has {have}"))
            continue
        if rate and need / rate > deadline - time.monotonic():
            note = f"skipped: projected build {need / rate:.0f} s exceeds the remaining budget"
            print(f"[{backend.name}] {size}: {note}", flush=True)
            builds.append(Build(backend.name, size, 0, 0, 0, "", note))
            continue
        t0 = time.perf_counter()
        stats = add_synthetic(backend.url, need, seed=args.seed) if need else None
        build_s = time.perf_counter() - t0
        if need:
            rate = need / max(build_s, 1e-3)
        have = size
        t0 = time.perf_counter()
        backend.analyse(engine)
        analyse_s = time.perf_counter() - t0
        builds.append(Build(backend.name, size, need, round(build_s, 1), round(analyse_s, 1), backend.size_of(engine)))
        print(
            f"[{backend.name}] {size} orgs: +{need} synthetic in {build_s:.1f} s "
            f"({stats.names if stats else 0} names, {stats.partnerships if stats else 0} ties), "
            f"analysed in {analyse_s:.1f} s",
            flush=True,
        )
        t0 = time.perf_counter()
        measured = time_queries(
            backend.url, workload, args.queries, args.warmup, args.max_seconds, backend.name, size, args.seed
        )
        rows += measured
        print(f"[{backend.name}] {size} orgs: queries timed in {time.perf_counter() - t0:.1f} s", flush=True)
        for r in measured[-2:]:
            print(
                f"    {r.query:<16} p50 {r.pct(50):7.2f} ms  p95 {r.pct(95):7.2f} ms  "
                f"(cpu p95 {r.pct(95, cpu=True):.2f} ms, n={len(r.samples)})",
                flush=True,
            )
    dispose_all()
    return rows, builds


# --------------------------------------------------------------------------- reporting


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}"


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "db", "bench"], capture_output=True, text=True, cwd=ROOT, check=False
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted changes in db/ or bench/' if dirty else ''}"


def versions(backends: list[Backend]) -> str:
    import sqlite3

    out = [f"Python {platform.python_version()}", f"SQLite {sqlite3.sqlite_version}"]
    if any(b.name == "PostgreSQL" for b in backends):
        try:
            engine = create_engine(PG_URL, future=True)
            with engine.connect() as conn:
                out.append(conn.scalar(text("SHOW server_version")).split()[0].join(("PostgreSQL ", "")))
            engine.dispose()
        except Exception:  # only a label
            pass
    return ", ".join(out)


def report(
    rows: list[Row], builds: list[Build], command: str, started: dt.datetime, elapsed: float, backends: list[Backend]
) -> str:
    lines = [
        f"# Knowledge-base benchmark — {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Software: {versions(backends)}",
        f"- Code: commit {git_state()}",
        f"- Wall time of the run: {elapsed / 60:.1f} min; load average at the end {load_average()} "
        "(the machine may be shared: other processes add noise to the tails)",
        "",
        "## Latency (ms)",
        "",
        "Wall clock around the public db/ call (session included): p50, p95, p99, mean. `cpu`: CPU time of",
        "the benchmark process in the same calls (all of the work on SQLite, the client side on PostgreSQL),",
        "which other processes on a shared machine do not inflate.",
        "",
        "| backend | orgs | query | n | p50 | p95 | p99 | mean | cpu p50 | cpu p95 | empty |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if not r.samples:
            continue
        bold = "**" if r.query.endswith("(all)") else ""
        lines.append(
            f"| {r.backend} | {r.size:,} | {bold}{r.query}{bold} | {len(r.samples)} | {r.pct(50):.1f} | "
            f"{bold}{r.pct(95):.1f}{bold} | {r.pct(99):.1f} | {statistics.fmean(r.samples):.1f} | "
            f"{r.pct(50, cpu=True):.1f} | {r.pct(95, cpu=True):.1f} | {100 * r.empty / len(r.samples):.0f}% |"
        )
    lines += [
        "",
        "`empty`: share of calls that found nothing (a search then also tries broader alternatives).",
        "",
        "## Building the data",
        "",
        "| backend | orgs | synthetic added | build (s) | analyse (s) | on disk | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for b in builds:
        lines.append(f"| {b.backend} | {b.size:,} | {b.added:,} | {b.build_s} | {b.analyse_s} | {b.disk} | {b.note} |")
    return "\n".join(lines) + "\n"


def summary(rows: list[Row]) -> str:
    """A compact p50/p95 table: one line per backend and size."""
    by = {}
    for r in rows:
        if r.query.endswith("(all)") and r.samples:
            by.setdefault((r.backend, r.size), {})[r.query] = r
    lines = [
        "| backend | orgs | search p50 | search p95 | recommend p50 | recommend p95 "
        "| search cpu p95 | recommend cpu p95 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (backend, size), d in by.items():
        s, rc = d.get("search (all)"), d.get("recommend (all)")
        lines.append(
            f"| {backend} | {size:,} | {s.pct(50):.1f} | **{s.pct(95):.1f}** | {rc.pct(50):.1f} | **{rc.pct(95):.1f}** "
            f"| {s.pct(95, cpu=True):.1f} | {rc.pct(95, cpu=True):.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.db_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000,1000000", help="organisation counts, ascending")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--queries", type=int, default=200, help="timed calls per query type and size")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls per query type first")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="cap on the timed calls of one size")
    parser.add_argument("--budget-minutes", type=float, default=90.0, help="cap on the whole run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="report file (default bench/results/db-<date>.md)")
    args = parser.parse_args(argv)
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    names = [b.strip().lower() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(unknown)} (choose from {', '.join(BACKENDS)})")
    if "postgresql" in names and not postgres_reachable():
        print(f"PostgreSQL is not reachable at {PG_URL}; leaving it out.", file=sys.stderr)
        names.remove("postgresql")
    backends = [BACKENDS[b]() for b in names]
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    deadline = time.monotonic() + args.budget_minutes * 60
    rows, builds = [], []
    for i, backend in enumerate(backends):
        # Later backends get their share of what is left of the budget.
        share = time.monotonic() + (deadline - time.monotonic()) / (len(backends) - i)
        r, b = run_backend(backend, sizes, args, share)
        rows += r
        builds += b
    command = (
        "python -m bench.db_bench " + " ".join(argv if argv is not None else sys.argv[1:])
        if (argv or sys.argv[1:])
        else "python -m bench.db_bench"
    )
    text_report = report(rows, builds, command.strip(), started, time.perf_counter() - t0, backends)
    text_report += "\n## Summary\n\n" + summary(rows)
    publish(text_report, args.out or RESULTS / f"db-{started:%Y-%m-%d}.md")
    return 0


def publish(text_report: str, out: Path) -> None:
    """Print a benchmark's report and keep it in `out` (bench/results/ by default)."""
    print()
    print(text_report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text_report, encoding="utf-8")
    print(f"Written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    sys.exit(main())
