"""Small lookups for the dialogue: is this a sector/place we know, and where do an
organisation's facts come from."""

from __future__ import annotations

from collections.abc import Iterable

from db.common import sources_for
from db.engine import session_scope
from db.reference import reference
from db.results import SourceRef


def sector_name(text: str | None, url: str | None = None) -> str | None:
    """The canonical name of the sector meant by `text` (synonym, typo), or None."""
    if not text:
        return None
    with session_scope(url) as session:
        row = reference(session).resolve_sector(text)
        return row.name if row else None


def place_name(text: str | None, url: str | None = None) -> str | None:
    """The canonical name of the place or country meant by `text` (variant, demonym), or None."""
    if not text:
        return None
    with session_scope(url) as session:
        row = reference(session).resolve_place(text)
        return row.name if row else None


def organisation_sources(org_ids: Iterable[str], url: str | None = None) -> dict[str, list[SourceRef]]:
    """The evidence of each organisation id."""
    with session_scope(url) as session:
        return dict(sources_for(session, "organisations", list(org_ids)))
