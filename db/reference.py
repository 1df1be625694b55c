"""Small reference tables (places, sectors, programmes) cached per process and refreshed when
the knowledge-base version changes, plus resolving what users type to their records."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models as m
from db.text import fold

CHECK_EVERY_S = 2.0

# Adjectives people use for places ("Japanese clusters", "a French SME"). Language, not facts.
DEMONYMS = {
    "japanese": "japan",
    "french": "france",
    "german": "germany",
    "italian": "italy",
    "spanish": "spain",
    "british": "united kingdom",
    "english": "united kingdom",
    "scottish": "scotland",
    "european": "european union",
    "dutch": "netherlands",
    "belgian": "belgium",
    "austrian": "austria",
    "swedish": "sweden",
    "greek": "greece",
    "korean": "south korea",
    "australian": "australia",
    "canadian": "canada",
    "american": "united states",
    "catalan": "catalonia",
    "bavarian": "bavaria",
    "danish": "denmark",
    "finnish": "finland",
    "polish": "poland",
    "portuguese": "portugal",
    "czech": "czech republic",
    "irish": "ireland",
    "lithuanian": "lithuania",
    "turkish": "turkey",
}


@dataclass(frozen=True)
class PlaceRow:
    id: str
    name: str
    kind: str
    path: str
    country: str | None
    parent: str | None


@dataclass(frozen=True)
class SectorRow:
    id: str
    name: str
    path: str
    parent: str | None


@dataclass
class Reference:
    version: str
    places: dict[str, PlaceRow] = field(default_factory=dict)
    place_names: dict[str, str] = field(default_factory=dict)  # folded name → place id
    sectors: dict[str, SectorRow] = field(default_factory=dict)
    sector_names: dict[str, str] = field(default_factory=dict)
    programme_names: dict[str, str] = field(default_factory=dict)
    checked_at: float = 0.0

    # ---- places
    def place_chain(self, place_id: str | None) -> list[str]:
        chain = []
        while place_id and place_id in self.places:
            chain.append(self.places[place_id].name)
            place_id = self.places[place_id].parent
        return chain

    def resolve_place(self, text: str | None, countries_only: bool = False) -> PlaceRow | None:
        key = fold(text)
        if not key:
            return None
        key = DEMONYMS.get(key, key)
        pid = self.place_names.get(key) or self.place_names.get(_singular(key))
        if pid is None and key.startswith("the "):
            pid = self.place_names.get(key[4:])
        if pid is None and len(key) >= 4:
            names = list(self.place_names)
            best = process.extractOne(key, names, scorer=fuzz.ratio, score_cutoff=85)
            pid = self.place_names[best[0]] if best else None
        row = self.places.get(pid) if pid else None
        if row and countries_only and row.kind not in {"country", "union"}:
            return None
        return row

    def country_of(self, place: PlaceRow) -> PlaceRow | None:
        cur: PlaceRow | None = place
        while cur is not None:
            if cur.kind in {"country", "union"}:
                return cur
            cur = self.places.get(cur.parent) if cur.parent else None
        return None

    def side_of(self, place: PlaceRow) -> str | None:
        """'japan' or 'europe' (EU member or other European country), else None."""
        if place.country == "JP":
            return "japan"
        if place.path.startswith(self._eu_path()) or place.country in EUROPE_NON_EU:
            return "europe"
        return None

    def _eu_path(self) -> str:
        eu = self.resolve_place("european union")
        return eu.path if eu else "/eu/"

    # ---- sectors
    def resolve_sector(self, text: str | None) -> SectorRow | None:
        key = fold(text)
        if not key:
            return None
        sid = self.sector_names.get(key) or self.sector_names.get(_singular(key))
        if sid is None:
            for suffix in (" sector", " industry", " industries", " cluster", " clusters"):
                if key.endswith(suffix):
                    sid = self.sector_names.get(key[: -len(suffix)].strip())
                    if sid:
                        break
        if sid is None and len(key) >= 4:
            best = process.extractOne(key, list(self.sector_names), scorer=fuzz.ratio, score_cutoff=85)
            sid = self.sector_names[best[0]] if best else None
        return self.sectors.get(sid) if sid else None

    def sector_subtree(self, sector: SectorRow) -> list[str]:
        return [s.id for s in self.sectors.values() if s.path.startswith(sector.path)]

    def sector_relation(self, asked: SectorRow, has_id: str) -> str | None:
        """How sector `has_id` relates to `asked`: same | narrower | broader | sibling | None."""
        has = self.sectors.get(has_id)
        if has is None:
            return None
        if has.id == asked.id:
            return "same"
        if has.path.startswith(asked.path):
            return "narrower"
        if asked.path.startswith(has.path):
            return "broader"
        if has.parent and has.parent == asked.parent:
            return "sibling"
        return None

    def suggest(self, text: str, names: dict[str, str], rows: dict, limit: int = 3) -> list[str]:
        key = fold(text)
        if not key:
            return []
        found = process.extract(key, list(names), scorer=fuzz.WRatio, limit=limit * 3, score_cutoff=72)
        out: list[str] = []
        for name, _score, _i in found:
            canonical = rows[names[name]].name
            if canonical not in out:
                out.append(canonical)
        return out[:limit]

    def resolve_programme(self, text: str | None) -> str | None:
        key = fold(text)
        if not key:
            return None
        pid = self.programme_names.get(key)
        if pid is None:
            for prefix in ("the ", "jetro s ", "jetro "):
                if key.startswith(prefix) and key[len(prefix) :] in self.programme_names:
                    return self.programme_names[key[len(prefix) :]]
            stripped = key.replace(" programme", "").replace(" program", "").strip()
            pid = self.programme_names.get(stripped)
        if pid is None and len(key) >= 3:
            best = process.extractOne(key, list(self.programme_names), scorer=fuzz.WRatio, score_cutoff=86)
            pid = self.programme_names[best[0]] if best else None
        return pid


# Non-EU European countries count as "Europe" for the EU↔Japan direction of matchmaking.
EUROPE_NON_EU = {"GB", "NO", "CH", "IS", "TR", "UA", "RS"}


def _singular(key: str) -> str:
    if key.endswith("ies") and len(key) > 4:
        return key[:-3] + "y"
    if key.endswith("s") and not key.endswith("ss") and len(key) > 3:
        return key[:-1]
    return key


_cache: dict[str, Reference] = {}
_cache_lock = threading.Lock()


def kb_version(session: Session) -> str:
    row = session.get(m.KbMeta, "version")
    return row.value if row else "0"


def reference(session: Session) -> Reference:
    """The cached reference tables for `session`'s database, reloaded when the KB changed."""
    key = str(session.get_bind().url)
    ref = _cache.get(key)
    now = time.monotonic()
    if ref is not None and now - ref.checked_at < CHECK_EVERY_S:
        return ref
    version = kb_version(session)
    if ref is not None and ref.version == version:
        ref.checked_at = now
        return ref
    ref = _load(session, version)
    ref.checked_at = now
    with _cache_lock:
        _cache[key] = ref
    return ref


def invalidate() -> None:
    with _cache_lock:
        _cache.clear()


def _load(session: Session, version: str) -> Reference:
    ref = Reference(version=version)
    for p in session.scalars(select(m.Place)):
        ref.places[p.id] = PlaceRow(p.id, p.name, p.kind, p.path, p.country_code, p.parent_id)
    # Names of bigger places win over a city's alias of the same spelling ("Osaka" the city vs
    # the prefecture is resolved to the one whose primary name it is).
    rows = session.execute(select(m.PlaceName.norm, m.PlaceName.place_id, m.PlaceName.name)).all()
    for norm, pid, _name in sorted(rows, key=lambda r: (r[2] != ref.places[r[1]].name, len(ref.places[r[1]].path))):
        ref.place_names.setdefault(norm, pid)
    for s in session.scalars(select(m.Sector)):
        ref.sectors[s.id] = SectorRow(s.id, s.name, s.path, s.parent_id)
    for norm, sid in session.execute(select(m.SectorName.norm, m.SectorName.sector_id)):
        ref.sector_names.setdefault(norm, sid)
    for norm, pid in session.execute(select(m.ProgrammeName.norm, m.ProgrammeName.programme_id)):
        ref.programme_names.setdefault(norm, pid)
    return ref
