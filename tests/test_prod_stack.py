"""Production stack (bot/prod/): the balancer against small real upstreams on loopback, the
production checks, and the real stack — two Rasa instances on PostgreSQL trackers and a Redis lock
store behind the balancer."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
import redis
import socketio
from aiohttp import web

from bot.launch import PY, free_port
from bot.prod.balancer import UNAVAILABLE, Balancer
from bot.prod.config import ConfigError, schema_of, with_schema
from bot.prod.stack import Stack, ephemeral_secrets
from bot.settings import ROOT

REDIS_URL = os.environ.get("REDIS_URL_TEST") or "redis://127.0.0.1:6379/1"
ALLOWED_ORIGIN = "http://127.0.0.1:8080"
EVIL_ORIGIN = "http://evil.example"
WAIT_S = 60  # one answer from the real assistant on a busy 2-core machine


# --------------------------------------------------------------------------- helpers (shared)


def redis_client() -> redis.Redis:
    """Redis for the tests; skipped when nothing listens there (an error when CI is set)."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is unreachable ({exc}); CI is set", pytrace=False)
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({exc})")
    return client


@contextmanager
def running_stack(pg_schemas, workdir: Path, **env: str) -> Iterator[Stack]:
    """A started stack on fresh PostgreSQL schemas (knowledge base, trackers) and its own Redis
    key prefix; stopped, and its Redis keys removed, afterwards."""
    client = redis_client()
    prefix = "kktest" + secrets.token_hex(4)
    stack = Stack(
        instances=2,
        workdir=workdir,
        database_url=pg_schemas.new(),
        # The trackers' schema alone on their search path (bot.prod.instance refuses more).
        tracker_url=with_schema(pg_schemas.base_url, schema_of(pg_schemas.new())),
        redis_url=REDIS_URL,
        env_overrides={
            **ephemeral_secrets(),
            "REDIS_KEY_PREFIX": prefix,
            "KAKEHASHI_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
            "KAKEHASHI_RATE_LIMIT": "off",
            **env,
        },
    )
    try:
        with stack:
            yield stack
    finally:
        try:
            for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                client.delete(key)
        except redis.exceptions.ConnectionError:
            pass


async def post_message(
    http: aiohttp.ClientSession, base: str, sender: str, text: str, tag: str | None = None, **headers: str
) -> tuple[int, object, dict[str, str]]:
    """POST a message to the REST channel at `base`: (status, decoded JSON or text, headers)."""
    body: dict[str, object] = {"sender": sender, "message": text}
    if tag is not None:
        body["metadata"] = {"page": tag}
    async with http.post(f"{base}/webhooks/rest/webhook", json=body, headers=headers) as resp:
        raw = await resp.read()
        try:
            decoded: object = json.loads(raw)
        except ValueError:
            decoded = raw.decode(errors="replace")
        return resp.status, decoded, dict(resp.headers)


# --------------------------------------------------------------------------- balancer, small upstreams


class FakeRasa:
    """A small real upstream: the REST channel's health and webhook, an API path that echoes what
    it received, and a real python-socketio server answering "whoami" with its name."""

    def __init__(self, name: str) -> None:
        self.name, self.port = name, free_port()
        self.hits: list[str] = []
        self.runner: web.AppRunner | None = None
        self.sio: socketio.AsyncServer | None = None

    def app(self) -> web.Application:
        app = web.Application()
        sio = self.sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
        sio.attach(app)

        @sio.on("whoami")
        async def whoami(sid, _data=None):
            return self.name

        async def health(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def webhook(request: web.Request) -> web.Response:
            body = await request.json()
            self.hits.append(body["sender"])
            return web.json_response([{"recipient_id": body["sender"], "text": f"from {self.name}"}])

        async def api(request: web.Request) -> web.Response:
            return web.json_response(
                {
                    "instance": self.name,
                    "token": request.query.get("token"),
                    "authorization": request.headers.get("Authorization"),
                }
            )

        app.router.add_get("/webhooks/rest/", health)
        app.router.add_post("/webhooks/rest/webhook", webhook)
        app.router.add_get("/status", api)
        app.router.add_get("/conversations/{cid}/tracker", api)
        return app

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app())
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self.sio is not None:
            if self.sio.eio.sockets:
                await self.sio.eio.disconnect()
            await self.sio.eio.shutdown()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def wait_up(http: aiohttp.ClientSession, url: str, count: int, seconds: float = 15) -> None:
    """Wait (bounded) until the balancer at `url` counts `count` instances up."""
    for _ in range(int(seconds / 0.1)):
        async with http.get(url + "/readyz") as resp:
            if (await resp.json())["instances_up"] == count:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the balancer did not count {count} instance(s) up within {seconds} s")


