"""Runtime settings, all from the environment with safe local defaults."""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
MODELS = ROOT / "models"


def env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def rasa_port() -> int:
    return int(env("RASA_PORT", "5005"))


def action_port() -> int:
    return int(env("ACTION_PORT", "5055"))


def web_port() -> int:
    return int(env("WEB_PORT", "8080"))


def rasa_url() -> str:
    return env("RASA_URL", f"http://127.0.0.1:{rasa_port()}")


def secret() -> bytes:
    """The key that signs button payloads. KAKEHASHI_SECRET in production; locally a random key
    kept in var/secret so that every local process (and restarts) agree on it."""
    value = os.environ.get("KAKEHASHI_SECRET", "").strip()
    return value.encode() if value else _local_secret()


@functools.cache
def _local_secret() -> bytes:
    # Read once per process: signing runs for every button of every answer.
    path = VAR / "secret"
    if not path.exists():
        VAR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip().encode()
