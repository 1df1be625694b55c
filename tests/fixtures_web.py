"""Web widget fixtures: the web server (`python -m bot.web`) in front of the real assistant, and
Debian's chromium driven by Playwright (no browser downloads). Loopback only; every wait is
bounded. Browser tests are skipped when chromium is missing — unless CI is set, where that is an
error (`make test` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.launch import stop
from tests.fixtures_bot import PY, ROOT, WEB_TEST_ORIGIN, WEB_TEST_PORT, Assistant, wait_http

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
WAIT_MS = 60_000  # an answer from the real assistant on a busy 2-core machine


@dataclass
class WebSite:
    """The running web server: the demo page, the embedding guide and the widget files."""

    url: str
    assistant: Assistant
    proc: subprocess.Popen


@pytest.fixture(scope="session")
def website(assistant: Assistant) -> Iterator[WebSite]:
    env = dict(
        assistant.env, WEB_HOST="127.0.0.1", WEB_PORT=str(WEB_TEST_PORT), KAKEHASHI_PUBLIC_RASA_URL=assistant.rasa_url
    )
    log = (assistant.workdir / "web.log").open("ab")
    proc = subprocess.Popen([PY, "-m", "bot.web"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"{WEB_TEST_ORIGIN}/healthz", 60, proc)
        yield WebSite(WEB_TEST_ORIGIN, assistant, proc)
    finally:
        stop(proc, timeout=15)


NO_BROWSER = "chromium is not installed: `make browser` (apt-get install chromium) to run the browser tests"


def chromium_path() -> str | None:
    return shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)


def browser_available() -> bool:
    """False only when the browser tests may be skipped: no chromium, and not in CI."""
    return chromium_path() is not None or bool(os.environ.get("CI"))


@pytest.fixture(scope="module")
def browser():
    """Headless chromium for one test module (the Playwright sync API keeps its own event loop,
    so it is not kept open across the other modules' async tests)."""
    path = chromium_path()
    if path is None:
        pytest.fail("chromium is missing (apt-get install chromium, or `make browser`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


@dataclass
class PageProbe:
    """What a page did that a test may want to assert never happened."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def open_page(browser, viewport: dict | None = None):  # type: ignore[no-untyped-def]
    """A fresh browser context (own localStorage) with one page, recording dialogs and errors."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    probe = PageProbe()

    def on_dialog(dialog):  # type: ignore[no-untyped-def]
        probe.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: probe.errors.append(str(exc)))
    return context, page, probe


@pytest.fixture
def page(browser, website: WebSite):  # type: ignore[no-untyped-def]
    context, pg, probe = open_page(browser)
    pg.probe = probe
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
