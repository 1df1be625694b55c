"""`make run`: the whole assistant on the embedded defaults, one command.

Prepares the knowledge base (SQLite, migrated and seeded on first use), trains the model if the
training data changed, then starts the action server, the Rasa server (REST + socket.io on
:5005), the web page (:8080) and, when TELEGRAM_BOT_TOKEN is set, the Telegram bot. Ctrl-C stops
everything.

Usage: python -m bot.run
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot import settings
from bot.train import ensure_model


def local_env() -> dict[str, str]:
    """The environment every child process gets, with local defaults filled in."""
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("ACTION_ENDPOINT_URL", f"http://127.0.0.1:{settings.action_port()}/webhook")
    env.setdefault("TRACKER_URL", f"sqlite:///{settings.VAR / 'trackers.db'}")
    env.setdefault("RASA_URL", settings.rasa_url())
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = str(settings.ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def commands(model: Path) -> dict[str, list[str]]:
    py = sys.executable
    rasa = str(Path(py).with_name("rasa"))
    origins = os.environ.get("KAKEHASHI_ALLOWED_ORIGINS", "http://localhost:8080,http://127.0.0.1:8080")
    cmds = {
        "actions": [py, "-m", "rasa_sdk", "--actions", "actions", "--port", str(settings.action_port())],
        "rasa": [rasa, "run", "--model", str(model), "--port", str(settings.rasa_port()),
                 "--credentials", "credentials.yml", "--endpoints", "endpoints.yml",
                 "--cors", *origins.split(","), "--interface", os.environ.get("RASA_INTERFACE", "127.0.0.1")],
        "web": [py, "-m", "bot.web"],
    }
    if os.environ.get("TELEGRAM_BOT_TOKEN"):
        cmds["telegram"] = [py, "-m", "bot.telegram"]
    return cmds


def wait_ready(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback URL)
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def main() -> int:
    settings.VAR.mkdir(parents=True, exist_ok=True)
    import db

    print("Preparing the knowledge base …", flush=True)
    db.current_version()
    model = ensure_model()
    env = local_env()
    procs: dict[str, subprocess.Popen] = {}
    for name, cmd in commands(model).items():
        procs[name] = subprocess.Popen(cmd, cwd=settings.ROOT, env=env)  # noqa: S603
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    ready = wait_ready(f"{settings.rasa_url()}/webhooks/rest/", 180)
    if ready:
        print(f"\nKakehashi is ready. Chat at http://localhost:{settings.web_port()}/ "
              f"(REST: {settings.rasa_url()}/webhooks/rest/webhook). Ctrl-C stops.\n", flush=True)
    try:
        while not stop:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited with code {proc.returncode}; stopping.", file=sys.stderr)
                    stop = True
            time.sleep(0.5)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
