"""A Sanic server with the real public channels (bot/channels.py) and a stand-in for the model,
started in its own process the way `rasa run --cors <origin>` sets a Rasa server up (coloured
logging first, then the channels, Sanic-CORS for the allowed origin). What is under test is the
channels' own code — readiness, metrics, log lines, origins — without waiting for a model.

Used by tests/test_obs_channels.py and tests/test_security_channels.py: `start(tmp)` runs one for
as long as the generator is open (a module-scoped fixture in each)."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from bot.launch import stop
from tests.fixtures_bot import PY, ROOT, free_port, wait_http

ALLOWED_ORIGIN = "http://127.0.0.1:9"
METRICS_TOKEN = "metrics-token-for-tests"
SECRET = "obs-harness-secret"
SERVER = """
import sys
from rasa.server import configure_cors
from rasa.utils.io import configure_colored_logging
from sanic import Sanic

configure_colored_logging("INFO")  # as `rasa run` does, before it loads the channels

from bot.channels import SafeRestInput, SafeSocketIOInput

port, origin = int(sys.argv[1]), sys.argv[2]
app = Sanic("kakehashi_obs_check", configure_logging=False)  # as rasa.core.run does
configure_cors(app, [origin])


class Agent:  # the model's stand-in
    def is_ready(self):
        return True


app.ctx.agent = Agent()


async def answer(message):
    if "crash after" in message.text:  # answered, then saving the conversation fails
        await message.output_channel.send_response(message.sender_id, {"text": "A reply the conversation lost."})
        raise RuntimeError("the stand-in failed after answering")
    if "crash" in message.text:
        raise RuntimeError("the stand-in failed")
    name = "utter_clarify" if "gibberish" in message.text else "utter_greet"
    await message.output_channel.send_response(
        message.sender_id, {"text": "A reply from the stand-in.", "utter_action": name}
    )


app.blueprint(SafeRestInput().blueprint(answer), url_prefix="/webhooks/rest")
sio = SafeSocketIOInput.from_credentials({"session_persistence": True})
app.blueprint(sio.blueprint(answer), url_prefix="/webhooks/socketio")
app.run(host="127.0.0.1", port=port, access_log=False)
"""


@dataclass
class ChannelServer:
    url: str
    log: Path
    env: dict[str, str]

    def request(
        self, path: str, body: dict | None = None, headers: dict | None = None, method: str | None = None
    ) -> tuple[int, Message, bytes]:
        """(status, headers (case-insensitive), body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json", **(headers or {})}, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def send(self, sender: str, message: str, headers: dict | None = None) -> tuple[int, object]:
        status, _, body = self.request("/webhooks/rest/webhook", {"sender": sender, "message": message}, headers)
        return status, json.loads(body or b"null")

    def metrics(self) -> str:
        status, _, body = self.request("/webhooks/rest/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert status == 200, body
        return body.decode()

    def log_lines(self) -> list[str]:
        return [line for line in self.log.read_text(encoding="utf-8").splitlines() if line.strip()]

    def records(self) -> list[dict]:
        """The JSON log records (the lines Python printed before logging was set up are skipped)."""
        return [json.loads(line) for line in self.log_lines() if line.startswith("{")]


def start(tmp: Path, migrate: bool = True, **env_overrides: str) -> Iterator[ChannelServer]:
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "KAKEHASHI_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        "KAKEHASHI_SECRET": SECRET,
        "KAKEHASHI_METRICS_TOKEN": METRICS_TOKEN,
        "KAKEHASHI_LOG_FORMAT": "json",
        "KAKEHASHI_RATE_LIMIT": "3/60",
        "DATABASE_URL": f"sqlite:///{tmp / 'kb.db'}",
        "KAKEHASHI_AUTO_SEED": "0",
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **env_overrides,
    }
    if migrate:
        subprocess.run([PY, "-m", "db", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    log = tmp / "server.log"
    with log.open("wb") as out:
        cmd = [PY, "-c", SERVER, str(port), ALLOWED_ORIGIN]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        wait_http(f"http://127.0.0.1:{port}/webhooks/rest/", 120, proc)
        yield ChannelServer(f"http://127.0.0.1:{port}", log, env)
    finally:
        stop(proc, timeout=30)


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    want = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    for line in metrics.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == name + want:
            return float(value)
    return 0.0
