"""Every reply in the user's language: the language of each message, the conversation's language,
and catalogues without a missing key in any language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from actions import i18n
from actions.session import hinted_language
from nlu_components.language import detect

ROOT = Path(__file__).resolve().parent.parent
OTHER = ("ja", "de", "fr")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("who does osaka bio headquarters partner with?", "en"),
        ("Wie groß ist der japanische Markt für Medizinprodukte?", "de"),
        ("Avec qui coopère-t-elle au Japon ?", "fr"),
        ("RITプログラムとは何ですか？欧州のクラスターも応募できますか？", "ja"),
        ("und in Kobe?", "de"),
        ("et leurs partenaires ?", "fr"),
        ("Welche Cluster gibt es in 大阪?", "de"),  # a Japanese place name in a German sentence
        ("in English please", "en"),
        ("日本語でお願いします", "ja"),
        ("auf Deutsch bitte", "de"),
        ("ok", None),  # too short to tell: the conversation keeps its language
        ("BioM?", None),
    ],
)
def test_the_language_of_a_message(text, expected):
    assert detect(text)[0] == expected


def test_organisation_names_do_not_tip_a_french_question_to_english():
    text = "Avec qui Cosmetic Valley coopère-t-elle au Japon ?"
    start = text.index("Cosmetic Valley")
    assert detect(text, [(start, start + len("Cosmetic Valley"))])[0] == "fr"


@pytest.mark.parametrize(("meta", "lang"), [({"language": "ja-JP"}, "ja"), ({"language": "de_AT"}, "de"),
                                             ({"language": "es"}, None), ({}, None), (None, None)])  # fmt: skip
def test_the_channel_hint_counts_only_for_languages_the_assistant_speaks(meta, lang):
    assert hinted_language(meta) == lang


def used_msgids() -> set[str]:
    """Every text the actions pass through tr() or button(), by scanning their source."""
    found = set()
    for path in (ROOT / "actions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'\btr\(\s*"([^"]+)"', source))
        found |= set(re.findall(r'\bbutton\(\s*"([^"]+)"', source))
    return found


def test_every_text_the_actions_compose_is_in_the_english_catalogue():
    english = yaml.safe_load((ROOT / "locales" / "actions" / "en.yml").read_text(encoding="utf-8"))
    used = used_msgids()
    assert len(used) > 30, "the scan found too little — it is broken"
    assert not sorted(used - set(english)), "add these to locales/actions/en.yml"


@pytest.mark.parametrize("lang", OTHER)
def test_no_text_is_missing_in_any_language(lang):
    english = yaml.safe_load((ROOT / "locales" / "actions" / "en.yml").read_text(encoding="utf-8"))
    other = i18n.catalogue(lang)
    missing = sorted(set(english) - set(other))
    assert not missing, f"{lang}: no translation for {missing[:10]}"
    for key, text in other.items():
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(key)), f"{lang}: placeholders of {key!r}"


@pytest.mark.parametrize("lang", OTHER)
def test_every_response_has_a_variant_in_every_language(lang):
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    for name, variants in domain["responses"].items():
        english = [v for v in variants if not v.get("condition")]
        mine = [
            v
            for v in variants
            if any(c.get("name") == "language" and c.get("value") == lang for c in v.get("condition") or [])
        ]
        assert mine, f"{name} has no {lang} variant"
        wanted = set(PLACEHOLDER.findall(english[0].get("text", "")))
        for v in mine:
            assert set(PLACEHOLDER.findall(v.get("text", ""))) == wanted, f"{name} ({lang}): placeholders differ"


def test_a_missing_or_broken_translation_falls_back_to_english(monkeypatch):
    monkeypatch.setattr(i18n, "catalogue", lambda lang: {"Details of {name}": "詳細 {nom}"})
    i18n.set_language("ja")
    try:
        assert i18n.tr("Details of {name}", name="BioM") == "Details of BioM"
        assert i18n.tr("Show more") == "Show more"
    finally:
        i18n.set_language("en")
