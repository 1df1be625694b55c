"""CJKWhitespaceTokenizer: Rasa's WhitespaceTokenizer, but keeping Chinese/Japanese/Korean text.

Rasa's WhitespaceTokenizer drops every whitespace-separated word that consists only of characters
in its emoji range (U+24C2–U+1F251), which covers all CJK scripts: "biotech clusters near 大阪"
reaches the featurizers as "biotech clusters near", and "大阪のバイオクラスター" as one opaque
token. This tokenizer splits CJK text instead of dropping it:

* Japanese (kanji and kana): words from SudachiPy's morphological analyser (mode C, the
  `sudachidict_core` dictionary, which ships as a package — nothing is downloaded):
  「大阪の再生医療クラスター」 → 大阪 / の / 再生 / 医療 / クラスター;
* hangul: one token per character.

Latin text is tokenised exactly like the WhitespaceTokenizer (same regex, same emoji removal).
Token offsets are offsets into the raw message text, so entities found by the knowledge-base
extractor (which works on raw text offsets) line up with token boundaries.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

import regex
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

# Same pattern as rasa.nlu.tokenizers.whitespace_tokenizer.WhitespaceTokenizer.tokenize.
_SEPARATORS = regex.compile(
    r"[^\w#@&]+(?=\s|$)|"
    r"(\s|^)[^\w#@&]+(?=[^0-9\s])|"
    r"(?<=[^0-9\s])[^\w._~:/?#\[\]()@!$&*+,;=-]+(?=[^0-9\s])"
)

_HIRAGANA = "\u3040-\u309f"
_KATAKANA = "\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_IDEOGRAPHS = "\u3005\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"

# One match per token-sized piece of a whitespace-separated word.
_PIECES = regex.compile(
    rf"(?P<ja>[{_HIRAGANA}{_KATAKANA}{_IDEOGRAPHS}ー]+)|(?P<hangul>[{_HANGUL}])"
    rf"|(?P<other>[^{_HIRAGANA}{_KATAKANA}{_IDEOGRAPHS}{_HANGUL}ー]+)"
)


@functools.cache
def _sudachi():
    from sudachipy import Dictionary, SplitMode

    return Dictionary(dict="core").tokenizer(mode=SplitMode.C)


def japanese_words(text: str) -> list[str]:
    """Japanese text as words (SudachiPy, mode C), blanks dropped."""
    return [m.surface() for m in _sudachi().tokenize(text) if m.surface().strip()]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class CJKWhitespaceTokenizer(WhitespaceTokenizer):
    """Whitespace tokenizer that keeps CJK characters as tokens."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**WhitespaceTokenizer.get_default_config()}

    @staticmethod
    def required_packages() -> list[str]:
        return ["sudachipy", "sudachidict_core"]

    @staticmethod
    def not_supported_languages() -> list[str] | None:
        return None

    def _split_word(self, word: str) -> list[str]:
        pieces: list[str] = []
        for m in _PIECES.finditer(word):
            piece = m.group(0)
            if m.lastgroup == "other":
                piece = self.remove_emoji(piece)
                if piece:
                    pieces.append(piece)
            elif m.lastgroup == "ja":
                pieces.extend(japanese_words(piece))
            else:
                pieces.append(piece)
        return pieces

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        text = message.get(attribute)
        # Full-width letters and digits (ＲＩＴ, ２０１４) and half-width kana as their ordinary
        # forms; NFKC maps these one character to one, so offsets into the raw text still hold.
        folded = unicodedata.normalize("NFKC", text)
        if len(folded) == len(text):
            text = folded
        words = [piece for word in _SEPARATORS.sub(" ", text).split() for piece in self._split_word(word)]
        if not words:  # e.g. only emoji: use the whole text as one token (as WhitespaceTokenizer)
            words = [text]
        tokens = self._convert_words_to_tokens(words, text)
        return self._apply_token_pattern(tokens)
