"""KnowledgeBaseEntityExtractor: tags sectors, places, countries, organisations, programmes,
events, market topics, kinds, ordinals and years from the knowledge base's own vocabulary.

The vocabulary is read from the database at run time (not at training time) and re-read when the
knowledge-base version changes, so an organisation, sector synonym or place imported after
training is recognised without retraining."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.matcher import PhraseIndex

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class KnowledgeBaseEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Entity extractor over the knowledge-base vocabulary (spaCy blank pipeline)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"refresh_seconds": 5.0}

    def __init__(self, config: dict[str, Any]) -> None:
        self.refresh_seconds = float(config.get("refresh_seconds", 5.0))
        self._index: PhraseIndex | None = None
        self._version: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> KnowledgeBaseEntityExtractor:
        return cls(config)

    @staticmethod
    def required_packages() -> list[str]:
        return ["spacy", "rapidfuzz", "sqlalchemy"]

    def _current_index(self) -> PhraseIndex | None:
        now = time.monotonic()
        if self._index is not None and now - self._checked < self.refresh_seconds:
            return self._index
        with self._lock:
            if self._index is not None and now - self._checked < self.refresh_seconds:
                return self._index
            self._checked = now
            try:
                import db

                version = db.current_version()
                if version != self._version or self._index is None:
                    vocab = db.vocabulary()
                    self._index = PhraseIndex([(e.label, e.phrase, e.value) for e in vocab.entries])
                    self._version = vocab.version
                    logger.info(
                        "Knowledge-base vocabulary loaded: %d phrases (version %s)", len(vocab.entries), vocab.version
                    )
            except Exception as exc:  # the database may be down: keep the last vocabulary
                logger.warning("Knowledge-base vocabulary unavailable (%s); using the last one", exc)
        return self._index

    def process(self, messages: list[Message]) -> list[Message]:
        index = self._current_index()
        for message in messages:
            text = message.get(TEXT) or ""
            if index is None or not text.strip():
                continue
            entities = [
                {"entity": f.label, "start": f.start, "end": f.end, "value": f.value, "confidence": f.confidence}
                for f in index.find(text)
            ]
            entities = self.add_extractor_name(entities)
            message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
