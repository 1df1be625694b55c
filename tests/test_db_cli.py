"""The staff command line (`python -m db …`), run as a separate process on a SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

import db
from db.config import PROJECT_ROOT


def run_cli(*args: str, db_file: Path | None = None, url: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "KAKEHASHI_AUTO_SEED"}}
    env["DATABASE_URL"] = url or file_url(db_file)
    return subprocess.run(
        [sys.executable, "-m", "db", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def file_url(db_file: Path) -> str:
    return "sqlite:///" + str(db_file)


def test_search_json(sqlite_kb_file):
    out = run_cli("search", "--sector", "regenerative medicine", "--place", "Osaka", "--json", db_file=sqlite_kb_file)
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert isinstance(hits, list) and hits
    for hit in hits:
        assert {"name", "country", "place", "sectors", "score", "reasons"} <= set(hit)
        assert hit["reasons"] and isinstance(hit["score"], float)
    obh = next(h for h in hits if h["name"] == "Osaka Bio Headquarters")
    assert (obh["country"], obh["place"]) == ("Japan", "Osaka")
    assert "Regenerative medicine" in obh["sectors"]


def test_search_not_understood(sqlite_kb_file):
    out = run_cli("search", "--sector", "biotechnolgy stuff", "--place", "Osaka", db_file=sqlite_kb_file)
    assert out.returncode == 1
    assert "Not understood: sector 'biotechnolgy stuff'" in out.stderr
    assert "did you mean" in out.stderr and "Biotechnology" in out.stderr
    assert out.stdout == ""


def test_stats(sqlite_kb_file, kb_snapshot):
    out = run_cli("stats", db_file=sqlite_kb_file)
    assert out.returncode == 0, out.stderr
    counts = kb_snapshot(file_url(sqlite_kb_file))
    for label, key in (("organisations", "organisations"), ("partnerships", "partnerships"),
                       ("evidence passages", "evidence"), ("knowledge-base version", "version")):  # fmt: skip
        assert f"{label}: {counts[key]}\n" in out.stdout, label
    assert "synthetic organisations: 0\n" in out.stdout


def test_import_of_a_bad_file_fails_with_file_and_line(sqlite_kb_file, bad_data_dir, kb_snapshot):
    before = kb_snapshot(file_url(sqlite_kb_file))
    path = bad_data_dir / "unknown_field.yml"
    out = run_cli("import", str(path), db_file=sqlite_kb_file)
    assert out.returncode == 2
    assert f"{path}:8: homepage: unknown field" in out.stderr
    assert "nothing was imported" in out.stderr
    assert kb_snapshot(file_url(sqlite_kb_file)) == before


def test_export_then_import_into_a_fresh_database(sqlite_kb_file, tmp_path, kb_snapshot):
    """Also the documented way to load a dataset into a new database: `python -m db import …`
    must not seed the new database first (the import would then clash with itself)."""
    export = tmp_path / "export.yml"
    out = run_cli("export", str(export), db_file=sqlite_kb_file)
    assert out.returncode == 0, out.stderr
    original = kb_snapshot(file_url(sqlite_kb_file))
    data = YAML(typ="safe").load(export.read_text(encoding="utf-8"))
    assert len(data["organisations"]) == original["organisations"]

    fresh = tmp_path / "fresh.db"
    out = run_cli("import", str(export), db_file=fresh)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Imported ")
    assert kb_snapshot(file_url(fresh)) == original
    assert db.resolve_organisation("osaka bio hq", url=file_url(fresh))[0].name == "Osaka Bio Headquarters"


def test_unreachable_database_exits_with_a_message():
    out = run_cli("stats", url="postgresql+psycopg2://postgres@127.0.0.1:1/test")
    assert out.returncode == 3
    assert "cannot be reached" in out.stderr
    assert "Traceback" not in out.stderr
