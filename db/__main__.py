"""Staff command line for the knowledge base.

Usage:
    python -m db search [--sector S] [--place P] [--country C] [--kind K] [--name N] [--limit N] [--json]
    python -m db import FILE_OR_FOLDER   # a new database is migrated, not seeded, first
    python -m db export FILE
    python -m db stats
    python -m db migrate            # create/upgrade the schema and seed an empty database

The database is DATABASE_URL (default: the embedded SQLite file var/kakehashi.db).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _search(args) -> int:
    from db.search import search_organisations

    res = search_organisations(
        sector=args.sector,
        place=args.place,
        country=args.country,
        kind=args.kind,
        name=args.name,
        limit=args.limit,
        offset=args.offset,
    )
    if args.json:
        print(
            json.dumps(
                [dict(h.to_dict(), place=h.org.place, sectors=h.org.sectors) for h in res.hits],
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0 if not res.unresolved else 1
    if res.unresolved:
        for key, value in res.unresolved.items():
            hint = res.suggestions.get(key)
            print(
                f"Not understood: {key} '{value}'" + (f" (did you mean: {', '.join(hint)}?)" if hint else ""),
                file=sys.stderr,
            )
        return 1
    more = "+" if res.total_is_lower_bound else ""
    print(f"{res.total}{more} organisation(s) match {res.criteria}")
    for i, hit in enumerate(res.hits, res.offset + 1):
        print(f"{i:3}. {hit.org.name} — {hit.org.place}, {hit.org.country} [{hit.score:.2f}]")
        print(f"     {'; '.join(hit.reasons)}")
    for alt in res.alternatives:
        print(f"  Nearest alternative — {alt.description}: {alt.total} ({', '.join(alt.examples)})")
    return 0


def _import(args) -> int:
    # An import loads exactly the files given: a new database is migrated, not seeded first
    # (seeding first would make `python -m db import db/seed` clash with itself).
    os.environ["KAKEHASHI_AUTO_SEED"] = "0"
    from db.importer import DatasetError, import_path

    try:
        counts = import_path(Path(args.file))
    except DatasetError as exc:
        print(f"Import failed: {exc}", file=sys.stderr)
        return 2
    print("Imported " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


def _export(args) -> int:
    from db.export import dump, export_dataset

    data = export_dataset(include_synthetic=args.synthetic)
    if args.file == "-":
        dump(data, sys.stdout)
    else:
        dump(data, Path(args.file))
        print(f"Exported {sum(len(v) for v in data.values())} records to {args.file}")
    return 0


def _stats(args) -> int:
    from sqlalchemy import func, select

    from db import models as m
    from db.engine import session_scope
    from db.reference import kb_version

    with session_scope() as s:
        rows = {
            "organisations": s.scalar(
                select(func.count()).select_from(m.Organisation).where(m.Organisation.synthetic.is_(False))
            ),
            "synthetic organisations": s.scalar(
                select(func.count()).select_from(m.Organisation).where(m.Organisation.synthetic.is_(True))
            ),
            "partnerships": s.scalar(select(func.count()).select_from(m.Partnership)),
            "programmes": s.scalar(select(func.count()).select_from(m.Programme)),
            "events": s.scalar(select(func.count()).select_from(m.Event)),
            "contacts": s.scalar(select(func.count()).select_from(m.Contact)),
            "market facts": s.scalar(select(func.count()).select_from(m.MarketFact)),
            "places": s.scalar(select(func.count()).select_from(m.Place)),
            "sectors": s.scalar(select(func.count()).select_from(m.Sector)),
            "sources": s.scalar(select(func.count()).select_from(m.Source)),
            "evidence passages": s.scalar(select(func.count()).select_from(m.Evidence)),
            "introduction requests": s.scalar(select(func.count()).select_from(m.IntroductionRequest)),
        }
        version = kb_version(s)
    if args.json:
        print(json.dumps(dict(rows, version=version)))
    else:
        for k, v in rows.items():
            print(f"{k:>24}: {v}")
        print(f"{'knowledge-base version':>24}: {version}")
    return 0


def _migrate(args) -> int:
    from db.engine import get_engine

    get_engine()
    print("Database is up to date.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m db", description="Kakehashi knowledge base")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("search", help="search organisations")
    for opt in ("sector", "place", "country", "kind", "name"):
        p.add_argument(f"--{opt}")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=_search)
    p = sub.add_parser("import", help="import a dataset file or folder (all or nothing)")
    p.add_argument("file")
    p.set_defaults(func=_import)
    p = sub.add_parser("export", help="export the curated dataset as YAML ('-' for stdout)")
    p.add_argument("file")
    p.add_argument("--synthetic", action="store_true", help="include synthetic benchmark organisations")
    p.set_defaults(func=_export)
    p = sub.add_parser("stats", help="count what the knowledge base holds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_stats)
    p = sub.add_parser("migrate", help="create/upgrade the schema, seed an empty database")
    p.set_defaults(func=_migrate)
    args = parser.parse_args(argv)
    from db.engine import DatabaseUnavailable

    try:
        return args.func(args)
    except DatabaseUnavailable as exc:
        print(f"The database cannot be reached: {exc.args[0].splitlines()[0]}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
