"""`make run-prod-local`: the production stack on this machine — two Rasa instances on PostgreSQL
and Redis behind the balancer, the action server, the web page and (with TELEGRAM_BOT_TOKEN) the
Telegram bot. Ctrl-C stops everything.

PostgreSQL: DATABASE_URL (default: database `kakehashi` on 127.0.0.1:5432, created if missing) holds
the knowledge base; TRACKER_URL (default: the same database, schema `rasa`) the conversations.
Redis: REDIS_URL (default redis://127.0.0.1:6379/1), the shared lock store. RASA_AUTH_TOKEN and
KAKEHASHI_SECRET come from the environment or, for this local run only, from var/prod-secrets.env
(generated on first run). A crashed process is restarted (up to 5 times).

Usage: python -m bot.prod [--instances 2] [--model models/kakehashi-<fingerprint>.tar.gz]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from bot import settings
from bot.launch import PY
from bot.launch import stop as stop_procs
from bot.prod.config import DEFAULT_REDIS_URL, REQUIRED_SECRETS, ConfigError, model_in_models, with_schema
from bot.prod.stack import Stack

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/kakehashi"
SECRETS_FILE = settings.VAR / "prod-secrets.env"
MAX_RESTARTS = 5


def check_postgres(url: str) -> str | None:
    """Why PostgreSQL at `url` cannot be used (None: fine); creates the database if it is missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return f"DATABASE_URL must be PostgreSQL for the production stack, not {parsed.get_backend_name()}"
    where = parsed.render_as_string(hide_password=True)
    admin = create_engine(parsed.set(database="postgres"), poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
            if exists.first() is None:
                print(f"Creating database {parsed.database} …", flush=True)
                quoted = conn.dialect.identifier_preparer.quote_identifier(parsed.database)
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(f"CREATE DATABASE {quoted}"))
    except OperationalError as exc:
        return f"PostgreSQL at {where} is not reachable: {str(exc.orig).strip()}"
    finally:
        admin.dispose()
    return None


def check_redis(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5).ping()
    except redis.exceptions.RedisError as exc:
        return f"Redis at {url} is not reachable: {exc}"
    return None


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def local_secrets() -> tuple[dict[str, str], bool]:
    """RASA_AUTH_TOKEN and KAKEHASHI_SECRET: from the environment, else var/prod-secrets.env
    (generated once). Returns them and whether any came from that file."""
    found = {name: os.environ[name].strip() for name in REQUIRED_SECRETS if os.environ.get(name, "").strip()}
    if len(found) == len(REQUIRED_SECRETS):
        return found, False
    stored: dict[str, str] = {}
    if SECRETS_FILE.exists():
        for line in SECRETS_FILE.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() in REQUIRED_SECRETS and value.strip():
                stored[key.strip()] = value.strip()
    missing = [name for name in REQUIRED_SECRETS if name not in stored]
    if missing:
        stored["RASA_AUTH_TOKEN"] = stored.get("RASA_AUTH_TOKEN") or secrets.token_urlsafe(32)
        stored["KAKEHASHI_SECRET"] = stored.get("KAKEHASHI_SECRET") or secrets.token_hex(32)
        SECRETS_FILE.parent.mkdir(parents=True, exist_ok=True)
        tmp = SECRETS_FILE.with_suffix(".tmp")
        tmp.write_text("".join(f"{k}={stored[k]}\n" for k in REQUIRED_SECRETS))
        tmp.chmod(0o600)
        tmp.replace(SECRETS_FILE)
    return {**stored, **found}, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.prod", description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=2, help="Rasa instances (default 2)")
    parser.add_argument("--model", help="a model in models/ (default: the one for the current training data)")
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL", "").strip() or DEFAULT_REDIS_URL
    problems = [p for p in (check_postgres(database_url), check_redis(redis_url)) if p]
    if problems:
        print("The production stack needs PostgreSQL and Redis:\n  " + "\n  ".join(problems), file=sys.stderr)
        print("Set DATABASE_URL / REDIS_URL, or start the servers (docs/production.md).", file=sys.stderr)
        return 1
    tracker_url = os.environ.get("TRACKER_URL", "").strip() or with_schema(database_url, "rasa")
    balancer_port = int(os.environ.get("BALANCER_PORT") or settings.rasa_port())
    web_port = settings.web_port()
    busy = [str(p) for p in (balancer_port, web_port) if not port_free(p)]
    if busy:
        print(f"Port(s) {', '.join(busy)} are in use (BALANCER_PORT, WEB_PORT choose others).", file=sys.stderr)
        return 1
    found, from_file = local_secrets()
    origins = os.environ.get("KAKEHASHI_ALLOWED_ORIGINS") or f"http://localhost:{web_port},http://127.0.0.1:{web_port}"
    try:
        model = model_in_models(args.model) if args.model else None
        if model is None:
            from bot.train import ensure_model

            model = ensure_model()
        stack = Stack(
            instances=args.instances,
            workdir=settings.VAR / "prod",
            database_url=database_url,
            tracker_url=tracker_url,
            redis_url=redis_url,
            env_overrides={**found, "KAKEHASHI_ALLOWED_ORIGINS": origins},
            model=model,
            ports={"balancer": balancer_port},
        )
    except ConfigError as exc:
        print(f"The production stack will not start: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop like Ctrl-C
    extras: dict[str, subprocess.Popen] = {}
    try:
        print(f"Starting {args.instances} Rasa instances, the action server and the balancer …", flush=True)
        started = time.monotonic()
        stack.start()
        public = f"http://localhost:{balancer_port}"
        env = dict(stack.env, RASA_URL=stack.balancer_url, KAKEHASHI_PUBLIC_RASA_URL=public, WEB_PORT=str(web_port))
        extras["web"] = subprocess.Popen([PY, "-m", "bot.web"], cwd=settings.ROOT, env=env)
        if env.get("TELEGRAM_BOT_TOKEN"):
            extras["telegram"] = subprocess.Popen([PY, "-m", "bot.telegram"], cwd=settings.ROOT, env=env)
        print(
            f"\nKakehashi (production stack) is ready in {time.monotonic() - started:.0f} s.\n"
            f"  Chat:       http://localhost:{web_port}/\n"
            f"  REST:       {public}/webhooks/rest/webhook (balanced over {args.instances} instances)\n"
            f"  Rasa API:   {public}/status with 'Authorization: Bearer $RASA_AUTH_TOKEN'"
            + (f" (token in {SECRETS_FILE})" if from_file else "")
            + f"\n  Logs:       {stack.workdir}/\n  Ctrl-C stops everything.\n",
            flush=True,
        )
        supervise(stack, extras)
    except KeyboardInterrupt:
        pass
    except (TimeoutError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"The production stack did not start: {exc} (logs: {stack.workdir}/)", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stopping short
        stop_procs(*extras.values())
        stack.stop()
    return 0


def supervise(stack: Stack, extras: dict[str, subprocess.Popen]) -> None:
    """Restart a crashed stack process (at most MAX_RESTARTS times each); stop when the web page
    or the Telegram bot exits."""
    restarts: dict[str, int] = {}
    while True:
        time.sleep(1)
        for name, proc in extras.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}")
        for name in stack.names:
            if stack.running(name):
                continue
            restarts[name] = restarts.get(name, 0) + 1
            if restarts[name] > MAX_RESTARTS:
                raise RuntimeError(f"{name} keeps crashing; see {stack.workdir / (name + '.log')}")
            print(f"{name} exited; restarting it ({restarts[name]}/{MAX_RESTARTS}) …", file=sys.stderr, flush=True)
            stack.procs.pop(name, None)
            stack.start_process(name, wait=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
