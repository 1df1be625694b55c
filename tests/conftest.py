"""Shared pytest configuration. Fixtures live in topic plugins (`tests/fixtures_*.py`), listed below."""

import sys
from pathlib import Path

# `python -m pytest` puts the repository on sys.path, plain `pytest` does not: make both work.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest_plugins = ["tests.fixtures_db", "tests.fixtures_bot", "tests.fixtures_telegram", "tests.fixtures_web"]
