"""Engine and sessions: one engine per URL made on first use, one session per unit of work."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session, sessionmaker

from db.config import auto_seed, database_url

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_ready: set[str] = set()


class DatabaseUnavailable(RuntimeError):
    """The knowledge base cannot be reached (server down, file unreadable)."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine for `url` with settings suited to its backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, future=True, connect_args={"check_same_thread": False, "timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        future=True,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {},
    )


def get_engine(url: str | None = None) -> Engine:
    """The engine for `url` (default: the configured database), migrated and seeded on first use."""
    url = url or database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
    if url not in _ready:
        with _lock:
            if url not in _ready:
                _prepare(engine)
                _ready.add(url)
    return engine


def _prepare(engine: Engine) -> None:
    from db.importer import prepare_database

    try:
        prepare_database(engine, seed=auto_seed())
    except Exception as exc:
        if _is_connection_error(exc):
            raise DatabaseUnavailable(str(exc)) from exc
        raise


def _is_connection_error(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def dispose_all() -> None:
    """Close every pooled connection (tests, shutdown)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _ready.clear()


@contextmanager
def session_scope(url: str | None = None, *, write: bool = False) -> Iterator[Session]:
    """One session per unit of work; commits when `write` and the block succeeds."""
    try:
        engine = get_engine(url)
        session = sessionmaker(bind=engine, future=True, expire_on_commit=False)()
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        if _is_connection_error(exc):
            raise DatabaseUnavailable(str(exc)) from exc
        raise
    try:
        yield session
        if write:
            session.commit()
    except Exception as exc:
        session.rollback()
        if _is_connection_error(exc):
            raise DatabaseUnavailable(str(exc)) from exc
        raise
    finally:
        session.close()
