"""`python -m bot.helpdesk create-staff …`: the command that creates console accounts, run as a
separate process on a SQLite file (password from KAKEHASHI_STAFF_PASSWORD, as scripts do)."""

from __future__ import annotations

import os
import subprocess
import sys

import db
from db import handoff as h
from db.config import PROJECT_ROOT

PASSWORD = "a long enough password"


def run_cli(*args: str, url: str, password: str | None = PASSWORD) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "KAKEHASHI_STAFF_PASSWORD"}}
    env["DATABASE_URL"] = url
    env["KAKEHASHI_AUTO_SEED"] = "0"
    if password is not None:
        env["KAKEHASHI_STAFF_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "bot.helpdesk", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_create_staff_then_log_in(tmp_path):
    url = f"sqlite:///{tmp_path / 'staff.db'}"
    out = run_cli("create-staff", "Aiko", "--name", "Aiko Tanaka", url=url)
    assert out.returncode == 0, out.stderr
    assert "created staff account 'aiko' (Aiko Tanaka)" in out.stdout
    assert PASSWORD not in out.stdout + out.stderr
    token = h.authenticate("aiko", PASSWORD, url=url)
    assert h.staff_for_token(token, url=url).display_name == "Aiko Tanaka"

    again = run_cli("create-staff", "aiko", url=url)
    assert again.returncode == 1 and "exists already" in again.stderr
    weak = run_cli("create-staff", "ben", url=url, password="short")
    assert weak.returncode == 1 and "at least" in weak.stderr
    bad = run_cli("create-staff", "b a d", url=url)
    assert bad.returncode == 1 and "username" in bad.stderr
    no_tty = run_cli("create-staff", "carl", url=url, password=None)
    assert no_tty.returncode != 0 and "KAKEHASHI_STAFF_PASSWORD" in no_tty.stderr

    listed = run_cli("list-staff", url=url)
    assert listed.returncode == 0 and listed.stdout.splitlines() == ["aiko\tAiko Tanaka\tactive"]
    assert run_cli("set-password", "aiko", url=url, password="a new long password").returncode == 0
    assert h.staff_for_token(token, url=url) is None and h.authenticate("aiko", "a new long password", url=url)
    assert run_cli("deactivate-staff", "aiko", url=url).returncode == 0
    assert h.authenticate("aiko", "a new long password", url=url) is None
    assert run_cli("activate-staff", "aiko", url=url).returncode == 0
    assert run_cli("set-password", "nobody", url=url).returncode == 1
    db.dispose_all()


def test_database_unavailable_is_a_clear_error():
    out = run_cli("list-staff", url="postgresql+psycopg2://postgres@127.0.0.1:1/none")
    assert out.returncode == 2 and "database is unavailable" in out.stderr
