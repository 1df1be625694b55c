"""`make bench-scale`: does a second Rasa instance help? The production stack (bot/prod/stack.py:
action server, N Rasa instances on PostgreSQL trackers and a Redis lock store, the balancer in
front) with 1 and then 2 instances under the same load — C concurrent conversations × M realistic
questions (held-out NLU examples of the question intents, tests/nlu/held_out.yml) through the
balancer — giving messages/s, p50/p95/p99 latency, the scaling factor, and where the CPU went
(every process's CPU time from /proc/<pid>/stat over the measured window). Prints a Markdown
report and writes it to bench/results/.

Usage: python -m bench.scale_bench [--instances 1,2] [--conversations 40] [--messages 15]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateSchema, DropSchema

from bench.db_bench import load_average, machine, publish
from bot.settings import ROOT

PG_URL = os.environ.get("KK_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
RESULTS = ROOT / "bench" / "results"
QUESTION_INTENTS = (
    "search_organisations",
    "ask_partners",
    "find_partner",
    "ask_programme",
    "ask_eligibility",
    "ask_events",
    "ask_contact",
    "ask_market",
    "ask_success_stories",
)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the load


def held_out_questions() -> list[str]:
    """The held-out NLU examples of the question intents, entity markup removed."""
    data = yaml.safe_load((ROOT / "tests" / "nlu" / "held_out.yml").read_text(encoding="utf-8"))
    out = []
    for block in data["nlu"]:
        if block.get("intent") not in QUESTION_INTENTS:
            continue
        for line in str(block.get("examples", "")).splitlines():
            line = re.sub(r"\[([^\]]+)\](\{[^}]*\}|\([^)]*\))", r"\1", line.strip().removeprefix("- ").strip())
            if line:
                out.append(line)
    return out


def conversations(count: int, length: int, seed: int) -> list[list[str]]:
    """`count` scripts of `length` questions each: a greeting, then questions drawn at random."""
    rng = random.Random(seed)
    pool = held_out_questions()
    return [["hello", *rng.sample(pool, length - 1)] for _ in range(count)]


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)  # ms, answered messages
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0


async def run_load(url: str, scripts: list[list[str]], timeout: float, max_seconds: float) -> Load:
    """Every script as one conversation, all at once; each waits for an answer before its next message."""
    load = Load()
    deadline = time.monotonic() + max_seconds

    async def conversation(session: aiohttp.ClientSession, script: list[str]) -> None:
        sender = "scale-" + uuid.uuid4().hex[:12]
        for message in script:
            if time.monotonic() > deadline:
                load.errors.append("not sent: the run reached --max-seconds")
                continue
            t0 = time.perf_counter()
            try:
                async with session.post(url, json={"sender": sender, "message": message}) as resp:
                    body = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                load.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            ms = (time.perf_counter() - t0) * 1000
            try:
                replies = json.loads(body)
            except ValueError:
                replies = None
            if status != 200 or not isinstance(replies, list) or not replies:
                load.errors.append(f"HTTP {status}: {body[:120]!r}")
                continue
            load.latencies.append(ms)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(conversation(session, s) for s in scripts))
        load.wall = time.perf_counter() - t0
    return load


# --------------------------------------------------------------------------- CPU accounting


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _by_name(*names: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)  # idle + iowait
    total = sum(parts[:8])  # user nice system idle iowait irq softirq steal
    return (total - idle) / CLK_TCK, total / CLK_TCK


class CpuSampler:
    """CPU time per group of processes over a window, sampled every `every` seconds so that
    processes that come or go during the window (PostgreSQL backends) are counted too."""

    def __init__(self, groups: dict[str, list[int]], every: float = 1.0) -> None:
        self.roots = groups
        self.every = every
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _pids(self) -> dict[str, list[int]]:
        me = os.getpid()  # this process alone: the stack's processes are its children
        out = {
            name: [d for r in roots for d in ([me] if r == me else _descendants(r))]
            for name, roots in self.roots.items()
        }
        out["PostgreSQL (whole server)"] = _by_name("postgres")
        out["Redis"] = _by_name("redis-server")
        return out

    def _sample(self) -> None:
        for name, pids in self._pids().items():
            for pid in pids:
                cpu = _cpu_seconds(pid)
                if cpu is not None:
                    self.first.setdefault((name, pid), cpu)
                    self.last[(name, pid)] = cpu

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._sample()
        self.machine0 = _machine_busy()
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._sample()
        self.seconds = time.monotonic() - self.t0
        self.machine_busy = _machine_busy()[0] - self.machine0[0]

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for (name, pid), last in self.last.items():
            out[name] += last - self.first[(name, pid)]
        return dict(out)


# --------------------------------------------------------------------------- one run


@dataclass
class Result:
    instances: int
    load: Load
    cpu: dict[str, float]
    window_s: float
    machine_busy_s: float
    start_s: float
    load_average: str

    @property
    def messages(self) -> int:
        return len(self.load.latencies)

    @property
    def throughput(self) -> float:
        return self.messages / self.load.wall if self.load.wall else 0.0

    def pct(self, p: float) -> float:
        xs = sorted(self.load.latencies)
        if not xs:
            return float("nan")
        return xs[max(0, min(len(xs) - 1, round(p / 100 * len(xs) + 0.5) - 1))]  # nearest rank


class Schemas:
    """Fresh PostgreSQL schemas for one run (knowledge base, trackers), dropped afterwards."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.admin = create_engine(base, poolclass=NullPool, connect_args={"connect_timeout": 5})
        self.created: list[str] = []
        with self.admin.begin() as conn:  # pg_trgm in `public`, where every schema sees it
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))

    def new(self, label: str, public: bool) -> str:
        """A new schema; `public` on its search path for the knowledge base (pg_trgm), never for the
        trackers (bot.prod.instance refuses that)."""
        from bot.prod.config import with_schema

        name = f"kk_scale_{label}_{secrets.token_hex(3)}"
        with self.admin.begin() as conn:
            conn.execute(CreateSchema(name))
        self.created.append(name)
        return with_schema(self.base, name, public=public)

    def drop(self) -> None:
        with self.admin.begin() as conn:
            for name in self.created:
                conn.execute(DropSchema(name, cascade=True, if_exists=True))
        self.created.clear()
        self.admin.dispose()


