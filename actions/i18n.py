"""The words actions put together themselves — button titles, list lines, labels, dates — in the
conversation's language.

Responses (`utter_*`) have a variant per language in domain.yml, picked by Rasa from the
`language` slot. What an action composes is translated here: the English text is the key
(`tr("Talk to a person")`, `tr("Details of {name}", name=...)`), looked up in
`locales/actions/<lang>.yml`; a text missing there stays English (a test checks none is missing).
The language is the one of the conversation being answered, set once per action run by
`actions.common.guarded` (a context variable, so concurrent conversations do not mix).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("en", "ja", "de", "fr")
LOCALES = Path(__file__).resolve().parent.parent / "locales" / "actions"
_current: ContextVar[str] = ContextVar("kakehashi_language", default="en")


def language_of(tracker: Any) -> str:
    value = tracker.get_slot("language") if tracker is not None else None
    return value if value in LANGUAGES else "en"


def set_language(lang: str | None) -> None:
    _current.set(lang if lang in LANGUAGES else "en")


def current_language() -> str:
    return _current.get()


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    path = LOCALES / f"{lang}.yml"
    if lang == "en" or not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in data.items() if v}


def tr(msgid: str, **values: Any) -> str:
    """`msgid` in the current language, with `values` filled in."""
    text = catalogue(current_language()).get(msgid, msgid)
    if not values:
        return text
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):  # a broken translation must not break the answer
        return msgid.format(**values)


def plural(n: int, one: str, many: str) -> str:
    """ "1 recorded partnership" / "3 recorded partnerships" (both forms are catalogue texts)."""
    return tr(one if n == 1 else many, n=n)


def ordinal(n: int) -> str:
    """3 → "3rd", "3.", "3e", "3位" — for ranks and editions."""
    lang = current_language()
    if lang == "de":
        return f"{n}."
    if lang == "fr":
        return f"{n}{'er' if n == 1 else 'e'}"
    if lang == "ja":
        return f"{n}位"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def format_when(start: str | None, end: str | None = None) -> str:
    """ "2016-11" → "November 2016", "2017-04-03".."2017-04-06" → "3–6 April 2017", in the
    conversation's language (Babel's CLDR data ships inside the package)."""
    from babel.dates import format_date, format_interval, format_skeleton

    if not start:
        return tr("date not stated")
    lang = {"en": "en_GB"}.get(current_language(), current_language())  # "3 April", not "April 3"
    day = _DAY.match(start)
    month = _MONTH.match(start)
    try:
        if day:
            first = dt.date(*map(int, day.groups()))
            end_day = _DAY.match(end or "")
            if end_day:
                last = dt.date(*map(int, end_day.groups()))
                if (first.year, first.month) == (last.year, last.month) and lang != "ja":
                    month_year = format_skeleton("yMMMM", first, locale=lang)
                    dot = "." if lang == "de" else ""
                    return f"{first.day}{dot}–{last.day}{dot} {month_year}"
                return format_interval(first, last, "yMMMMd", locale=lang)
            return format_date(first, "long", locale=lang)
        if month:
            return format_skeleton("yMMMM", dt.date(int(month[1]), int(month[2]), 1), locale=lang)
    except ValueError:
        pass
    return start
