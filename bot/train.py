"""Train the Rasa model only when the training inputs changed.

The model is named after a fingerprint of data/, domain.yml and config.yml, so an existing
models/kakehashi-<fingerprint>.tar.gz means "already trained for exactly this".

Usage: python -m bot.train [--force]
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from bot.settings import MODELS, ROOT

INPUTS = ("data", "domain.yml", "config.yml")


def fingerprint(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_path(root: Path = ROOT) -> Path:
    return MODELS / f"kakehashi-{fingerprint(root)}.tar.gz"


def ensure_model(force: bool = False) -> Path:
    """The model for the current inputs, training it first if it does not exist yet."""
    target = model_path()
    if target.exists() and not force:
        return target
    MODELS.mkdir(parents=True, exist_ok=True)
    with (MODELS / ".train.lock").open("w") as lock:  # one trainer at a time across processes
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists() and not force:
            return target
        return _train(target)


def _train(target: Path) -> Path:
    print(f"Training the assistant (inputs changed) → {target.name} …", flush=True)
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false")
    cmd = [
        str(Path(sys.executable).with_name("rasa")),
        "train",
        "--data",
        "data",
        "--domain",
        "domain.yml",
        "--config",
        "config.yml",
        "--out",
        str(MODELS),
        "--fixed-model-name",
        target.name[: -len(".tar.gz")],
    ]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    for old in MODELS.glob("kakehashi-*.tar.gz"):  # keep only the current model
        if old != target:
            old.unlink()
    return target


if __name__ == "__main__":
    print(ensure_model(force="--force" in sys.argv))
