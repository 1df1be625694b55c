"""`make eval`: play the blind conversations (eval/blind/*.yml) against the assistant over REST
and print the pass rate by kind, language and feature (format and rules: eval/README.md).

Usage:
    python -m eval.run                     # start a fresh assistant on a temporary SQLite KB
    python -m eval.run --url http://127.0.0.1:5005 [--only en-b-012] [--show-failures]
    python -m eval.run --json results/eval.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BLIND = ROOT / "eval" / "blind"
KINDS = ("first", "followup", "unknown")
# Replies that mean "I did not understand" (any language the catalogue has).
NOT_UNDERSTOOD = ("utter_default", "utter_clarify", "utter_clarify_none", "utter_offer_person", "utter_out_of_scope")
# Replies that truthfully say the sources hold nothing on what was asked.
NOT_RECORDED_PREFIXES = ("utter_no_", "utter_not_in_sources")
NOT_RECORDED = ("utter_org_unknown", "utter_programme_unknown", "utter_criterion_unknown")


def norm(text: str) -> str:
    """NFKC, lower case, white space folded, digit group separators dropped (1,200 → 1200)."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = re.sub(r"(?<=\d)[,\u202f\u00a0' ](?=\d{3}\b)", "", text)
    text = text.replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-")
    return re.sub(r"\s+", " ", text).strip()


def _template_regex(text: str) -> re.Pattern[str]:
    parts = re.split(r"\{[a-z_]+\}", norm(text))
    return re.compile(".*".join(re.escape(p) for p in parts), re.S)


def load_templates() -> dict[str, list[re.Pattern[str]]]:
    """Every response text of the domain (and the message catalogue, when present) as a regex."""
    out: dict[str, list[re.Pattern[str]]] = defaultdict(list)
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    for name, variants in (domain.get("responses") or {}).items():
        for variant in variants or []:
            if variant.get("text"):
                out[name].append(_template_regex(variant["text"]))
    catalogue = ROOT / "actions" / "messages"
    for path in sorted(catalogue.glob("*.yml")) if catalogue.is_dir() else []:
        for name, text in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            if isinstance(text, str):
                out[name].append(_template_regex(text))
    return out


@dataclass
class Reply:
    texts: list[str]
    markers: set[str]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


@dataclass
class TurnResult:
    conversation: str
    lang: str
    features: list[str]
    kind: str
    user: str
    reply: str
    passed: bool
    why: str = ""


@dataclass
class Scorer:
    templates: dict[str, list[re.Pattern[str]]] = field(default_factory=load_templates)

    def used(self, reply: Reply) -> set[str]:
        """The response names whose templates match one of the reply's messages."""
        names = set()
        for text in reply.texts:
            t = norm(text)
            for name, patterns in self.templates.items():
                if any(p.fullmatch(t) for p in patterns):
                    names.add(name)
        return names

    def not_understood(self, reply: Reply) -> bool:
        return bool(self.used(reply) & set(NOT_UNDERSTOOD)) or not reply.text.strip()

    def not_recorded(self, reply: Reply) -> bool:
        if "not_in_sources" in reply.markers:
            return True
        return any(n.startswith(NOT_RECORDED_PREFIXES) or n in NOT_RECORDED for n in self.used(reply))

    def score(self, turn: dict, reply: Reply) -> tuple[bool, str]:
        text = norm(reply.text)
        if not reply.text.strip():
            return False, "empty reply"
        missing = [a for a in turn.get("expect_all") or [] if norm(str(a)) not in text]
        if missing:
            return False, f"missing {missing}"
        any_of = turn.get("expect_any") or []
        if any_of and not any(norm(str(a)) in text for a in any_of):
            return False, f"none of {any_of}"
        wrong = [a for a in turn.get("expect_none") or [] if norm(str(a)) in text]
        if wrong:
            return False, f"wrong fact {wrong}"
        if turn.get("kind") == "unknown":
            if not self.not_recorded(reply):
                return False, "did not say the sources don't record it"
            return True, ""
        if self.not_understood(reply):
            return False, "not understood"
        return True, ""


def load_conversations(paths: Iterable[Path] | None = None) -> list[dict]:
    convs = []
    for path in sorted(paths or BLIND.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conv in data.get("conversations") or []:
            conv.setdefault("lang", "en")
            conv["file"] = path.name
            convs.append(conv)
    return convs


def send(url: str, sender: str, message: str, metadata: dict | None = None) -> Reply:
    body = {"sender": sender, "message": message}
    if metadata:
        body["metadata"] = metadata
    req = urllib.request.Request(  # noqa: S310 (loopback)
        f"{url}/webhooks/rest/webhook",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 (loopback)
        messages = json.loads(resp.read())
    texts, markers = [], set()
    for m in messages:
        if m.get("text"):
            texts.append(m["text"])
        info = (m.get("custom") or {}).get("kakehashi") or {}
        if info.get("answer"):
            markers.add(str(info["answer"]))
    return Reply(texts, markers)


_QUOTED = re.compile(r"“[^”]*”|\*\*[^*]*\*\*|^(Source|Quelle|Source\s?:|出典).*$|https?://\S+", re.M)


def reply_language(reply: Reply) -> str | None:
    """The language the reply is written in — quotations from the sources, names in bold and
    source lines left out (they keep their own language) — or None when too little is left."""
    from nlu_components.language import detect

    return detect(_QUOTED.sub(" ", reply.text))[0]


def asked_language(text: str, current: str) -> str:
    from nlu_components.switch import SWITCH

    return next((lang for lang, pattern in SWITCH.items() if pattern.search(text)), current)


def play(url: str, convs: list[dict], scorer: Scorer) -> list[TurnResult]:
    results = []
    for conv in convs:
        sender = f"eval-{conv['id']}-{uuid.uuid4().hex[:8]}"
        expected = conv["lang"]
        for turn in conv.get("turns") or []:
            reply = send(url, sender, str(turn["user"]))
            ok, why = scorer.score(turn, reply)
            expected = asked_language(str(turn["user"]), expected)
            got = reply_language(reply) if ok and expected != "en" else None
            if got is not None and got != expected:
                ok, why = False, f"reply in {got}, not {expected}"
            results.append(
                TurnResult(
                    conv["id"],
                    conv["lang"],
                    list(conv.get("features") or []),
                    turn.get("kind", "first"),
                    str(turn["user"]),
                    reply.text,
                    ok,
                    why,
                )
            )
    return results


def summary(results: list[TurnResult]) -> dict:
    def rate(rows: list[TurnResult]) -> dict:
        n = len(rows)
        ok = sum(r.passed for r in rows)
        return {"turns": n, "passed": ok, "rate": round(ok / n, 3) if n else None}

    out = {"all": rate(results), "by_kind": {}, "by_lang": {}, "by_feature": {}}
    for kind in KINDS:
        out["by_kind"][kind] = rate([r for r in results if r.kind == kind])
    for lang in sorted({r.lang for r in results}):
        rows = [r for r in results if r.lang == lang]
        out["by_lang"][lang] = {**rate(rows), **{k: rate([r for r in rows if r.kind == k]) for k in KINDS}}
    for feat in sorted({f for r in results for f in r.features}):
        out["by_feature"][feat] = rate([r for r in results if feat in r.features])
    return out


def print_summary(s: dict) -> None:
    def fmt(r: dict) -> str:
        return f"{r['passed']}/{r['turns']} = {100 * r['rate']:.1f} %" if r["turns"] else "—"

    print(f"all turns        {fmt(s['all'])}")
    for kind, r in s["by_kind"].items():
        print(f"  {kind:<14} {fmt(r)}")
    print("by language")
    for lang, r in s["by_lang"].items():
        kinds = ", ".join(f"{k} {fmt(r[k])}" for k in KINDS)
        print(f"  {lang:<14} {fmt(r)}   ({kinds})")
    print("by feature")
    for feat, r in s["by_feature"].items():
        print(f"  {feat:<14} {fmt(r)}")


def start_assistant(work: Path) -> tuple[str, list[subprocess.Popen]]:
    from bot.launch import start_local_assistant
    from bot.train import ensure_model

    url, procs, _ = start_local_assistant(
        work, ensure_model(), KAKEHASHI_SECRET="eval-" + uuid.uuid4().hex, KAKEHASHI_RATE_LIMIT="1000/1"
    )
    return url, procs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running assistant (default: start one)")
    ap.add_argument("--only", action="append", help="conversation id (repeatable) or id prefix")
    ap.add_argument("--lang", action="append", help="only these languages")
    ap.add_argument("--show-failures", action="store_true")
    ap.add_argument("--json", type=Path, help="write every turn and the summary here")
    args = ap.parse_args(argv)

    convs = load_conversations()
    if args.only:
        convs = [c for c in convs if any(c["id"].startswith(o) for o in args.only)]
    if args.lang:
        convs = [c for c in convs if c["lang"] in args.lang]
    if not convs:
        print("no conversations to play", file=sys.stderr)
        return 2
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="kakehashi-eval-") as tmp:
        try:
            url = args.url or None
            if url is None:
                url, procs = start_assistant(Path(tmp))
            started = time.monotonic()
            results = play(url, convs, Scorer())
            elapsed = time.monotonic() - started
        finally:
            from bot.launch import stop

            stop(*procs)
    s = summary(results)
    if args.show_failures:
        for r in results:
            if not r.passed:
                print(f"✗ {r.conversation} [{r.kind}] {r.user!r}\n    → {r.reply[:300]!r}\n    ({r.why})")
    print(f"{len(convs)} conversations, {len(results)} turns in {elapsed:.0f} s")
    print_summary(s)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"summary": s, "turns": [r.__dict__ for r in results]}, ensure_ascii=False, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
