"""Health, readiness, structured logs and metrics shared by every Kakehashi process
(docs/observability.md).

    configure_logging("web")          # a process that owns its main(): text, or JSON when asked
    apply_log_format("rasa")          # a process whose framework set logging up (Rasa, rasa_sdk)
    record_message(conversation_id, "web", "answered", started, responses=["utter_greet"])
    METRICS.render()                  # Prometheus text exposition of this process's metrics
    status, body = await readiness(knowledge_base=check_database)

KAKEHASHI_LOG_FORMAT=json makes every log line one JSON object (ts, level, logger, msg and the
record's extra fields); plain text is the default. Conversations appear in logs and metrics only
as `conversation_ref(id)`: a short keyed hash, stable across processes that share
KAKEHASHI_SECRET, that neither reveals a Telegram chat id nor a web session's signature.

Usage: python -m bot.observability ref <conversation id>   # the `conversation` of its log lines
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bot import settings

logger = logging.getLogger(__name__)

LOG_FORMAT_ENV = "KAKEHASHI_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
READY_TIMEOUT_S = 3.0  # one readiness check; the probe's own timeout should be larger (5 s)
CHANNELS = ("web", "rest", "telegram")
# What became of a message a public channel received:
#   answered      the assistant answered (this includes "I did not understand" answers)
#   helpdesk      a person holds the conversation: the message went to their ticket
#   rate_limited  refused politely by the per-conversation rate limit, not processed
#   failed        the assistant raised or said nothing: the user got the apology
#   refused       not accepted at all (bad origin, malformed request, someone else's session)
OUTCOMES = ("answered", "helpdesk", "rate_limited", "failed", "refused")
# The responses of the not-understood paths (data/rules/fallback.yml, matchmaking.yml, Rasa's core
# fallback): nlu_fallback → action_clarify (utter_clarify, utter_clarify_none, utter_offer_person);
# nlu_fallback inside the matchmaking form, and action_default_fallback → utter_default.
FALLBACK_RESPONSES = frozenset({"utter_clarify", "utter_clarify_none", "utter_offer_person", "utter_default"})
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


# --------------------------------------------------------------------------- conversations


def conversation_ref(conversation_id: str) -> str:
    """The conversation as logs name it: 16 hex digits of an HMAC keyed with KAKEHASHI_SECRET."""
    return hmac.new(settings.secret(), f"log\x1f{conversation_id}".encode(), hashlib.sha256).hexdigest()[:16]


# --------------------------------------------------------------------------- logs

# Attributes every LogRecord has; anything else on a record is an `extra` field worth keeping.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
EVENT_FIELDS = "kakehashi_fields"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, process, then the extra fields."""

    def __init__(self, process: str | None = None) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, EVENT_FIELDS, None)
        if isinstance(fields, dict):
            out["msg"] = fields.get("event", record.getMessage())
            out.update({k: v for k, v in fields.items() if k != "event"})
        else:
            out["msg"] = record.getMessage()
            out.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if self.process:
            out.setdefault("process", self.process)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def log_format() -> str:
    """ "json" or "text" (the default), from KAKEHASHI_LOG_FORMAT."""
    return "json" if os.environ.get(LOG_FORMAT_ENV, "").strip().lower() == "json" else "text"


def apply_log_format(process: str) -> None:
    """In JSON mode, give every handler already installed (the root's and any named logger's) the
    JSON formatter, adding one on stderr if there is none; in text mode leave logging as the
    framework set it up. Idempotent."""
    if log_format() != "json":
        return
    formatter = JsonFormatter(process)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
    loggers = [root] + [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for each in loggers:
        for handler in each.handlers:
            handler.setFormatter(formatter)
    logging.captureWarnings(True)  # warnings.warn(...) as log records, so as JSON too


def keep_level(name: str) -> None:
    """Give logger `name` the process's level (LOG_LEVEL, as Rasa does for its "rasa" logger), so
    that a library lowering the root logger's level (numpy.distutils sets it to WARNING while
    Rasa loads a model) does not silence it."""
    level = logging.getLevelName(os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO")
    logging.getLogger(name).setLevel(level if isinstance(level, int) else logging.INFO)


def configure_logging(process: str, level: int = logging.INFO) -> None:
    """Set up logging for a process that owns its main(): plain text lines, or JSON."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format=TEXT_FORMAT)
    apply_log_format(process)


class _Fields(dict):
    """Renders as `key=value ...` in a text log line."""

    def __str__(self) -> str:
        return " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in self.items())


def log_event(log: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One line for one event: `event key=value ...` as text; `{"msg": event, key: value}` as JSON."""
    log.log(level, "%s %s", event, _Fields(fields), extra={EVENT_FIELDS: {"event": event, **fields}})


# --------------------------------------------------------------------------- metrics


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Metric:
    """A metric family with fixed label names; samples are kept per label-value tuple."""

    kind = "untyped"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.labelnames = name, help_, tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class Counter(Metric):
    kind = "counter"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.labelnames, k)} {_num(v)}" for k, v in items]


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value


