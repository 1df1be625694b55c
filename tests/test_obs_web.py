"""The web server's operations endpoints over real HTTP (aiohttp's test server on loopback):
liveness, readiness against a database that answers and ones that do not, and /metrics with the
helpdesk figures read from the database, behind the metrics token."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.web import make_app
from db import handoff as h
from tests.fixtures_bot import free_port
from tests.fixtures_db import prepare, sqlite_url
from tests.obs_harness import sample

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432"


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    url = prepare(sqlite_url(tmp_path / "web.db"), seeded=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("KAKEHASHI_SECRET", "web-obs-secret")
    monkeypatch.delenv("KAKEHASHI_METRICS_TOKEN", raising=False)
    monkeypatch.delenv("KAKEHASHI_ENV", raising=False)
    return url


@pytest.fixture
async def client(db_url) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app("http://127.0.0.1:5005"), host="127.0.0.1")) as c:
        yield c


async def test_liveness_and_readiness_when_the_database_answers(client):
    resp = await client.get("/healthz")
    assert resp.status == 200 and (await resp.json())["status"] == "ok"
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ready", "checks": {"database": "ok"}}
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "unreachable",
    [
        pytest.param(lambda: f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test", id="closed-port"),
        pytest.param(lambda: f"{PG}/kakehashi_missing_{uuid.uuid4().hex[:8]}", id="missing-pg-database"),
    ],
)
async def test_readiness_is_503_when_the_database_does_not_answer(client, monkeypatch, unreachable):
    monkeypatch.setenv("DATABASE_URL", unreachable())
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body == {"status": "not ready", "checks": {"database": "unavailable"}}
    assert "127.0.0.1" not in await resp.text(), "no connection details in a public answer"
    resp = await client.get("/healthz")
    assert resp.status == 200, "liveness does not depend on the database (no restart loop)"


async def test_metrics_count_handoff_tickets_from_the_database(client, db_url):
    before = await (await client.get("/metrics")).text()
    assert sample(before, "kakehashi_database_up") == 1
    assert sample(before, "kakehashi_handoff_tickets_total", reason="asked_for_person") == 0
    for reason in ("asked_for_person", "asked_for_person", "not_understood"):
        cid = "t-" + uuid.uuid4().hex[:12]
        h.open_ticket(cid, "rest", cid, reason, url=db_url)
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await resp.text()
    assert sample(text, "kakehashi_handoff_tickets_total", reason="asked_for_person") == 2
    assert sample(text, "kakehashi_handoff_tickets_total", reason="not_understood") == 1
    assert sample(text, "kakehashi_handoff_tickets_total", reason="introduction") == 0
    assert sample(text, "kakehashi_handoff_open_tickets", status="waiting") == 3
    assert "# TYPE kakehashi_handoff_tickets_total counter" in text


async def test_metrics_say_the_database_is_down_instead_of_failing(client, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test")
    resp = await client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    assert sample(text, "kakehashi_database_up") == 0
    assert "kakehashi_handoff_tickets_total" not in text


async def test_metrics_need_the_token_when_one_is_configured(client, monkeypatch):
    monkeypatch.setenv("KAKEHASHI_METRICS_TOKEN", "web-metrics-token")
    resp = await client.get("/metrics")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    assert "kakehashi_" not in await resp.text()
    assert (await client.get("/metrics", headers={"Authorization": "Bearer nope"})).status == 401
    resp = await client.get("/metrics", headers={"Authorization": "Bearer web-metrics-token"})
    assert resp.status == 200 and "kakehashi_database_up 1" in await resp.text()


async def test_production_serves_no_metrics_without_a_token(client, monkeypatch):
    monkeypatch.setenv("KAKEHASHI_ENV", "production")
    resp = await client.get("/metrics")
    assert resp.status == 403 and "KAKEHASHI_METRICS_TOKEN" in (await resp.json())["error"]


async def test_the_health_listener_of_processes_without_http(db_url, monkeypatch):
    """What the Telegram bot serves on TELEGRAM_HEALTH_PORT (off when unset)."""
    import aiohttp

    from bot.observability import start_health_listener

    monkeypatch.delenv("OBS_TEST_HEALTH_PORT", raising=False)
    assert await start_health_listener("test", "OBS_TEST_HEALTH_PORT") is None
    port = free_port()
    monkeypatch.setenv("OBS_TEST_HEALTH_PORT", str(port))
    task = await start_health_listener("test", "OBS_TEST_HEALTH_PORT")
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as resp:
                assert resp.status == 200 and (await resp.json())["process"] == "test"
            async with session.get(f"{base}/readyz") as resp:
                assert resp.status == 200 and (await resp.json())["checks"] == {"database": "ok"}
            monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test")
            async with session.get(f"{base}/readyz") as resp:
                assert resp.status == 503 and (await resp.json())["status"] == "not ready"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{base}/healthz")