@pytest.fixture
async def small():
    """Two fake instances behind a balancer (token "s3cret", 2 KB body limit), all on loopback."""
    upstreams = [FakeRasa("a"), FakeRasa("b")]
    for u in upstreams:
        await u.start()
    balancer = Balancer([u.url for u in upstreams], token="s3cret", max_body=2048, health_interval=0.2, timeout=10)
    runner = web.AppRunner(balancer.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        await wait_up(http, url, 2)
        yield url, upstreams, http
    await runner.cleanup()
    for u in upstreams:
        await u.stop()


async def test_rest_goes_round_robin(small):
    url, (a, b), http = small
    answers = [await post_message(http, url, f"u{i}", "hi") for i in range(10)]
    assert all(status == 200 for status, _, _ in answers)
    texts = [body[0]["text"] for _, body, _ in answers]
    assert sorted(set(texts)) == ["from a", "from b"]
    assert all(texts[i] != texts[i + 1] for i in range(len(texts) - 1)), texts  # alternating
    assert len(a.hits) == len(b.hits) == 5


async def test_failover_when_an_instance_dies_and_comes_back(small):
    url, (a, b), http = small
    await a.stop()
    answers = [await post_message(http, url, f"f{i}", "hi") for i in range(6)]
    assert [(s, body[0]["text"]) for s, body, _ in answers] == [(200, "from b")] * 6
    assert b.hits == [f"f{i}" for i in range(6)]
    await wait_up(http, url, 1)
    await a.start()  # same port
    await wait_up(http, url, 2)
    texts = {(await post_message(http, url, f"g{i}", "hi"))[1][0]["text"] for i in range(4)}
    assert texts == {"from a", "from b"}


async def test_clear_503_json_when_no_instance_is_up(small):
    url, upstreams, http = small
    for u in upstreams:
        await u.stop()
    status, body, headers = await post_message(http, url, "n1", "hi")
    assert status == 503
    assert headers["Content-Type"].startswith("application/json")
    assert body == {"error": "unavailable", "message": UNAVAILABLE}
    await wait_up(http, url, 0)
    async with http.get(url + "/readyz") as resp:
        assert resp.status == 503
    async with http.get(url + "/healthz") as resp:
        assert resp.status == 200


async def test_private_paths_need_the_token(small):
    url, _, http = small
    for path in ("/status", "/conversations/x/tracker", "/model", "/", "/webhooks/rest/"):
        async with http.get(url + path) as resp:
            assert resp.status == 404, path
    async with http.get(url + "/status", headers={"Authorization": "Bearer wrong"}) as resp:
        assert resp.status == 404
    async with http.get(url + "/status?token=wrong") as resp:
        assert resp.status == 404
    async with http.get(url + "/status", headers={"Authorization": "Bearer s3cret"}) as resp:
        assert resp.status == 200
        seen = await resp.json()
    # Rasa reads its token from the query: the balancer passes it there, not the header.
    assert seen["token"] == "s3cret" and seen["authorization"] is None
    async with http.get(url + "/conversations/x/tracker?token=s3cret") as resp:
        assert resp.status == 200
    async with http.put(url + "/model", headers={"Authorization": "Bearer s3cret"}, json={}) as resp:
        assert resp.status == 403  # models are deployed, not replaced over the API


async def test_request_body_limit(small):
    url, (a, b), http = small
    status, body, _ = await post_message(http, url, "big", "x" * 4096)
    assert status == 413 and "larger than 2048" in body["error"]
    assert a.hits == b.hits == []


async def test_socketio_sessions_stick_to_one_instance_through_the_upgrade(small):
    url, _, _ = small
    clients, seen = [], []
    try:
        for _ in range(4):
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(url, transports=["polling", "websocket"], wait_timeout=10)
            clients.append(client)
        for _ in range(5):  # before, during and after the upgrade to websocket
            for i, client in enumerate(clients):
                seen.append((i, await client.call("whoami", timeout=10)))
            await asyncio.sleep(0.2)
        assert {c.transport() for c in clients} == {"websocket"}
    finally:
        for client in clients:
            await client.disconnect()
    per_client = {i: {name for j, name in seen if j == i} for i in range(len(clients))}
    assert all(len(names) == 1 for names in per_client.values()), per_client
    assert set().union(*per_client.values()) == {"a", "b"}  # new sessions are balanced


async def test_unknown_socketio_session_is_told_to_reconnect(small):
    url, _, http = small
    async with http.get(url + "/socket.io/?EIO=4&transport=polling&sid=nosuchsession") as resp:
        assert resp.status == 400
        assert (await resp.json())["message"] == "Session ID unknown"


# --------------------------------------------------------------------------- production checks


def _instance(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "-m", "bot.prod.instance", "run", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _prod_env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"RASA_AUTH_TOKEN", "KAKEHASHI_SECRET"}}
    env.update(
        ephemeral_secrets(),
        PYTHONPATH=str(ROOT),
        TRACKER_URL="postgresql+psycopg2://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dnope",
        DATABASE_URL="postgresql+psycopg2://postgres@127.0.0.1:5432/test",
        ACTION_ENDPOINT_URL="http://127.0.0.1:9/webhook",
        KAKEHASHI_ALLOWED_ORIGINS=ALLOWED_ORIGIN,
    )
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.mark.parametrize("missing", ["RASA_AUTH_TOKEN", "KAKEHASHI_SECRET"])
def test_an_instance_refuses_to_start_without_secrets(missing):
    done = _instance(_prod_env(**{missing: None}))
    assert done.returncode == 2
    assert missing in done.stderr and "must be set" in done.stderr