class Histogram(Metric):
    kind = "histogram"

    def __init__(
        self, name: str, help_: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> None:
        super().__init__(name, help_, labels)
        self.buckets = (*sorted(buckets), math.inf)
        self._values: dict[tuple[str, ...], tuple[list[int], float]] = {}  # key → (counts per bucket, sum)

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts, total = self._values.get(key) or ([0] * len(self.buckets), 0.0)
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            self._values[key] = (counts, total + value)

    def count(self, **labels: str) -> int:
        entry = self._values.get(self._key(labels))
        return entry[0][-1] if entry else 0

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted((k, (list(c), s)) for k, (c, s) in self._values.items())
        out = []
        for key, (counts, total) in items:
            for bound, count in zip(self.buckets, counts, strict=True):
                le = 'le="' + _num(bound) + '"'
                out.append(f"{self.name}_bucket{_labels(self.labelnames, key, le)} {count}")
            out.append(f"{self.name}_sum{_labels(self.labelnames, key)} {_num(total)}")
            out.append(f"{self.name}_count{_labels(self.labelnames, key)} {counts[-1]}")
        return out


def exposition(metrics: Iterable[Metric]) -> str:
    """Metrics in the Prometheus text format (version 0.0.4)."""
    lines: list[str] = []
    for metric in metrics:
        lines += metric.header() + metric.lines()
    return "\n".join(lines) + "\n"


class Registry:
    """The metrics a Rasa instance's channels keep."""

    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def add(self, metric: Metric) -> Any:
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        return exposition(self.metrics)


METRICS = Registry()
MESSAGES = METRICS.add(
    Counter("kakehashi_messages_total", "Messages received by the public channels, by outcome.", ("channel", "outcome"))
)
REPLY_SECONDS = METRICS.add(
    Histogram(
        "kakehashi_reply_seconds",
        "Time from receiving a message to the assistant's last reply (messages the assistant processed).",
        ("channel",),
    )
)
FALLBACKS = METRICS.add(
    Counter(
        "kakehashi_fallbacks_total",
        "Messages answered with a not-understood response (clarify, offer a person, default).",
        ("channel",),
    )
)
STARTED = METRICS.add(Gauge("kakehashi_process_start_time_seconds", "Start time of this process (Unix time)."))
STARTED.set(time.time())


def channel_label(input_channel: str, sender: str) -> str:
    """The channel as metrics and logs name it: the widget's socket.io is "web"; the Telegram bot
    talks to the REST channel with "tg-" conversations."""
    if input_channel == "socketio":
        return "web"
    return "telegram" if sender.startswith("tg-") else "rest"


for _channel in CHANNELS:  # every series exists from the start, so rate() works from the first scrape
    FALLBACKS.inc(0, channel=_channel)
    for _outcome in OUTCOMES:
        MESSAGES.inc(0, channel=_channel, outcome=_outcome)


def response_names(message: dict[str, Any]) -> str | None:
    """The domain response a bot message came from (Rasa puts it in "utter_action"), if any."""
    name = message.get("utter_action")
    return name if isinstance(name, str) and name else None


def record_message(
    conversation_id: str,
    channel: str,
    outcome: str,
    started: float,
    responses: Sequence[str] = (),
    log: logging.Logger = logger,
) -> None:
    """Count one received message and write its log line (no text: only the conversation's
    reference, channel, outcome, latency and the names of the responses used)."""
    latency = time.perf_counter() - started
    fallback = any(r in FALLBACK_RESPONSES for r in responses)
    MESSAGES.inc(channel=channel, outcome=outcome)
    if outcome in {"answered", "failed"}:
        REPLY_SECONDS.observe(latency, channel=channel)
    if fallback:
        FALLBACKS.inc(channel=channel)
    log_event(
        log,
        "message",
        conversation=conversation_ref(conversation_id),
        channel=channel,
        outcome=outcome,
        latency_ms=round(latency * 1000),
        fallback=fallback,
        responses=list(dict.fromkeys(responses))[:10],
    )


def metrics_refusal(authorization: str | None) -> tuple[int, str] | None:
    """Whether a scrape may read the metrics: (status, reason) when not, None when it may.
    With KAKEHASHI_METRICS_TOKEN set, "Authorization: Bearer <token>" is required; in production
    (KAKEHASHI_ENV=production) metrics are not served at all without a token configured."""
    token = os.environ.get("KAKEHASHI_METRICS_TOKEN", "").strip()
    if not token:
        if production():
            return 403, "metrics are disabled: set KAKEHASHI_METRICS_TOKEN"
        return None
    scheme, _, sent = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
        return 401, "metrics need 'Authorization: Bearer <KAKEHASHI_METRICS_TOKEN>'"
    return None


def production() -> bool:
    return os.environ.get("KAKEHASHI_ENV", "").strip().lower() in {"production", "prod"}


# --------------------------------------------------------------------------- handoff figures


def handoff_metrics(url: str | None = None) -> list[Metric]:
    """Helpdesk tickets read from the database at scrape time (read-only): every ticket ever
    opened by reason (tickets are never deleted, so this only grows), and open ones by status."""
    from sqlalchemy import func, select

    from db.engine import session_scope
    from db.handoff import REASONS, TicketRow

    with session_scope(url) as session:
        by_reason = dict(session.execute(select(TicketRow.reason, func.count()).group_by(TicketRow.reason)).all())
        open_by_status = dict(
            session.execute(
                select(TicketRow.status, func.count()).where(TicketRow.status != "closed").group_by(TicketRow.status)
            ).all()
        )
    opened = Counter("kakehashi_handoff_tickets_total", "Helpdesk tickets opened, by reason.", ("reason",))
    for reason in sorted(set(REASONS) | set(by_reason)):
        opened.inc(by_reason.get(reason, 0), reason=reason)
    waiting = Gauge("kakehashi_handoff_open_tickets", "Helpdesk tickets not yet closed, by status.", ("status",))
    for status in sorted({"waiting", "claimed"} | set(open_by_status)):
        waiting.set(open_by_status.get(status, 0), status=status)
    return [opened, waiting]


def database_metrics(url: str | None = None) -> list[Metric]:
    """Handoff figures plus kakehashi_database_up (0, and no figures, when the database is down)."""
    up = Gauge("kakehashi_database_up", "Whether the database answered this scrape.")
    try:
        figures = handoff_metrics(url)
    except Exception as exc:
        logger.warning("metrics: database unavailable (%s)", _first_line(exc))
        up.set(0)
        return [up]
    up.set(1)
    return [up, *figures]


# --------------------------------------------------------------------------- readiness


def check_database(url: str | None = None) -> None:
    """The knowledge base answers a cheap query (its version row); raises when it does not."""
    from db.vocabulary import current_version

    current_version(url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


async def readiness(**checks: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    """Run each check (a blocking callable that raises when its dependency is not usable) in a
    worker thread with a time limit: (200, body) when all pass, else (503, body). The body names
    each check's state only — never an error text, which could carry hosts or user names."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(asyncio.to_thread(check), READY_TIMEOUT_S)
            results[name] = "ok"
        except TimeoutError:
            logger.warning("readiness: %s did not answer within %.0f s", name, READY_TIMEOUT_S)
            results[name] = "timeout"
        except Exception as exc:
            logger.warning("readiness: %s unavailable (%s)", name, _first_line(exc))
            results[name] = "unavailable"
    ok = all(v == "ok" for v in results.values())
    return (200 if ok else 503), {"status": "ready" if ok else "not ready", "checks": results}


# --------------------------------------------------------------------------- a health listener


_HELD: set[asyncio.Task] = set()


def health_app(process: str):  # type: ignore[no-untyped-def]
    """A tiny aiohttp app with /healthz (the process runs) and /readyz (its database answers), for
    processes that serve no HTTP of their own (the Telegram bot in long-polling mode)."""
    from aiohttp import web

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "process": process})

    async def readyz(_: web.Request) -> web.Response:
        status, body = await readiness(database=check_database)
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_health_listener(process: str, port_env: str) -> asyncio.Task | None:
    """Serve health_app on $<port_env> (off when unset) at $<port_env without _PORT>_LISTEN
    (default 127.0.0.1) until the event loop ends (asyncio.run cancels the task holding it, which
    closes the listener); returns that task."""
    raw = os.environ.get(port_env, "").strip()
    if not raw:
        return None
    from aiohttp import web

    host = settings.env(port_env.removesuffix("_PORT") + "_LISTEN", "127.0.0.1")
    runner = web.AppRunner(health_app(process), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, int(raw)).start()
    logger.info("%s: health endpoints on http://%s:%s/healthz and /readyz", process, host, raw)

    async def hold() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    task = asyncio.create_task(hold())
    _HELD.add(task)  # the loop keeps only a weak reference to a task
    task.add_done_callback(_HELD.discard)
    return task


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "ref":
        print(conversation_ref(argv[1]))
        return 0
    print("usage: python -m bot.observability ref <conversation id>", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
