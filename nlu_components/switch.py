"""The phrases with which a user asks for another language — shared by the language detector and
the actions, without importing Rasa (the action server stays light)."""

from __future__ import annotations

import re

# "in English please", "英語で", "auf Deutsch", "en français": the user chooses.
SWITCH = {
    "en": re.compile(
        r"\b(in|into|auf|en)\s+(english|englisch|anglais)\b|\benglish\s+(please|pls)\b|英語で|英語に", re.I
    ),
    "ja": re.compile(
        r"\b(in|auf|en)\s+(japanese|japanisch|japonais)\b|\bjapanese\s+(please|pls)\b|日本語で|日本語に", re.I
    ),
    "de": re.compile(r"\b(in|auf|en)\s+(german|deutsch|allemand)\b|\bgerman\s+(please|pls)\b|ドイツ語で", re.I),
    "fr": re.compile(
        r"\b(in|auf|en)\s+(french|französisch|fran[cç]ais)\b|\bfrench\s+(please|pls)\b|フランス語で", re.I
    ),
}
