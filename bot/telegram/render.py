"""The assistant's answers as Telegram messages: its markdown subset (**bold**) as Telegram HTML
with everything else escaped, long texts split under Telegram's limit at sensible boundaries, and
buttons as inline keyboards."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.texts import BUTTONS_ONLY

MAX_MESSAGE = 4096  # Telegram's limit for a message's text, in UTF-16 code units
BOLD = re.compile(r"\*\*([^*]+)\*\*")  # the same subset the web page renders (bot/static/chat.js)
URL = re.compile(r"^https?://[^\s<>\"']+$")


def to_html(text: str) -> str:
    """`text` for parse_mode=HTML: **bold** becomes <b>, everything else is escaped."""
    out, last = [], 0
    for match in BOLD.finditer(text):
        out.append(html.escape(text[last : match.start()], quote=False))
        out.append(f"<b>{html.escape(match.group(1), quote=False)}</b>")
        last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def plain(text: str) -> str:
    """Text of our own (texts.py) for parse_mode=HTML."""
    return html.escape(text, quote=False)


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def split(text: str, limit: int = MAX_MESSAGE, measure: Callable[[str], int] | None = None) -> list[str]:
    """`text` in pieces whose measure (default: rendered HTML length) is at most `limit`, cut at
    paragraph breaks, else line breaks, else spaces, else anywhere."""
    measure = measure or (lambda s: tg_len(to_html(s)))
    text = text.strip()
    if measure(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    for sep in ("\n\n", "\n", " "):
        parts = text.split(sep)
        if len(parts) > 1:
            current = ""
            for part in parts:
                candidate = f"{current}{sep}{part}" if current else part
                if measure(candidate) <= limit:
                    current = candidate
                    continue
                if current:
                    pieces.append(current)
                if measure(part) <= limit:
                    current = part
                else:  # a paragraph (line, word) too long by itself: cut it finer
                    pieces.extend(split(part, limit, measure))
                    current = ""
            if current:
                pieces.append(current)
            return [p.strip() for p in pieces if p.strip()]
    # One unbroken word longer than the limit: cut it at the longest prefix that fits.
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return [text[:lo], *split(text[lo:], limit, measure)]


@dataclass
class Outgoing:
    """One answer as Telegram messages: the text pieces, and the buttons for the last one."""

    chunks: list[str]
    buttons: list[dict[str, str]] = field(default_factory=list)


def _buttons(message: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for b in message.get("buttons") or message.get("quick_replies") or []:
        if not isinstance(b, dict) or not str(b.get("title") or "").strip():
            continue
        title = str(b["title"]).strip()[:64]
        if isinstance(b.get("url"), str) and URL.match(b["url"]):
            out.append({"title": title, "url": b["url"]})
        elif isinstance(b.get("payload"), str) and b["payload"]:
            out.append({"title": title, "payload": b["payload"]})
    return out


def plan(answers: list[dict[str, Any]], limit: int = MAX_MESSAGE) -> list[Outgoing]:
    """The assistant's messages as Telegram messages: consecutive texts joined (fewer messages,
    kinder to the flood limits), a new message after each set of buttons, long texts split."""
    out: list[Outgoing] = []
    texts: list[str] = []
    for message in answers:
        text = str(message.get("text") or "").strip()
        if isinstance(message.get("image"), str) and URL.match(message["image"]):
            text = f"{text}\n{message['image']}".strip()
        if text:
            texts.append(text)
        buttons = _buttons(message)
        if buttons:
            chunks = split("\n\n".join(texts), limit) or [BUTTONS_ONLY]
            out.append(Outgoing(chunks, buttons))
            texts = []
    if texts:
        out.append(Outgoing(split("\n\n".join(texts), limit)))
    return [o for o in out if o.chunks]


def keyboard(buttons: list[dict[str, str]], callback_data: Callable[[dict[str, str]], str]) -> InlineKeyboardMarkup:
    """An inline keyboard, one button per row (titles are long); `callback_data(button)` gives
    the (≤ 64-byte) data for a payload button."""
    rows = []
    for b in buttons:
        if "url" in b:
            rows.append([InlineKeyboardButton(b["title"], url=b["url"])])
        else:
            rows.append([InlineKeyboardButton(b["title"], callback_data=callback_data(b))])
    return InlineKeyboardMarkup(rows)
