"""Starting the assistant's processes: shared by `make run`, the test fixtures and the
benchmarks, so all three run exactly the same thing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.settings import ROOT

PY = sys.executable
RASA = str(Path(PY).with_name("rasa"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float, proc: subprocess.Popen | None = None) -> float:
    """Wait until `url` answers; returns the seconds waited. Raises if `proc` dies or time runs out."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback URLs only)
                return time.monotonic() - start
        except (OSError, urllib.error.URLError):
            time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {seconds:.0f} s")


def assistant_env(base: dict[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """The environment of every assistant process: `base` (default os.environ) plus overrides."""
    env = dict(os.environ if base is None else base)
    env.update({k: v for k, v in overrides.items() if v is not None})
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def start_actions(env: dict[str, str], port: int, log: Path | None = None) -> subprocess.Popen:
    """The action server on `port`. It has no authentication of its own, so it listens on
    loopback unless SANIC_HOST says otherwise (e.g. 0.0.0.0 in a container on a private network)."""
    out = log.open("ab") if log else None
    env = {**env, "SANIC_HOST": env.get("SANIC_HOST") or "127.0.0.1"}
    return subprocess.Popen(
        [PY, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT if out else None,
    )


def start_rasa(
    env: dict[str, str],
    model: Path,
    port: int,
    log: Path | None = None,
    extra: list[str] | None = None,
    endpoints: str = "endpoints.yml",
    program: list[str] | None = None,
) -> subprocess.Popen:
    """`rasa run` on `port`; `program` replaces the `rasa` executable (production runs
    `python -m bot.prod.instance`, which takes the same arguments)."""
    out = log.open("ab") if log else None
    cmd = [
        *(program or [RASA]),
        "run",
        "--model",
        str(model),
        "--port",
        str(port),
        "--credentials",
        "credentials.yml",
        "--endpoints",
        endpoints,
        *(extra or []),
    ]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None)


def start_local_assistant(work: Path, model: Path, **overrides: str) -> tuple[str, list[subprocess.Popen], float]:
    """An action server and a Rasa server on free loopback ports over a fresh SQLite knowledge base
    and tracker store in `work` (for `make eval` and the benchmarks). Returns the Rasa URL, the
    processes (stop them with `stop`) and the seconds from `rasa run` to REST answers."""
    rasa_port, action_port = free_port(), free_port()
    env = assistant_env(
        DATABASE_URL=f"sqlite:///{work / 'kb.db'}",
        TRACKER_URL=f"sqlite:///{work / 'trackers.db'}",
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        **overrides,
    )
    subprocess.run([PY, "-m", "db", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    actions = start_actions(env, action_port, work / "actions.log")
    procs = [actions]
    try:
        wait_http(f"http://127.0.0.1:{action_port}/health", 120, actions)
        start = time.monotonic()
        rasa = start_rasa(env, model, rasa_port, work / "rasa.log", ["--interface", "127.0.0.1"])
        procs.insert(0, rasa)
        url = f"http://127.0.0.1:{rasa_port}"
        wait_http(f"{url}/webhooks/rest/", 300, rasa)
    except BaseException:
        stop(*procs)
        raise
    return url, procs, time.monotonic() - start


def stop(*procs: subprocess.Popen | None, timeout: float = 30) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.terminate()
    for proc in procs:
        if proc is None:
            continue
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
