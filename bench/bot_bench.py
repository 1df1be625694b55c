"""`make bench-bot`: the assistant's figures on this machine — per-message latency through REST
(with the action server and the knowledge base), throughput with concurrent conversations,
latency growth in a long conversation, training time (full and incremental), time to ready and
server memory. Prints a Markdown report and writes it to bench/results/.

Usage: python -m bench.bot_bench [--skip-training] [--messages 200] [--concurrent 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from bot.launch import RASA, assistant_env, start_local_assistant, stop
from bot.settings import ROOT
from bot.train import ensure_model

QUESTIONS = [
    "find regenerative medicine clusters in Osaka",
    "who does Osaka Bio Headquarters partner with?",
    "biotech clusters in kansai",
    "what about Kobe?",
    "show more",
    "tell me more about the first one",
    "which japanese clusters have an MoU with a french cluster?",
    "can my cluster apply to JETRO's RIT programme?",
    "any biotech events in japan?",
    "how big is the medical devices market in japan",
    "who is the contact at techtera?",
    "success stories in life sciences",
    "hello",
    "thanks",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def send(url: str, sender: str, message: str) -> float:
    body = json.dumps({"sender": sender, "message": message}).encode()
    req = urllib.request.Request(
        f"{url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        replies = json.loads(resp.read())
    elapsed = (time.perf_counter() - start) * 1000
    if not replies:
        raise RuntimeError(f"no reply to {message!r}")
    return elapsed


def rss_mb(pid: int) -> float:
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def train_times(tmp: Path) -> tuple[float, float]:
    """Full training (empty cache) and incremental training after a story change (warm cache)."""
    work = tmp / "train"
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".venv", "models", "var", ".git", "results", "bench"))
    env = assistant_env(RASA_CACHE_DIRECTORY=str(tmp / "cache"))

    def train() -> float:
        start = time.monotonic()
        subprocess.run(
            [RASA, "train", "--out", str(tmp / "models")], cwd=work, env=env, check=True, capture_output=True
        )
        return time.monotonic() - start

    full = train()
    story = work / "data" / "stories" / "bench_extra.yml"
    story.write_text(
        'version: "3.1"\nstories:\n- story: bench extra\n  steps:\n  - intent: greet\n'
        "  - action: utter_greet\n  - intent: thank\n  - action: utter_youre_welcome\n"
    )
    return full, train()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-training", action="store_true")
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--concurrent", type=int, default=20)
    ap.add_argument("--per-conversation", type=int, default=15)
    ap.add_argument("--long", type=int, default=300)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kk-bench-"))
    results: dict[str, str] = {}
    if not args.skip_training:
        full, incremental = train_times(tmp)
        results["full training"] = f"{full:.0f} s"
        results["incremental training (story change)"] = f"{incremental:.0f} s"
    # measure the assistant, not the spam limit
    model = ensure_model()
    url, procs, ready = start_local_assistant(tmp, model, KAKEHASHI_RATE_LIMIT="1000000/1")
    rasa, actions = procs
    try:
        results["time to ready (rasa run → REST answers)"] = f"{ready:.1f} s"
        for q in QUESTIONS:  # warm-up: model, vocabulary, caches
            send(url, "warmup", q)
        # 1 conversation, sequential; a fresh conversation every 15 messages (realistic length)
        lat = [send(url, f"seq-{i // 15}", QUESTIONS[i % len(QUESTIONS)]) for i in range(args.messages)]
        results["1 conversation: p50 / p95 / p99"] = (
            f"{percentile(lat, 50):.0f} / {percentile(lat, 95):.0f} / {percentile(lat, 99):.0f} ms"
        )
        # N concurrent conversations
        conc: list[float] = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            sender = f"conc-{n}-{uuid.uuid4().hex[:6]}"
            for i in range(args.per_conversation):
                ms = send(url, sender, QUESTIONS[(i + n) % len(QUESTIONS)])
                with lock:
                    conc.append(ms)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.concurrent)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        results[f"{args.concurrent} concurrent conversations: p50 / p95 / p99"] = (
            f"{percentile(conc, 50):.0f} / {percentile(conc, 95):.0f} / {percentile(conc, 99):.0f} ms"
        )
        results["throughput (messages/s, one instance)"] = f"{len(conc) / wall:.1f}"
        # one long conversation
        sender = "long-" + uuid.uuid4().hex[:6]
        long_lat = [send(url, sender, QUESTIONS[i % len(QUESTIONS)]) for i in range(args.long)]
        early = statistics.median(long_lat[5:15])
        late = statistics.median(long_lat[-10:])
        results["long conversation: median at message ~10 / ~300"] = (
            f"{early:.0f} / {late:.0f} ms ({late / early:.2f}×)"
        )
        results["Rasa server RSS after the run"] = f"{rss_mb(rasa.pid):.0f} MB"
        results["action server RSS after the run"] = f"{rss_mb(actions.pid):.0f} MB"
    finally:
        stop(*procs)
    report = [
        f"Measured {dt.date.today()} on this machine ({os.cpu_count()} cores), model {model.name}, "
        f"knowledge base SQLite, tracker store SQLite.",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    report += [f"| {k} | {v} |" for k, v in results.items()]
    text = "\n".join(report)
    print(text)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bot-{dt.date.today()}.md").write_text(text + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
