"""Production settings, all from the environment. Secrets have no defaults: production processes
refuse to start without them. Databases: the knowledge base at DATABASE_URL and the Rasa trackers
at TRACKER_URL must not share a schema (both have a table called `events`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from bot.settings import MODELS

REQUIRED_SECRETS = ("RASA_AUTH_TOKEN", "KAKEHASHI_SECRET")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/1"
DEFAULT_KEY_PREFIX = "kakehashi"


class ConfigError(RuntimeError):
    """The production configuration is incomplete or unsafe; the message says what to set."""


def require_secrets(env: Mapping[str, str]) -> None:
    """Refuse to run without RASA_AUTH_TOKEN and KAKEHASHI_SECRET (never defaulted in production)."""
    missing = [name for name in REQUIRED_SECRETS if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)} must be set in the environment for production "
            '(generate: python -c "import secrets; print(secrets.token_hex(32))")'
        )


def model_in_models(path: str | Path) -> Path:
    """`path` if it is a model file inside the project's models/ directory; refuses anything else."""
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(MODELS.resolve()) or not resolved.name.endswith(".tar.gz"):
        raise ConfigError(f"models are only loaded from {MODELS}/*.tar.gz, not from {path}")
    if not resolved.is_file():
        raise ConfigError(f"no model at {resolved} (train one: python -m bot.train)")
    return resolved


def allowed_origins(env: Mapping[str, str]) -> list[str]:
    """KAKEHASHI_ALLOWED_ORIGINS, required in production (comma-separated); "*" is refused."""
    origins = [o.strip().rstrip("/") for o in env.get("KAKEHASHI_ALLOWED_ORIGINS", "").split(",") if o.strip()]
    if not origins:
        raise ConfigError("KAKEHASHI_ALLOWED_ORIGINS must list the web origins allowed to use the assistant")
    if "*" in origins:
        raise ConfigError('KAKEHASHI_ALLOWED_ORIGINS="*" is not allowed in production: list the origins')
    return origins


def redis_settings(env: Mapping[str, str]) -> dict[str, str]:
    """REDIS_HOST/PORT/DB/PASSWORD/KEY_PREFIX for endpoints.prod.yml: each from the environment,
    else from REDIS_URL (redis://[:password@]host[:port][/db], default redis://127.0.0.1:6379/1)."""
    url = urlsplit(env.get("REDIS_URL") or DEFAULT_REDIS_URL)
    if url.scheme not in {"redis", ""}:
        raise ConfigError(f"REDIS_URL must be redis://…, not {url.scheme}://")
    derived = {
        "REDIS_HOST": url.hostname or "127.0.0.1",
        "REDIS_PORT": str(url.port or 6379),
        "REDIS_DB": url.path.strip("/") or "1",
        "REDIS_PASSWORD": unquote(url.password or ""),
        "REDIS_KEY_PREFIX": DEFAULT_KEY_PREFIX,
    }
    out = {key: env.get(key) or value for key, value in derived.items()}
    if not out["REDIS_KEY_PREFIX"].isalnum():
        raise ConfigError("REDIS_KEY_PREFIX must be letters and digits only (Rasa ignores anything else)")
    return out


def with_schema(url: str, schema: str, public: bool = False) -> str:
    """`url` (PostgreSQL) with its search path set to `schema` (and `public` after it, where the
    knowledge base finds the pg_trgm extension). Trackers get their schema alone: with `public` on
    their path, Rasa would take a knowledge base's `events` table there for its own."""
    path = f"{schema},public" if public else schema
    return make_url(url).update_query_dict({"options": f"-csearch_path={path}"}).render_as_string(hide_password=False)


def search_path(url: str) -> list[str]:
    """The schemas a PostgreSQL URL's search path names (options=-csearch_path=…), in order."""
    options = make_url(url).query.get("options", "")
    options = options if isinstance(options, str) else " ".join(options)
    for part in options.split():
        if part.startswith("-csearch_path="):
            return [s.strip() for s in part.split("=", 1)[1].split(",") if s.strip()]
    return []


def schema_of(url: str) -> str | None:
    """The first schema of the search path a PostgreSQL URL sets, if any."""
    path = search_path(url)
    return path[0] if path else None


def ensure_schema(url: str) -> None:
    """Create the schema a PostgreSQL URL's search path names, if missing (Rasa creates its tables
    but not the schema)."""
    schema = schema_of(url)
    if make_url(url).get_backend_name() != "postgresql" or not schema:
        return
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.begin() as conn:
            quoted = conn.dialect.identifier_preparer.quote_identifier(schema)
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
    except IntegrityError:
        pass  # another instance created it at the same moment
    finally:
        engine.dispose()
