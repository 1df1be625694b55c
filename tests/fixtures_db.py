"""Knowledge-base fixtures: migrated, seeded databases on SQLite and on PostgreSQL.

`kb_url` is parametrized over both backends (ids "sqlite" and "postgresql"): a test that takes it
runs twice, against the curated dataset seeded once per backend per session. Tests must only read
from it; tests that write (imports, leads) use `scratch_kb` or a database of their own from
`kb_maker` (seeded, empty or blank).

PostgreSQL runs in fresh schemas (`kk_test_<random>…`) of DATABASE_URL_PG (default: the local
`test` database), dropped at the end of the session. When nothing listens at the server's address
the PostgreSQL tests are skipped, unless CI is set: then they fail (as they do when the server
answers but refuses, e.g. no such database).
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateSchema, DropSchema

import db
from db import models as m
from db.engine import get_engine

PG_DEFAULT_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]
DATA_DIR = Path(__file__).resolve().parent / "data"
# Every table the importer writes, counted to prove that a failed import wrote nothing.
DATASET_TABLES = (
    m.Source, m.Place, m.PlaceName, m.Sector, m.SectorName, m.Organisation, m.OrganisationName,
    m.OrganisationSector, m.Membership, m.Evidence, m.Partnership, m.PartnershipSector, m.Programme,
    m.ProgrammeName, m.ProgrammeRule, m.ProgrammeSector, m.Event, m.EventOrganisation, m.EventSector,
    m.Contact, m.MarketFact, m.KbMeta, m.IntroductionRequest,
)  # fmt: skip


def canonical_url(url: str) -> str:
    """`url` as SQLAlchemy renders it, so that an engine's URL string round-trips to its cache key."""
    return make_url(url).render_as_string(hide_password=False)


def sqlite_url(path: Path) -> str:
    return canonical_url("sqlite:///" + str(path))


def copy_sqlite(url: str, target: Path) -> Path:
    """Copy the SQLite database at `url` to `target` (consistently, even while it is open)."""
    src, dst = sqlite3.connect(make_url(url).database), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target


@contextmanager
def _auto_seed(enabled: bool) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KAKEHASHI_AUTO_SEED", "1" if enabled else "0")
        yield


def prepare(url: str, seeded: bool = True) -> str:
    """Migrate (and seed, or not) the database at `url` through db.engine; returns `url`."""
    with _auto_seed(seeded):
        get_engine(url)
    return url


# --------------------------------------------------------------------------- PostgreSQL


@dataclass
class PgSchemas:
    """Fresh schemas on the test server; all dropped by `drop_all` at the end of the session."""

    admin: Engine
    base_url: str
    prefix: str = field(default_factory=lambda: "kk_test_" + secrets.token_hex(4))
    created: list[str] = field(default_factory=list)

    def new(self) -> str:
        """The URL of a new, empty schema (pg_trgm in `public` stays visible)."""
        name = self.prefix if not self.created else f"{self.prefix}_{len(self.created)}"
        with self.admin.begin() as conn:
            conn.execute(CreateSchema(name))
        self.created.append(name)
        url = make_url(self.base_url).update_query_dict({"options": f"-csearch_path={name},public"})
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.begin() as conn:
            for name in reversed(self.created):
                conn.execute(DropSchema(name, cascade=True))
        self.created.clear()


