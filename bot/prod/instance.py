"""One Rasa instance as production runs it: the public channels plus the HTTP API (token
required), trackers on PostgreSQL, locks in Redis, CORS limited to KAKEHASHI_ALLOWED_ORIGINS, a
model from models/ only. Secrets come from the environment, never from the command line (where
`ps` shows them to every user of the machine).

Takes `rasa run`'s arguments and refuses to start when something required is missing:
RASA_AUTH_TOKEN, KAKEHASHI_SECRET, KAKEHASHI_ALLOWED_ORIGINS, TRACKER_URL, DATABASE_URL,
ACTION_ENDPOINT_URL (docs/production.md lists every setting).

Usage: python -m bot.prod.instance run [--model models/kakehashi-<fingerprint>.tar.gz] [--port 5005]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from bot.prod.config import (
    ConfigError,
    allowed_origins,
    ensure_schema,
    model_in_models,
    redis_settings,
    require_secrets,
    schema_of,
    search_path,
)
from bot.settings import MODELS

REQUIRED = ("TRACKER_URL", "DATABASE_URL", "ACTION_ENDPOINT_URL")
SECRET_FLAGS = ("--auth-token", "-t", "--jwt-secret", "--jwt-private-key")


def _value(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def default_model() -> str:
    """The model for the current training data, else the newest model in models/."""
    from bot.train import model_path

    current = model_path()
    if current.exists():
        return str(current)
    found = sorted(MODELS.glob("kakehashi-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ConfigError(f"no model in {MODELS}/ (train one: python -m bot.train)")
    return str(found[-1])


def check_env(env: Mapping[str, str]) -> dict[str, str]:
    """The settings endpoints.prod.yml needs, checked; raises ConfigError naming what is missing."""
    require_secrets(env)
    missing = [name for name in REQUIRED if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be set for production (docs/production.md)")
    if env["TRACKER_URL"].startswith("sqlite"):
        raise ConfigError("TRACKER_URL must be PostgreSQL in production: instances share their trackers")
    trackers = search_path(env["TRACKER_URL"]) or ["public"]
    if len(trackers) > 1:
        raise ConfigError(
            f"TRACKER_URL's search path must name one schema, the trackers' own (not {','.join(trackers)}): "
            "Rasa would take any other schema's `events` table on it for its own"
        )
    if (schema_of(env["DATABASE_URL"]) or "public") == trackers[0] and _same_db(env):
        raise ConfigError(
            "TRACKER_URL and DATABASE_URL point at the same schema; both hold a table called `events`: "
            "put the trackers in a schema of their own (…?options=-csearch_path%3Drasa)"
        )
    return redis_settings(env)


def _same_db(env: Mapping[str, str]) -> bool:
    from sqlalchemy.engine import make_url

    a, b = make_url(env["TRACKER_URL"]), make_url(env["DATABASE_URL"])
    return (a.host, a.port, a.database) == (b.host, b.port, b.database)


def rasa_argv(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """`rasa run` arguments with the production settings added; refuses unsafe ones."""
    argv = list(argv) or ["run"]
    if argv[0] != "run":
        raise ConfigError("only `run` is supported: python -m bot.prod.instance run [rasa run options]")
    if any(a == f or a.startswith(f + "=") for a in argv for f in SECRET_FLAGS):
        raise ConfigError("secrets are read from the environment (RASA_AUTH_TOKEN), not the command line")
    if any(a == "--cors" for a in argv):
        raise ConfigError("CORS comes from KAKEHASHI_ALLOWED_ORIGINS, not --cors")
    model = _value(argv, "--model") or _value(argv, "-m")
    if model is None:
        model = default_model()
        argv += ["--model", model]
    model_in_models(model)
    if _value(argv, "--endpoints") is None:
        argv += ["--endpoints", "endpoints.prod.yml"]
    if _value(argv, "--credentials") is None:
        argv += ["--credentials", "credentials.yml"]
    if _value(argv, "--interface") is None and _value(argv, "-i") is None:
        argv += ["--interface", env.get("RASA_INTERFACE") or "127.0.0.1"]
    if _value(argv, "--port") is None and _value(argv, "-p") is None:
        argv += ["--port", env.get("RASA_PORT") or "5005"]
    return [
        *argv,
        "--enable-api",
        # One argument: a token may begin with "-" (token_urlsafe does, 1 time in 64), which
        # argparse would take for an option.
        f"--auth-token={env['RASA_AUTH_TOKEN']}",
        "--cors",
        *allowed_origins(env),
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        settings = check_env(os.environ)
        args = rasa_argv(argv, os.environ)
    except ConfigError as exc:
        print(f"Kakehashi (production) will not start: {exc}", file=sys.stderr)
        return 2
    for key, value in settings.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # A crashed instance leaves its conversation locks in Redis until they expire (Rasa: 60 s);
    # a message takes well under a second, or up to TRACKER_RETRY_SECONDS while PostgreSQL restarts.
    os.environ.setdefault("TICKET_LOCK_LIFETIME", "30")
    ensure_schema(os.environ["TRACKER_URL"])

    from bot.prod.stores import keep_failures_visible

    keep_failures_visible()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *args]  # in-process: the token never appears in /proc/<pid>/cmdline
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
