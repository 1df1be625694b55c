"""`make run`: the whole assistant on the embedded defaults, one command.

Prepares the knowledge base (SQLite, migrated and seeded on first use), trains the model if the
training data changed, then starts the action server, the Rasa server (REST + socket.io on
:5005), the web page (:8080) and, when TELEGRAM_BOT_TOKEN is set, the Telegram bot. Ctrl-C stops
everything.

Usage: python -m bot.run
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from bot import settings
from bot.launch import PY, assistant_env, start_actions, start_rasa, wait_http
from bot.launch import stop as stop_procs
from bot.train import ensure_model


def local_env() -> dict[str, str]:
    """The environment every child process gets, with local defaults filled in."""
    env = assistant_env()
    env.setdefault("ACTION_ENDPOINT_URL", f"http://127.0.0.1:{settings.action_port()}/webhook")
    env.setdefault("TRACKER_URL", f"sqlite:///{settings.VAR / 'trackers.db'}")
    env.setdefault("RASA_URL", settings.rasa_url())
    return env


def start_all(model: Path, env: dict[str, str]) -> dict[str, subprocess.Popen]:
    origins = env.get("KAKEHASHI_ALLOWED_ORIGINS", "http://localhost:8080,http://127.0.0.1:8080")
    procs = {
        "actions": start_actions(env, settings.action_port()),
        "rasa": start_rasa(
            env,
            model,
            settings.rasa_port(),
            extra=["--cors", *origins.split(","), "--interface", env.get("RASA_INTERFACE", "127.0.0.1")],
        ),
        "web": subprocess.Popen([PY, "-m", "bot.web"], cwd=settings.ROOT, env=env),
    }
    if env.get("TELEGRAM_BOT_TOKEN"):
        procs["telegram"] = subprocess.Popen([PY, "-m", "bot.telegram"], cwd=settings.ROOT, env=env)
    return procs


def main() -> int:
    settings.VAR.mkdir(parents=True, exist_ok=True)
    import db

    print("Preparing the knowledge base …", flush=True)
    db.current_version()
    model = ensure_model()
    env = local_env()
    procs = start_all(model, env)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        waited = wait_http(f"{settings.rasa_url()}/webhooks/rest/", 300, procs["rasa"])
    except (TimeoutError, RuntimeError) as exc:
        print(f"The assistant did not start: {exc}", file=sys.stderr)
        waited = None
    if waited is not None:
        print(f"Ready in {waited:.0f} s.", flush=True)
        print(
            f"\nKakehashi is ready. Chat at http://localhost:{settings.web_port()}/ "
            f"(REST: {settings.rasa_url()}/webhooks/rest/webhook). Ctrl-C stops.\n",
            flush=True,
        )
    try:
        while not stop:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited with code {proc.returncode}; stopping.", file=sys.stderr)
                    stop = True
            time.sleep(0.5)
    finally:
        stop_procs(*procs.values())
    return 0


if __name__ == "__main__":
    sys.exit(main())
