"""The words the assistant should recognise, taken from the knowledge base itself: organisation
names and aliases, sector synonyms, place variants, programmes, events, market topics."""

from __future__ import annotations

from sqlalchemy import select

from db import models as m
from db.engine import session_scope
from db.kinds import KIND_WORDS
from db.partners import PARTNERSHIP_KIND_WORDS
from db.reference import DEMONYMS, kb_version, reference
from db.results import Vocabulary, VocabularyEntry


def current_version(url: str | None = None) -> str:
    """The knowledge-base version: changes whenever something is imported."""
    with session_scope(url) as session:
        return kb_version(session)


def vocabulary(url: str | None = None) -> Vocabulary:
    """Every phrase to recognise with its entity label and canonical value (curated data only)."""
    with session_scope(url) as session:
        ref = reference(session)
        entries: list[VocabularyEntry] = []
        rows = session.execute(
            select(m.OrganisationName.name, m.Organisation.name)
            .join(m.Organisation, m.Organisation.pk == m.OrganisationName.org_pk)
            .where(m.Organisation.synthetic.is_(False))
        )
        entries += [VocabularyEntry("org_name", alias, name) for alias, name in rows]
        for sid, name in session.execute(select(m.SectorName.sector_id, m.SectorName.name)):
            entries.append(VocabularyEntry("sector", name, ref.sectors[sid].name))
        for pid, name in session.execute(select(m.PlaceName.place_id, m.PlaceName.name)):
            place = ref.places[pid]
            label = "country" if place.kind in {"country", "union"} else "place"
            entries.append(VocabularyEntry(label, name, place.name))
        for adjective, place_name in DEMONYMS.items():
            place = ref.resolve_place(place_name)
            if place is not None:
                label = "country" if place.kind in {"country", "union"} else "place"
                entries.append(VocabularyEntry(label, adjective, place.name))
        for pid, name in session.execute(select(m.ProgrammeName.programme_id, m.ProgrammeName.name)):
            entries.append(VocabularyEntry("programme", name, session.get(m.Programme, pid).name))
        for name, series in session.execute(select(m.Event.name, m.Event.series)):
            entries.append(VocabularyEntry("event_name", name, name))
            if series:
                entries.append(VocabularyEntry("event_name", series, series))
        for (topic,) in session.execute(select(m.MarketFact.topic).distinct()):
            entries.append(VocabularyEntry("market_topic", topic, topic))
        entries += [VocabularyEntry("org_kind", word, kind) for word, kind in KIND_WORDS.items()]
        entries += [VocabularyEntry("partnership_kind", word, kind) for word, kind in PARTNERSHIP_KIND_WORDS.items()]
        return Vocabulary(ref.version, entries)