def clear_redis(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


def run_one(instances: int, args: argparse.Namespace, workdir: Path) -> Result:
    from bot.prod.stack import Stack, ephemeral_secrets

    schemas = Schemas(PG_URL)
    prefix = "kkscale" + secrets.token_hex(4)
    try:
        stack = Stack(
            instances=instances,
            workdir=workdir / f"stack-{instances}",
            database_url=schemas.new("kb", public=True),
            tracker_url=schemas.new("trackers", public=False),
            redis_url=REDIS_URL,
            env_overrides={
                **ephemeral_secrets(),
                "REDIS_KEY_PREFIX": prefix,
                "KAKEHASHI_RATE_LIMIT": "off",  # measure the assistant, not the spam limit
                "BALANCER_UPSTREAM_TIMEOUT": str(args.timeout),
            },
        )
        t0 = time.monotonic()
        with stack.start(timeout=600):
            start_s = time.monotonic() - t0
            print(f"[{instances} instance(s)] stack ready in {start_s:.0f} s", flush=True)
            # Warm every instance directly (model, vocabulary, caches, database pools).
            warm = conversations(instances * 2, 8, seed=args.seed + 1)
            for i, url in enumerate(stack.rasa_urls):
                asyncio.run(run_load(f"{url}/webhooks/rest/webhook", warm[2 * i : 2 * i + 2], args.timeout, 300))
            scripts = conversations(args.conversations, args.messages, seed=args.seed)
            groups = {
                "Rasa instances": [stack.procs[f"rasa-{i}"].pid for i in range(instances)],
                "action server": [stack.procs["actions"].pid],
                "balancer": [stack.procs["balancer"].pid],
                "load generator + CPU sampler (this process)": [os.getpid()],
            }
            with CpuSampler(groups) as sampler:
                load = asyncio.run(
                    run_load(f"{stack.balancer_url}/webhooks/rest/webhook", scripts, args.timeout, args.max_seconds)
                )
            result = Result(
                instances,
                load,
                sampler.totals(),
                sampler.seconds,
                sampler.machine_busy,
                start_s,
                load_average(),
            )
            print(
                f"[{instances} instance(s)] {result.messages} answered, {len(load.errors)} errors in "
                f"{load.wall:.1f} s: {result.throughput:.1f} msg/s, p50 {result.pct(50):.0f} ms, "
                f"p95 {result.pct(95):.0f} ms",
                flush=True,
            )
            return result
    finally:
        schemas.drop()
        try:
            clear_redis(prefix)
        except Exception as exc:  # only cleanup
            print(f"could not remove the Redis keys {prefix}:*: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------- report


def report(results: list[Result], args: argparse.Namespace, started: dt.datetime, elapsed: float) -> str:
    total = args.conversations * args.messages
    lines = [
        f"# Scale benchmark — {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{args.command}`",
        f"- Machine: {machine()}; load average at the start {args.load_before}, at the end {load_average()}",
        f"- Load: {args.conversations} concurrent conversations × {args.messages} messages = {total}, through the "
        "balancer (REST), PostgreSQL trackers and knowledge base, Redis lock store, rate limit off",
        f"- Wall time of the benchmark: {elapsed / 60:.1f} min",
        "",
        "| Rasa instances | answered | errors | messages/s | p50 ms | p95 ms | p99 ms | mean ms | stack start s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.instances} | {r.messages} | {len(r.load.errors)} | {r.throughput:.1f} | {r.pct(50):.0f} | "
            f"{r.pct(95):.0f} | {r.pct(99):.0f} | {statistics.fmean(r.load.latencies or [0]):.0f} | {r.start_s:.0f} |"
        )
    if len(results) >= 2 and results[0].throughput:
        factor = results[-1].throughput / results[0].throughput
        lines += ["", f"Scaling factor ({results[-1].instances} vs {results[0].instances}): **{factor:.2f}×**"]
    lines += [
        "",
        "## Where the CPU went (over the measured window)",
        "",
        "CPU seconds per process group, CPU ms per answered message, and share of the machine's 2 cores "
        "(100 % = both cores busy for the whole window). PostgreSQL is the whole server, shared with "
        "anything else using it; `other` is the machine's busy time not in any group.",
        "",
    ]
    for r in results:
        cores = os.cpu_count() or 1
        capacity = r.window_s * cores
        lines += [
            f"### {r.instances} instance(s): window {r.window_s:.1f} s, machine busy "
            f"{100 * r.machine_busy_s / capacity:.0f} %",
            "",
            "| process group | CPU s | CPU ms / message | share of the machine |",
            "|---|---:|---:|---:|",
        ]
        named = sum(r.cpu.values())
        rows = [*sorted(r.cpu.items(), key=lambda kv: -kv[1]), ("other", max(0.0, r.machine_busy_s - named))]
        for name, seconds in rows:
            per = 1000 * seconds / r.messages if r.messages else float("nan")
            lines.append(f"| {name} | {seconds:.1f} | {per:.0f} | {100 * seconds / capacity:.0f} % |")
        lines.append("")
    for r in results:
        if r.load.errors:
            lines += [f"Errors with {r.instances} instance(s) (first 5): " + "; ".join(r.load.errors[:5]), ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", default="1,2", help="Rasa instance counts to compare, e.g. 1,2")
    parser.add_argument("--conversations", type=int, default=40, help="concurrent conversations")
    parser.add_argument("--messages", type=int, default=15, help="messages per conversation")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one answer may take")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="cap on the load of one run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="report file (default bench/results/scale-<date>.md)")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.instances.split(",") if x.strip()]
    if args.messages < 2 or args.conversations < 1 or not counts or min(counts) < 1:
        parser.error("need --conversations ≥ 1, --messages ≥ 2 and instance counts ≥ 1")
    args.load_before = load_average()
    args.command = " ".join(["python -m bench.scale_bench", *(sys.argv[1:] if argv is None else argv)])
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="kk-scale-"))
    results = [run_one(n, args, workdir) for n in counts]  # on failure the logs stay in workdir
    shutil.rmtree(workdir, ignore_errors=True)
    publish(
        report(results, args, started, time.perf_counter() - t0), args.out or RESULTS / f"scale-{started:%Y-%m-%d}.md"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