def test_an_instance_refuses_secrets_on_the_command_line_and_models_from_elsewhere(tmp_path):
    done = _instance(_prod_env(), "--auth-token", "visible-in-ps")
    assert done.returncode == 2 and "from the environment" in done.stderr
    outside = tmp_path / "kakehashi-evil.tar.gz"
    outside.write_bytes(b"not a model")
    done = _instance(_prod_env(), "--model", str(outside))
    assert done.returncode == 2 and "only loaded from" in done.stderr
    done = _instance(_prod_env(KAKEHASHI_ALLOWED_ORIGINS="*"))
    assert done.returncode == 2 and "not allowed in production" in done.stderr
    done = _instance(_prod_env(TRACKER_URL="postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    assert done.returncode == 2 and "same schema" in done.stderr
    done = _instance(_prod_env(TRACKER_URL="postgresql+psycopg2://h/test?options=-csearch_path%3Drasa%2Cpublic"))
    assert done.returncode == 2 and "must name one schema" in done.stderr


def test_the_stack_refuses_to_start_without_secrets(monkeypatch, tmp_path):
    monkeypatch.delenv("RASA_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("KAKEHASHI_SECRET", raising=False)
    with pytest.raises(ConfigError, match="RASA_AUTH_TOKEN and KAKEHASHI_SECRET must be set"):
        Stack(2, tmp_path, "postgresql+psycopg2://h/db", "postgresql+psycopg2://h/db?options=-csearch_path%3Dr")


# --------------------------------------------------------------------------- the real stack


@pytest.fixture(scope="module")
def prod_stack(pg_schemas, tmp_path_factory) -> Iterator[Stack]:
    with running_stack(pg_schemas, tmp_path_factory.mktemp("prod-stack")) as stack:
        yield stack


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as session:
        yield session


@pytest.mark.slow
@pytest.mark.postgres
async def test_messages_through_the_balancer_reach_both_instances(prod_stack, http):
    answers = [await post_message(http, prod_stack.balancer_url, f"p-{i}", "hello") for i in range(6)]
    assert [status for status, _, _ in answers] == [200] * 6
    assert all(isinstance(body, list) and body and body[0].get("text") for _, body, _ in answers)
    assert {headers["X-Kakehashi-Instance"] for _, _, headers in answers} == {"0", "1"}


@pytest.mark.slow
@pytest.mark.postgres
async def test_one_conversation_continues_across_instances(prod_stack, http):
    """Both instances share the tracker: a conversation started on one goes on on the other."""
    sender = "p-across"
    for i, text in enumerate(["hello", "find regenerative medicine clusters in Osaka", "thanks"]):
        status, _, _ = await post_message(http, prod_stack.rasa_urls[i % 2], sender, text)
        assert status == 200
    url = f"{prod_stack.rasa_urls[1]}/conversations/{sender}/tracker?token={prod_stack.token}"
    async with http.get(url) as resp:
        assert resp.status == 200
        events = (await resp.json())["events"]
    assert [e["text"] for e in events if e["event"] == "user"] == [
        "hello",
        "find regenerative medicine clusters in Osaka",
        "thanks",
    ]


@pytest.mark.slow
@pytest.mark.postgres
async def test_the_rasa_api_needs_the_token(prod_stack, http):
    for base in prod_stack.rasa_urls:
        async with http.get(base + "/status") as resp:
            assert resp.status == 401
        async with http.get(f"{base}/status?token=wrong") as resp:
            assert resp.status == 401
        async with http.get(f"{base}/status?token={prod_stack.token}") as resp:
            assert resp.status == 200
            assert Path((await resp.json())["model_file"]).name.startswith("kakehashi-")
    async with http.get(prod_stack.balancer_url + "/status") as resp:
        assert resp.status == 404
    headers = {"Authorization": f"Bearer {prod_stack.token}"}
    async with http.get(prod_stack.balancer_url + "/status", headers=headers) as resp:
        assert resp.status == 200


@pytest.mark.slow
@pytest.mark.postgres
async def test_cors_only_for_allowed_origins(prod_stack, http):
    status, _, headers = await post_message(http, prod_stack.balancer_url, "p-cors", "hello", Origin=ALLOWED_ORIGIN)
    assert status == 200
    assert headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    status, body, headers = await post_message(http, prod_stack.balancer_url, "p-cors2", "hello", Origin=EVIL_ORIGIN)
    assert status == 403 and "origin" in body["error"]
    assert headers.get("Access-Control-Allow-Origin") in (None, "")


@pytest.mark.slow
@pytest.mark.postgres
async def test_the_widget_protocol_works_through_the_balancer(prod_stack):
    """A real socket.io client, as the widget connects (polling, then websocket), through the balancer."""
    client = socketio.AsyncClient(reconnection=False)
    confirmed: asyncio.Future = asyncio.get_running_loop().create_future()
    answers: asyncio.Queue = asyncio.Queue()
    client.on("session_confirm", lambda sid: confirmed.done() or confirmed.set_result(sid))
    client.on("bot_uttered", answers.put_nowait)
    origin = {"Origin": ALLOWED_ORIGIN}
    await client.connect(prod_stack.balancer_url, headers=origin, transports=["polling", "websocket"], wait_timeout=30)
    try:
        await client.emit("session_request", {})
        session_id = await asyncio.wait_for(confirmed, 30)
        await client.emit("user_uttered", {"message": "hello", "session_id": session_id})
        first = await asyncio.wait_for(answers.get(), WAIT_S)
        assert first.get("text")
        await asyncio.sleep(1)  # the upgrade to websocket happens in the background
        assert client.transport() == "websocket"
        await client.emit("user_uttered", {"message": "thanks", "session_id": session_id})
        assert (await asyncio.wait_for(answers.get(), WAIT_S)).get("text")
    finally:
        await client.disconnect()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http:
        handshake = f"{prod_stack.balancer_url}/socket.io/?EIO=4&transport=polling"
        async with http.get(handshake, headers={"Origin": EVIL_ORIGIN}) as resp:
            assert resp.status == 400
            assert "not an accepted origin" in await resp.text()
        async with http.get(handshake, headers=origin) as resp:
            assert resp.status == 200 and '"sid"' in await resp.text()


@pytest.mark.slow
@pytest.mark.postgres
def test_ports_are_loopback_only(prod_stack):
    """Every process of the stack listens on 127.0.0.1 only."""
    for name, port in prod_stack.ports.items():
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex(("127.0.0.1", port)) == 0, name
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    for port in prod_stack.ports.values():
        addresses = [line.split()[3] for line in listening.splitlines() if line.split()[3].endswith(f":{port}")]
        assert addresses and all(a.startswith("127.0.0.1:") for a in addresses), (port, addresses)


# --------------------------------------------------------------------------- deployment files


def _compose() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())


def test_compose_runs_the_same_processes_as_the_stack():
    services = _compose()["services"]
    assert {"postgres", "redis", "actions", "rasa-0", "rasa-1", "balancer", "web", "telegram"} <= set(services)
    rasa = [name for name, s in services.items() if "bot.prod.instance" in s.get("command", [])]
    assert rasa == ["rasa-0", "rasa-1"]
    balancer = services["balancer"]
    assert balancer["command"][:3] == ["python", "-m", "bot.prod.balancer"]
    upstreams = balancer["environment"]["BALANCER_UPSTREAMS"].split(",")
    assert upstreams == [f"http://{name}:5005" for name in rasa]
    assert all("--port" in services[n]["command"] and "5005" in services[n]["command"] for n in rasa)
    actions = services["actions"]["command"]
    assert actions[:3] == ["python", "-m", "rasa_sdk"] and "5055" in actions
    for name in ("actions", "rasa-0", "rasa-1", "balancer", "web", "telegram"):
        env = services[name]["environment"]
        assert env["ACTION_ENDPOINT_URL"] == "http://actions:5055/webhook"
        assert env["RASA_URL"] == "http://balancer:8000"
        assert services[name]["env_file"] == "../.env"  # secrets only from there
    text = (ROOT / "deploy" / "docker-compose.yml").read_text()
    for secret in ("RASA_AUTH_TOKEN", "KAKEHASHI_SECRET", "TELEGRAM_BOT_TOKEN"):
        assert f"{secret}:" not in text and f"{secret}=" not in text


def test_compose_gives_the_instances_every_setting_they_check():
    """The instance's own checks (bot.prod.instance.check_env) pass on the compose environment plus
    the secrets .env provides, and every ${VAR} of endpoints.prod.yml is set or derived."""
    from bot.prod.instance import check_env

    env = {
        k: v.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}", "pw").replace("${POSTGRES_PASSWORD}", "pw")
        for k, v in _compose()["services"]["rasa-0"]["environment"].items()
    }
    env.update(ephemeral_secrets(), KAKEHASHI_ALLOWED_ORIGINS="https://cluster.example")
    derived = check_env(env)
    wanted = set(re.findall(r"\$\{(\w+)\}", (ROOT / "endpoints.prod.yml").read_text()))
    assert wanted and wanted <= set(env) | set(derived)
    assert env["RASA_INTERFACE"] == "0.0.0.0"
    example = (ROOT / ".env.example").read_text()
    for name in ("RASA_AUTH_TOKEN", "KAKEHASHI_SECRET", "POSTGRES_PASSWORD", "KAKEHASHI_ALLOWED_ORIGINS", "REDIS_URL"):
        assert f"# {name}=" in example, name


def test_nginx_exposes_the_same_public_paths():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert conf.count("server rasa-0:5005") == conf.count("server rasa-1:5005") == 2
    assert "ip_hash;" in conf and "proxy_set_header Upgrade $http_upgrade;" in conf
    locations = re.findall(r"location\s+(=\s+)?(\S+)\s*\{", conf)
    assert [path for _, path in locations] == ["/healthz", "/webhooks/rest/webhook", "/socket.io/", "/", "@unavailable"]
    assert "location / { return 404" in conf
    assert "client_max_body_size 64k;" in conf


def test_a_token_that_looks_like_an_option_reaches_rasa_as_the_token():
    """token_urlsafe() starts with "-" one time in 64: Rasa's own argument parser must still read it
    as the value of --auth-token (it refused to start, a flaky stack start, before)."""
    from rasa.cli.run import add_subparser

    from bot.prod.instance import rasa_argv

    env = _prod_env(RASA_AUTH_TOKEN="-starts-like-an-option")
    parser = argparse.ArgumentParser()
    add_subparser(parser.add_subparsers(), parents=[])
    argv = rasa_argv(["run"], env)  # the current model from models/, as an instance starts
    args = parser.parse_args(argv)
    assert args.auth_token == "-starts-like-an-option" and args.enable_api
