"""The production stack as child processes on this machine: one action server ("actions"), N Rasa
instances ("rasa-0", "rasa-1", …) on PostgreSQL and Redis, and the balancer ("balancer") in front.
Used by `make run-prod-local`, the tests and the benchmarks, so all three run the same thing.

    with Stack(instances=2, workdir=tmp, database_url=kb, tracker_url=trackers, redis_url=redis,
               env_overrides={"RASA_AUTH_TOKEN": …, "KAKEHASHI_SECRET": …}) as stack:
        post(stack.balancer_url + "/webhooks/rest/webhook", …)
        stack.kill("rasa-0"); stack.start_process("rasa-0")

Secrets are required (RASA_AUTH_TOKEN, KAKEHASHI_SECRET: env_overrides or the environment); tests and
benchmarks can pass `ephemeral_secrets()`. Every process logs to <workdir>/<name>.log; every wait is
bounded. Ports are chosen once, so a restarted process comes back where the others expect it.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.launch import PY, assistant_env, free_port, start_actions, start_rasa, wait_http
from bot.prod.config import DEFAULT_REDIS_URL, ConfigError, ensure_schema, model_in_models
from bot.prod.instance import check_env
from bot.settings import ROOT

DEFAULT_ORIGINS = "http://localhost:8080,http://127.0.0.1:8080"
INSTANCE = [PY, "-m", "bot.prod.instance"]


def ephemeral_secrets() -> dict[str, str]:
    """Random RASA_AUTH_TOKEN and KAKEHASHI_SECRET for a stack that lives only as long as a test."""
    return {"RASA_AUTH_TOKEN": secrets.token_urlsafe(24), "KAKEHASHI_SECRET": secrets.token_hex(32)}


class Stack:
    """Action server, `instances` Rasa instances and the balancer, started and stopped together."""

    def __init__(
        self,
        instances: int = 2,
        workdir: Path | None = None,
        database_url: str | None = None,
        tracker_url: str | None = None,
        redis_url: str | None = None,
        env_overrides: dict[str, str] | None = None,
        model: Path | None = None,
        ports: dict[str, int] | None = None,
    ) -> None:
        if instances < 1:
            raise ValueError("a stack needs at least one Rasa instance")
        self.workdir = Path(workdir) if workdir else ROOT / "var" / "prod"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.model = model
        ports = dict(ports or {})
        self.names = ["actions", *(f"rasa-{i}" for i in range(instances)), "balancer"]
        self.ports = {name: ports.get(name) or free_port() for name in self.names}
        self.rasa_urls = [f"http://127.0.0.1:{self.ports[f'rasa-{i}']}" for i in range(instances)]
        self.balancer_url = f"http://127.0.0.1:{self.ports['balancer']}"
        self.action_url = f"http://127.0.0.1:{self.ports['actions']}/webhook"
        overrides = dict(env_overrides or {})
        base = assistant_env()
        given = {
            "DATABASE_URL": database_url,
            "TRACKER_URL": tracker_url,
            "REDIS_URL": redis_url or overrides.get("REDIS_URL") or base.get("REDIS_URL") or DEFAULT_REDIS_URL,
        }
        self.env = assistant_env(
            base,
            **{k: v for k, v in given.items() if v},
            ACTION_ENDPOINT_URL=self.action_url,
            RASA_URL=self.balancer_url,
            BALANCER_UPSTREAMS=",".join(self.rasa_urls),
        )
        self.env.setdefault("KAKEHASHI_ALLOWED_ORIGINS", DEFAULT_ORIGINS)
        self.env.setdefault("SANIC_HOST", "127.0.0.1")  # the action server listens on 0.0.0.0 otherwise
        self.env.update(overrides)
        check_env(self.env)  # refuses a stack without secrets, PostgreSQL, …: ConfigError
        self.token = self.env["RASA_AUTH_TOKEN"]
        self.procs: dict[str, subprocess.Popen] = {}

    # ------------------------------------------------------------------ whole stack

    def start(self, timeout: float = 300) -> Stack:
        """Prepare the databases, start every process and wait until the balancer has every
        instance up. Stops what it started if that fails."""
        deadline = time.monotonic() + timeout
        try:
            if self.model is None:
                from bot.train import ensure_model

                self.model = ensure_model()
            model_in_models(self.model)
            self._prepare_databases(timeout)
            self.start_process("actions", timeout=_left(deadline))
            for name in self.names[1:-1]:  # Rasa instances load in parallel
                self.start_process(name, wait=False)
            for name in self.names[1:-1]:
                self.wait_ready(name, _left(deadline))
            self.start_process("balancer", timeout=_left(deadline))
            self.wait_balanced(_left(deadline))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process (balancer first, so that nothing new arrives)."""
        for name in reversed(self.names):
            self.stop_process(name)

    def __enter__(self) -> Stack:
        return self.start() if not self.procs else self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _prepare_databases(self, timeout: float) -> None:
        """Migrate and seed the knowledge base once, before several processes would race for it."""
        subprocess.run(
            [PY, "-m", "db", "migrate"], cwd=ROOT, env=self.env, check=True, capture_output=True, timeout=timeout
        )
        ensure_schema(self.env["TRACKER_URL"])

    # ------------------------------------------------------------------ one process

    def start_process(self, name: str, wait: bool = True, timeout: float = 300) -> subprocess.Popen:
        """Start `name` ("actions", "rasa-<i>", "balancer") on its port; by default wait until ready."""
        if name not in self.ports:
            raise KeyError(f"no process {name!r} in this stack: {', '.join(self.names)}")
        running = self.procs.get(name)
        if running is not None and running.poll() is None:
            raise RuntimeError(f"{name} is running already")
        port, log = self.ports[name], self.workdir / f"{name}.log"
        if name == "actions":
            proc = start_actions(self.env, port, log)
        elif name == "balancer":
            out = log.open("ab")
            proc = subprocess.Popen(
                [PY, "-m", "bot.prod.balancer", "--port", str(port)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        else:
            if self.model is None:
                raise ConfigError("start() the stack first (it picks the model)")
            proc = start_rasa(self.env, self.model, port, log, endpoints="endpoints.prod.yml", program=INSTANCE)
        self.procs[name] = proc
        if wait:
            self.wait_ready(name, timeout)
        return proc

    def stop_process(self, name: str, timeout: float = 30) -> None:
        """Stop `name` gracefully (SIGTERM), killing it after `timeout` seconds."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def kill(self, name: str) -> None:
        """Crash `name` (SIGKILL): no goodbye to its clients, its connections or its locks."""
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)

    def restart(self, name: str, timeout: float = 300) -> None:
        self.stop_process(name)
        self.start_process(name, timeout=timeout)

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def ready_url(self, name: str) -> str:
        port = self.ports[name]
        if name == "actions":
            return f"http://127.0.0.1:{port}/health"
        if name == "balancer":
            return f"http://127.0.0.1:{port}/readyz"
        return f"http://127.0.0.1:{port}/webhooks/rest/"

    def wait_ready(self, name: str, timeout: float = 300) -> float:
        return wait_http(self.ready_url(name), timeout, self.procs.get(name))

    def wait_balanced(self, timeout: float = 60, instances: int | None = None) -> None:
        """Wait until the balancer counts `instances` (default: all) instances up."""
        want = len(self.rasa_urls) if instances is None else instances
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.instances_up() >= want:
                return
            time.sleep(0.25)
        raise TimeoutError(f"the balancer did not see {want} instance(s) up within {timeout:.0f} s")

    def instances_up(self) -> int:
        """How many instances the balancer counts up right now (0 when it does not answer)."""
        try:
            with urllib.request.urlopen(self.balancer_url + "/readyz", timeout=5) as resp:  # noqa: S310 (loopback)
                return int(json.loads(resp.read())["instances_up"])
        except urllib.error.HTTPError as exc:
            return int(json.loads(exc.read() or b"{}").get("instances_up", 0))
        except (OSError, ValueError, KeyError):
            return 0


def _left(deadline: float) -> float:
    return max(1.0, deadline - time.monotonic())
