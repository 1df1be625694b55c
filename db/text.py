"""Folding of names and free text so that "Kōbe", "KOBE" and "kobe" compare equal."""

from __future__ import annotations

import re
import unicodedata

MAX_QUERY_CHARS = 200
_SEPARATORS = re.compile(r"[\s\-_/.,;:!?()\[\]{}\"'`´’‘“”|\\<>=*~^#%$@]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def fold(text: str | None) -> str:
    """Lower-case, accent-free, punctuation-free form of `text` (CJK characters are kept)."""
    if not text:
        return ""
    text = _CONTROL.sub(" ", unicodedata.normalize("NFKC", str(text)))
    text = text.replace("+", " plus ").replace("&", " and ")
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    text = unicodedata.normalize("NFKC", text)
    return _SEPARATORS.sub(" ", text).strip()


def clean_query(text: str | None, limit: int = MAX_QUERY_CHARS) -> str:
    """`text` folded and cut to `limit` characters: safe to hand to any query."""
    return fold(text)[:limit].strip()


_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """A slug made from `text` (ASCII letters and digits joined by hyphens)."""
    return _SLUG_STRIP.sub("-", fold(text)).strip("-")
