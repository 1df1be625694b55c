"""LanguageDetector: which of English, Japanese, German and French a message is written in.

Emits an entity `language` (en/ja/de/fr) that fills the `language` slot, so the conversation
keeps its language and every reply is chosen in it. It emits nothing when unsure ("ok", "BioM?",
a bare organisation name): the conversation's language stays as it was.

* an explicit request wins: "in English please", 「日本語でお願いします」, "auf Deutsch bitte",
  "en français svp";
* Japanese is recognised by its script (kana, or kanji without Chinese-only context): a German
  sentence with 大阪 in it is still German, a Japanese one with "Medicon Valley" still Japanese;
* otherwise lingua (rule-based n-gram models shipped inside the wheel, nothing downloaded) over
  the text with the knowledge-base names removed — organisation names are English-looking in
  every language and would tip short French or German questions to English.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.switch import SWITCH

LANGUAGES = ("en", "ja", "de", "fr")
_KANA = re.compile(r"[\u3040-\u30ff\uff66-\uff9f]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_LETTER = re.compile(r"[^\W\d_]")
MIN_CONFIDENCE = 0.80


def _words(text: str) -> list[str]:
    return text.split()


# Short follow-ups ("und in Kobe?", "wann?", "et avec qui ?") are too short for n-gram models:
# words that belong to one of the four languages only decide them.
MARKERS = {
    "en": frozenset(
        _words(
            "the and what when where who which how many much with their they is are do does did "
            "please show thanks thank"
        )
    ),
    "de": frozenset(
        _words(
            "und wann wie wer welche welcher welches gibt ist sind mit ihre ihr sie bitte auch noch "
            "nicht über für danke"
        )
    ),
    "fr": frozenset(
        _words(
            "et quand comment combien qui quel quelle quels quelles avec leurs leur est sont pour les "
            "des une svp aussi merci"
        )
    ),
}
MIN_LETTERS = 8


@functools.cache
def _detector():
    from lingua import Language, LanguageDetectorBuilder

    languages = {Language.ENGLISH: "en", Language.JAPANESE: "ja", Language.GERMAN: "de", Language.FRENCH: "fr"}
    built = LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models().build()
    return built, languages


def detect(text: str, names: list[tuple[int, int]] = ()) -> tuple[str | None, float, bool]:
    """(language or None when unsure, confidence, whether the user asked for it explicitly)."""
    for lang, pattern in SWITCH.items():
        if pattern.search(text or ""):
            return lang, 1.0, True
    rest = text or ""
    for start, end in sorted(names, reverse=True):
        rest = rest[:start] + " " + rest[end:]
    letters = _LETTER.findall(rest)
    if not letters:
        return None, 0.0, False
    cjk = _CJK.findall(rest)
    if _KANA.search(rest) or (cjk and len(cjk) / len(letters) >= 0.5):
        return "ja", 1.0, False
    words = set(re.findall(r"[^\W\d_]+", rest.casefold()))
    votes = {lang: len(words & markers) for lang, markers in MARKERS.items()}
    marked = [lang for lang, n in votes.items() if n]
    if len(letters) >= MIN_LETTERS:
        detector, languages = _detector()
        values = detector.compute_language_confidence_values(rest)
        if values:
            top = values[0]
            lang = languages.get(top.language)
            if lang and top.value >= MIN_CONFIDENCE:
                return lang, top.value, False
    if len(marked) == 1:
        return marked[0], 0.75, False
    return None, 0.0, False


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class LanguageDetector(GraphComponent, EntityExtractorMixin):
    """Tags each message with the language it is written in (entity `language`), when sure."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        return cls()

    @staticmethod
    def required_packages() -> list[str]:
        return ["lingua"]

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if not text.strip():
                continue
            found = message.get(ENTITIES, [])
            names = [(e["start"], e["end"]) for e in found if isinstance(e.get("start"), int) and e.get("end")]
            lang, confidence, _ = detect(text, names)
            if lang is None:
                continue
            entity = {"entity": "language", "start": 0, "end": len(text), "value": lang, "confidence": confidence}
            message.set(ENTITIES, found + self.add_extractor_name([entity]), add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
