"""End-to-end fixtures: the real trained model, action server and Rasa server on loopback,
over a fresh seeded SQLite knowledge base. Started once per test session (Rasa takes ~40 s)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.launch import PY, assistant_env, free_port, start_actions, start_rasa, stop, wait_http

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 300
# The web page of the widget tests is served from this origin, which the assistant must allow.
WEB_TEST_PORT = free_port()
WEB_TEST_ORIGIN = f"http://127.0.0.1:{WEB_TEST_PORT}"


@dataclass
class Assistant:
    """A running assistant: where to reach it, and how to talk to it over REST."""

    rasa_url: str
    action_url: str
    env: dict[str, str]
    workdir: Path
    procs: dict[str, subprocess.Popen]

    def send(self, sender: str, message: str, timeout: float = 60) -> list[dict]:
        body = json.dumps({"sender": sender, "message": message}).encode()
        req = urllib.request.Request(
            f"{self.rasa_url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def text(self, sender: str, message: str) -> str:
        return "\n".join(m.get("text", "") for m in self.send(sender, message))

    def start_actions(self) -> None:
        port = int(self.action_url.rsplit(":", 1)[1].split("/")[0])
        self.procs["actions"] = start_actions(self.env, port, self.workdir / "actions.log")
        wait_http(f"http://127.0.0.1:{port}/health", 120, self.procs["actions"])

    def stop_actions(self) -> None:
        stop(self.procs.pop("actions", None))


def new_sender() -> str:
    return "t-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The model for the current data (trained once and cached by fingerprint in models/)."""
    from bot.train import ensure_model

    return ensure_model()


@pytest.fixture(scope="session")
def assistant(trained_model: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("assistant")
    rasa_port, action_port = free_port(), free_port()
    env = assistant_env(
        DATABASE_URL=f"sqlite:///{work / 'kb.db'}",
        TRACKER_URL=f"sqlite:///{work / 'trackers.db'}",
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        KAKEHASHI_SECRET="test-secret-" + uuid.uuid4().hex,
        KAKEHASHI_ALLOWED_ORIGINS=WEB_TEST_ORIGIN,
    )
    subprocess.run([PY, "-m", "db", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    a = Assistant(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{action_port}/webhook", env, work, {})
    a.start_actions()
    a.procs["rasa"] = start_rasa(env, trained_model, rasa_port, work / "rasa.log", ["--interface", "127.0.0.1"])
    try:
        wait_http(f"{a.rasa_url}/webhooks/rest/", START_TIMEOUT_S, a.procs["rasa"])
        yield a
    finally:
        stop(*a.procs.values())
