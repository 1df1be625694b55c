"""Finding knowledge-base phrases in a message: a spaCy blank pipeline with a PhraseMatcher over
accent-folded text, plain substring search for CJK phrases, a typo-tolerant pass, and regexes for
ordinals and years. No Rasa import here, so it is testable on its own."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import spacy
from rapidfuzz import fuzz, process
from spacy.matcher import PhraseMatcher

# Overlapping matches: the longest span wins. Different labels on the very same span are all
# reported ("regenerative medicine" is a sector and a market topic; "Toyama" a place and part of
# an organisation's aliases): the action for the intent picks the one it needs.
PRIORITY = [
    "org_name",
    "programme",
    "event_name",
    "sector",
    "place",
    "country",
    "market_topic",
    "partnership_kind",
    "org_kind",
]
FUZZY_LABELS = {"org_name", "sector", "place", "country", "programme", "event_name"}
FUZZY_MIN_CHARS = 5
FUZZY_SCORE = 88.0
FUZZY_MAX_TOKENS = 40
MAX_CHARS = 2000  # a longer message is matched on its first MAX_CHARS characters

_ORDINAL_WORDS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "last": -1,
    "last one": -1,
    "top one": 1,
}
_ORDINAL_RE = re.compile(
    r"\b(?:(?P<word>first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th|last)\b"
    r"|(?:number|no\.?|#|nr\.?)\s*(?P<num>[1-9])\b)",
    re.IGNORECASE,
)
_YEAR_RE = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
# All-capital names that are also ordinary words ("FIRM", "ALLIANCE", "IT") only match as written.
_COMMON_WORDS = {
    "firm",
    "alliance",
    "fit",
    "it",
    "us",
    "am",
    "an",
    "as",
    "at",
    "be",
    "by",
    "do",
    "go",
    "he",
    "if",
    "in",
    "is",
    "me",
    "my",
    "no",
    "of",
    "on",
    "or",
    "so",
    "to",
    "up",
    "we",
    "elbe",
    "health",
    "bio",
    "food",
    "net",
    "one",
    "all",
    "can",
    "may",
    "will",
    "win",
    "top",
    "key",
    "hub",
}
_STOP = {
    "the",
    "and",
    "with",
    "what",
    "which",
    "where",
    "about",
    "there",
    "their",
    "could",
    "would",
    "cluster",
    "clusters",
    "partner",
    "partners",
    "japan",
    "japanese",
    "europe",
    "european",
    "company",
    "companies",
    "looking",
    "working",
    "someone",
    "anyone",
    "other",
    "others",
    "please",
}


def fold_char(ch: str) -> str:
    """One character, lower-cased and without accents; always one character (offsets stay)."""
    low = ch.lower()
    if len(low) != 1:
        return ch
    base = "".join(c for c in unicodedata.normalize("NFKD", low) if not unicodedata.combining(c))
    return base if len(base) == 1 else low


def fold_text(text: str) -> str:
    return "".join(fold_char(c) for c in text)


@dataclass(frozen=True)
class Found:
    label: str
    start: int
    end: int
    text: str
    value: str
    confidence: float


_CJK_CHARS = re.compile(
    r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff01-\uff0f\uff1a-\uff20\uff5b-\uff65\uff66-\uff9f]"
)


class PhraseIndex:
    """All phrases of a vocabulary, ready to match."""

    def __init__(self, entries: list[tuple[str, str, str]]):
        """`entries`: (label, phrase, canonical value)."""
        self.nlp = spacy.blank("en")
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        self.exact_case = PhraseMatcher(self.nlp.vocab, attr="ORTH")  # acronyms that are also words
        self.values: dict[str, tuple[str, str]] = {}  # match key → (label, value)
        self.cjk: list[tuple[str, str, str]] = []
        self.fuzzy: dict[str, list[tuple[str, str]]] = {}
        seen: set[tuple[str, str]] = set()
        for label, phrase, value in entries:
            folded = fold_text(phrase.strip())
            if not folded or (label, folded) in seen:
                continue
            seen.add((label, folded))
            if _CJK.search(folded):
                self.cjk.append((label, folded, value))
                continue
            key = f"{label}\x1f{value}"
            self.values[key] = (label, value)
            raw = phrase.strip()
            if raw.isupper() and folded in _COMMON_WORDS:
                self.exact_case.add(key, [self.nlp.make_doc(raw)])
                continue
            self.matcher.add(key, [self.nlp.make_doc(folded)])
            if label in FUZZY_LABELS and len(folded) >= FUZZY_MIN_CHARS:
                self.fuzzy.setdefault(folded, []).append((label, value))
        self.fuzzy_keys = list(self.fuzzy)

    def find(self, text: str) -> list[Found]:
        text = text[:MAX_CHARS]
        folded = fold_text(text)
        # Latin names glued to Japanese text (「Techteraのパートナー」) are words of their own:
        # the Latin matchers see CJK characters as spaces (same length, so offsets hold).
        latin = _CJK_CHARS.sub(" ", folded)
        doc = self.nlp.make_doc(latin)
        found: list[Found] = []
        raw_doc = self.nlp.make_doc(_CJK_CHARS.sub(" ", text))
        for matcher, d in ((self.matcher, doc), (self.exact_case, raw_doc)):
            for match_id, start, end in matcher(d):
                label, value = self.values[self.nlp.vocab.strings[match_id]]
                span = d[start:end]
                found.append(
                    Found(label, span.start_char, span.end_char, text[span.start_char : span.end_char], value, 1.0)
                )
        for label, phrase, value in self.cjk:
            for m in re.finditer(re.escape(phrase), folded):
                found.append(Found(label, m.start(), m.end(), text[m.start() : m.end()], value, 1.0))
        found += self._fuzzy(doc, text, found)
        found += _regex_entities(text)
        return _resolve_overlaps(found)

    def _fuzzy(self, doc, text: str, exact: list[Found]) -> list[Found]:
        if len(doc) > FUZZY_MAX_TOKENS or not self.fuzzy_keys:
            return []
        covered = set()
        for f in exact:
            covered.update(range(f.start, f.end))
        out = []
        for n in (3, 2, 1):
            for i in range(len(doc) - n + 1):
                span = doc[i : i + n]
                if any(c in covered for c in range(span.start_char, span.end_char)):
                    continue
                words = [t.text for t in span]
                if not any(t.is_alpha for t in span) or words[0] in _STOP or words[-1] in _STOP:
                    continue
                candidate = span.text
                if len(candidate) < FUZZY_MIN_CHARS:
                    continue
                best = process.extractOne(candidate, self.fuzzy_keys, scorer=fuzz.ratio, score_cutoff=FUZZY_SCORE)
                if best is None:
                    continue
                for label, value in self.fuzzy[best[0]]:
                    out.append(
                        Found(
                            label,
                            span.start_char,
                            span.end_char,
                            text[span.start_char : span.end_char],
                            value,
                            round(best[1] / 100, 3),
                        )
                    )
                covered.update(range(span.start_char, span.end_char))
        return out


# The same in German, French and Japanese ("die zweite", "le deuxième", 「2番目」「最後の」).
_ORDINALS_OTHER = {
    r"erste[nmrs]?": 1, r"zweite[nmrs]?": 2, r"dritte[nmrs]?": 3, r"vierte[nmrs]?": 4, r"f(?:ü|ue)nfte[nmrs]?": 5,
    r"letzte[nmrs]?": -1, r"premi(?:er|ère|ere)": 1, r"deuxi(?:è|e)me|second(?:e)?": 2, r"troisi(?:è|e)me": 3,
    r"quatri(?:è|e)me": 4, r"cinqui(?:è|e)me": 5, r"derni(?:er|ère|ere)": -1,
}  # fmt: skip
_ORDINAL_OTHER_RE = re.compile(
    r"\b(?:" + "|".join(f"(?P<o{i}>{p})" for i, p in enumerate(_ORDINALS_OTHER)) + r")\b", re.IGNORECASE
)
_ORDINAL_JA = re.compile(r"(?:(?P<num>[1-9１-９])|(?P<kanji>[一二三四五]))\s*(?:番目|つ目|件目)|(?P<last>最後)")
_KANJI_DIGIT = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}


def _regex_entities(text: str) -> list[Found]:
    out = []
    for m in _ORDINAL_RE.finditer(text):
        value = _ORDINAL_WORDS[m.group("word").lower()] if m.group("word") else int(m.group("num"))
        out.append(Found("ordinal", m.start(), m.end(), m.group(0), str(value), 1.0))
    values = list(_ORDINALS_OTHER.values())
    for m in _ORDINAL_OTHER_RE.finditer(text):
        index = next(int(k[1:]) for k, v in m.groupdict().items() if v)
        out.append(Found("ordinal", m.start(), m.end(), m.group(0), str(values[index]), 0.9))
    for m in _ORDINAL_JA.finditer(text):
        if m.group("last"):
            value = -1
        elif m.group("num"):
            value = int(unicodedata.normalize("NFKC", m.group("num")))
        else:
            value = _KANJI_DIGIT[m.group("kanji")]
        out.append(Found("ordinal", m.start(), m.end(), m.group(0), str(value), 1.0))
    for m in _YEAR_RE.finditer(text):
        out.append(Found("year", m.start(), m.end(), m.group(0), m.group(0), 1.0))
    return out


def _resolve_overlaps(found: list[Found]) -> list[Found]:
    """Longest span wins; on the very same span every label is kept (once)."""
    rank = {label: i for i, label in enumerate(PRIORITY)}
    ordered = sorted(found, key=lambda f: (-(f.end - f.start), -f.confidence, rank.get(f.label, 99), f.start))
    kept: list[Found] = []
    for f in ordered:
        clash = [k for k in kept if f.start < k.end and k.start < f.end]
        if not clash:
            kept.append(f)
            continue
        if all((k.start, k.end) == (f.start, f.end) and k.label != f.label for k in clash):
            kept.append(f)
    unique = {(f.label, f.start, f.end): f for f in kept}
    return sorted(unique.values(), key=lambda f: (f.start, rank.get(f.label, 99)))
