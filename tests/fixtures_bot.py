"""End-to-end fixtures: the real trained model, action server and Rasa server on loopback,
over a fresh seeded SQLite knowledge base. Started once per test session (Rasa takes ~40 s)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RASA = str(Path(PY).with_name("rasa"))
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The browser tests serve their web page from this origin (tests/fixtures_web.py): the assistant is
# started allowing it, as a site's origin is allowed with KAKEHASHI_ALLOWED_ORIGINS in production.
WEB_TEST_PORT = free_port()
WEB_TEST_ORIGIN = f"http://127.0.0.1:{WEB_TEST_PORT}"


def wait_http(url: str, seconds: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (OSError, urllib.error.URLError):
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds:.0f} s")


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
        req = urllib.request.Request(f"{self.rasa_url}/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return json.loads(resp.read())

    def text(self, sender: str, message: str) -> str:
        return "\n".join(m.get("text", "") for m in self.send(sender, message))

    def start_actions(self) -> None:
        port = self.action_url.rsplit(":", 1)[1].split("/")[0]
        log = (self.workdir / "actions.log").open("ab")
        self.procs["actions"] = subprocess.Popen(  # noqa: S603
            [PY, "-m", "rasa_sdk", "--actions", "actions", "--port", port],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_http(f"http://127.0.0.1:{port}/health", 120, self.procs["actions"])

    def stop_actions(self) -> None:
        proc = self.procs.pop("actions", None)
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


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
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"sqlite:///{work / 'kb.db'}",
        "TRACKER_URL": f"sqlite:///{work / 'trackers.db'}",
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
        "RASA_TELEMETRY_ENABLED": "false",
        "KAKEHASHI_SECRET": "test-secret-" + uuid.uuid4().hex,
        "KAKEHASHI_ALLOWED_ORIGINS": WEB_TEST_ORIGIN,
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    })
    subprocess.run([PY, "-m", "db", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    a = Assistant(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{action_port}/webhook", env, work, {})
    a.start_actions()
    log = (work / "rasa.log").open("ab")
    a.procs["rasa"] = subprocess.Popen(  # noqa: S603
        [RASA, "run", "--model", str(trained_model), "--port", str(rasa_port), "--interface", "127.0.0.1",
         "--credentials", "credentials.yml", "--endpoints", "endpoints.yml"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"{a.rasa_url}/webhooks/rest/", START_TIMEOUT_S, a.procs["rasa"])
        yield a
    finally:
        for proc in a.procs.values():
            proc.terminate()
        for proc in a.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
