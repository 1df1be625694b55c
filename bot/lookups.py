"""Regenerate data/nlu/lookups.yml — lookup tables for the RegexFeaturizer (an intent feature:
"this message names a programme / an event / an organisation …") — from the knowledge base's
vocabulary. Entities themselves always come from the live database (nlu_components/kb_entities.py);
rerun this after large imports, then retrain.

Usage: python -m bot.lookups
"""

from __future__ import annotations

from bot.settings import ROOT
from nlu_components.matcher import _COMMON_WORDS, _STOP

LABELS = ("org_name", "programme", "event_name", "sector", "place", "country")
# Vocabulary entries that are ordinary words or too vague to be a useful feature.
EXCLUDE = {
    "inno", "cabinet", "ec", "the commission", "sharp", "olympus", "alliance", "elbe", "da vinci", "technopolis",
    "japanese pharma", "japanese pharma company", "one of the biggest japanese pharma players", "osaka cluster",
    "kobe cluster", "kobe region", "schleswig-holstein region", "bio", "health", "wind", "hydro", "digital",
    "software", "gas", "sport", "leisure", "cars", "vehicles", "electricity", "drugs", "medicines", "pharmacy",
    "infection", "inflammatory", "infectious", "packaging", "clothing", "nano", "robot", "pv", "cro", "cns", "mnt",
    "alba", "sa (australia)", "bw", "idf", "aura", "goto", "kinki", "prc", "u.s.", "us", "america", "english",
    "cancer", "beauty", "perfume", "optics", "tumour", "tumor", "agro", "food pack", "network", "ebd", "cbf", "ptj",
    "oes",
}  # fmt: skip
HEADER = (
    'version: "3.1"\n\n# Lookup tables for the RegexFeaturizer (intent features only: "this message names a '
    'programme /\n# an event / an organisation ..."), generated from the knowledge-base vocabulary. Entities '
    "themselves\n# are still extracted from the live database by nlu_components/kb_entities.py.\nnlu:\n"
)


def tables() -> dict[str, list[str]]:
    import db

    vocab = db.vocabulary()
    out: dict[str, list[str]] = {label: [] for label in LABELS}
    places = {e.phrase.lower() for e in vocab.entries if e.label in ("place", "country")}
    for e in vocab.entries:
        phrase, low = e.phrase.strip(), e.phrase.strip().lower()
        if e.label not in out or low in EXCLUDE or low in _COMMON_WORDS or low in _STOP:
            continue
        if (e.label == "org_name" and low in places) or (len(phrase) < 3 and phrase not in ("EU", "UK")):
            continue
        if low not in (x.lower() for x in out[e.label]):
            out[e.label].append(phrase)
    return out


def main() -> None:
    lines = [HEADER]
    found = tables()
    for name, phrases in found.items():
        lines.append(f"- lookup: {name}\n  examples: |\n" + "".join(f"    - {p}\n" for p in phrases) + "\n")
    (ROOT / "data" / "nlu" / "lookups.yml").write_text("".join(lines))
    print({k: len(v) for k, v in found.items()})


if __name__ == "__main__":
    main()
