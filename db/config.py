"""Knowledge-base settings, read from the environment with safe local defaults."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEED_DIR = Path(__file__).resolve().parent / "seed"
SOURCE_DOCS_DIR = Path(os.environ.get("KAKEHASHI_SOURCES_DIR", PROJECT_ROOT.parent / "shared" / "seeds"))
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "kakehashi.db"


def database_url() -> str:
    """The SQLAlchemy URL of the knowledge base: `DATABASE_URL`, else the embedded SQLite file."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        # Heroku-style URLs name the scheme "postgres"; SQLAlchemy wants "postgresql".
        if url.startswith("postgres://"):
            url = "postgresql+psycopg2://" + url[len("postgres://") :]
        return url
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def auto_seed() -> bool:
    """Whether first use of an empty database migrates and seeds it (default: yes)."""
    return os.environ.get("KAKEHASHI_AUTO_SEED", "1").lower() not in {"0", "false", "no"}