def _unreachable(url: str) -> str | None:
    """Why the server of `url` cannot be reached at all (nothing listens), or None."""
    parsed = make_url(url)
    if not parsed.host:  # a Unix socket: let the driver say
        return None
    try:
        socket.create_connection((parsed.host, parsed.port or 5432), timeout=5).close()
    except OSError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[PgSchemas]:
    """The PostgreSQL test server. Skipped when nothing listens there and CI is unset; any other
    failure (CI set, wrong database or credentials) fails the PostgreSQL tests."""
    base = os.environ.get("DATABASE_URL_PG") or PG_DEFAULT_URL
    where = make_url(base).render_as_string(hide_password=True)
    why = _unreachable(base)
    if why is not None:
        reason = f"PostgreSQL at {where} is unreachable ({why})"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI is set, so the PostgreSQL tests must run", pytrace=False)
        pytest.skip(reason + "; set CI to make this an error")
    admin = create_engine(base, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with admin.connect():
            pass
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {where} refuses the tests: {str(exc.orig).strip()}", pytrace=False)
    # pg_trgm lives in `public`, shared by every test schema. Left to the migration, it would be
    # created in the first test schema and vanish with it (DROP SCHEMA … CASCADE) while other
    # schemas, of this run or of a concurrent one, still use it.
    with admin.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    schemas = PgSchemas(admin, base)
    yield schemas
    db.dispose_all()  # pooled connections would hold the schemas
    schemas.drop_all()
    admin.dispose()


# --------------------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def sqlite_kb(tmp_path_factory) -> str:
    """A seeded SQLite knowledge base (read-only by convention; also the template of copies)."""
    return prepare(sqlite_url(tmp_path_factory.mktemp("kb") / "kb.db"))


@pytest.fixture(scope="session")
def postgresql_kb(pg_schemas) -> str:
    """A seeded PostgreSQL knowledge base in a schema of its own (read-only by convention)."""
    return prepare(pg_schemas.new())


@pytest.fixture
def sqlite_kb_file(sqlite_kb, tmp_path) -> Path:
    """A file of its own holding the seeded SQLite knowledge base (for other processes, e.g. the CLI)."""
    return copy_sqlite(sqlite_kb, tmp_path / "kb.db")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """ "sqlite" or "postgresql": every test that depends on it runs on both."""
    return request.param


@pytest.fixture(scope="session")
def kb_url(backend, request) -> str:
    """URL of the migrated knowledge base seeded with the curated dataset, on `backend`."""
    return request.getfixturevalue({"sqlite": "sqlite_kb", "postgresql": "postgresql_kb"}[backend])


@dataclass
class KbMaker:
    """Databases of their own for tests that write, on the same backend as `kb_url`."""

    backend: str
    template_url: str
    tmp_path_factory: pytest.TempPathFactory
    pg: PgSchemas | None = None

    def blank(self) -> str:
        """The URL of a new database that nothing has touched yet (not even migrations)."""
        if self.backend == "sqlite":
            return sqlite_url(self.tmp_path_factory.mktemp("kb") / "kb.db")
        assert self.pg is not None
        return self.pg.new()

    def seeded(self) -> str:
        """A new knowledge base holding the curated dataset."""
        if self.backend == "sqlite":  # a copy of the seeded template: much faster than seeding
            url = self.blank()
            copy_sqlite(self.template_url, Path(make_url(url).database))
            return prepare(url)
        return prepare(self.blank())

    def empty(self) -> str:
        """A new, migrated knowledge base holding nothing."""
        return prepare(self.blank(), seeded=False)


@pytest.fixture(scope="session")
def kb_maker(backend, kb_url, tmp_path_factory, request) -> KbMaker:
    pg = request.getfixturevalue("pg_schemas") if backend == "postgresql" else None
    return KbMaker(backend, kb_url, tmp_path_factory, pg)


@pytest.fixture(scope="session")
def scratch_kb(kb_maker) -> str:
    """A seeded knowledge base for tests that write (imports, leads), apart from `kb_url`.

    Shared by those tests to save seeding time: each checks only what it wrote itself (its own
    ids, its own conversation ids) or compares the database before and after."""
    return kb_maker.seeded()


@pytest.fixture(scope="session", autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    db.dispose_all()


# --------------------------------------------------------------------------- helpers


def table_counts(url: str) -> dict[str, int | str]:
    """Rows per dataset table, plus the knowledge-base version."""
    with db.session_scope(url) as session:
        counts: dict[str, int | str] = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) for model in DATASET_TABLES
        }
    counts["version"] = db.current_version(url=url)
    return counts


@pytest.fixture(scope="session")
def kb_snapshot() -> Callable[[str], dict[str, int | str]]:
    """snapshot(url): rows per dataset table and the knowledge-base version, to compare."""
    return table_counts


@pytest.fixture(scope="session")
def bad_data_dir() -> Path:
    return DATA_DIR / "bad"


@pytest.fixture(scope="session")
def expected_names() -> dict:
    """The independent checklist of every name the source documents mention."""
    from ruamel.yaml import YAML

    path = DATA_DIR / "expected_names.yml"
    if not path.exists():
        pytest.fail(f"{path} is missing: it lists every name the source documents mention")
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))
