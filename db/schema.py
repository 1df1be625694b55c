"""What a dataset record may hold: fields, types, allowed values and references."""

from __future__ import annotations

from dataclasses import dataclass

PLACE_KINDS = ("city", "prefecture", "state", "region", "macro_region", "country", "union")
ORG_KINDS = (
    "cluster",
    "meta_cluster",
    "cluster_partnership",
    "cluster_management",
    "foundation",
    "association",
    "public_body",
    "agency",
    "company",
    "research_institute",
    "university",
    "network",
    "region",
)
PARTNERSHIP_KINDS = (
    "mou",
    "letter_of_intent",
    "rit_project",
    "ministerial_moc",
    "regional_agreement",
    "mission_contact",
    "gateway_agreement",
    "distribution_agreement",
    "business_contact",
    "matchmaking",
    "cooperation",
)
PARTNERSHIP_STATUSES = (
    "active",
    "signed",
    "ongoing",
    "exploratory",
    "no_agreement",
    "dormant",
    "planned",
)
EVENT_KINDS = (
    "fair",
    "conference",
    "partnering",
    "mission",
    "symposium",
    "workshop",
    "matchmaking",
    "webinar",
)
RULE_KINDS = (
    "applicant_country_in",
    "partner_country_in",
    "applicant_kind_in",
    "requires_previous_contact",
    "requires_market_ready",
    "sector_in",
)


@dataclass(frozen=True)
class Field:
    """One field of a record: its type, whether required, allowed values, what it refers to."""

    type: str  # str | int | float | strlist | reflist | ref | enum | date | figures | rules | evidence | code
    required: bool = False
    choices: tuple[str, ...] = ()
    ref: str | None = None  # section the value refers to
    max_len: int = 2000  # for str/slug: the text; for strlist: each item (the column's size)


# Longest text each kind of column holds (db.models): a longer value is a dataset problem, not a
# database error (PostgreSQL refuses it, SQLite would store it silently).
ID, NAME, LONG_NAME = 120, 200, 300
MAX_INT = 2**31 - 1  # Integer columns
S, REQ = Field("str"), Field("str", required=True)
SLUG_ID = Field("slug", True, max_len=ID)
SECTIONS: dict[str, dict[str, Field]] = {
    "sources": {
        "id": SLUG_ID,
        "file": Field("str", True, max_len=255),
        "title": REQ,
        "publisher": S,
        "year": Field("int"),
    },
    "places": {
        "id": SLUG_ID,
        "name": Field("str", True, max_len=NAME),
        "kind": Field("enum", True, PLACE_KINDS),
        "parent": Field("ref", ref="places"),
        "country": Field("code"),
        "aliases": Field("strlist", max_len=NAME),
    },
    "sectors": {
        "id": SLUG_ID,
        "name": Field("str", True, max_len=NAME),
        "parent": Field("ref", ref="sectors"),
        "synonyms": Field("strlist", max_len=NAME),
    },
    "organisations": {
        "id": SLUG_ID,
        "name": Field("str", True, max_len=LONG_NAME),
        "aliases": Field("strlist", max_len=LONG_NAME),
        "kind": Field("enum", True, ORG_KINDS),
        "country": Field("code"),
        "place": Field("ref", ref="places"),
        "member_of": Field("reflist", ref="organisations"),
        "members": Field("int"),
        "smes": Field("int"),
        "description": S,
        "interests": S,
        "sectors": Field("reflist", ref="sectors"),
        "website": Field("str", max_len=500),
        "evidence": Field("evidence", True),
    },
    "partnerships": {
        "id": SLUG_ID,
        "parties": Field("reflist", True, ref="organisations"),
        "kind": Field("enum", True, PARTNERSHIP_KINDS),
        "year": Field("int"),
        "status": Field("enum", choices=PARTNERSHIP_STATUSES),
        "outcome": S,
        "programme": Field("ref", ref="programmes"),
        "sectors": Field("reflist", ref="sectors"),
        "evidence": Field("evidence", True),
    },
    "programmes": {
        "id": SLUG_ID,
        "name": Field("str", True, max_len=LONG_NAME),
        "aliases": Field("strlist", max_len=LONG_NAME),
        "operator": Field("ref", ref="organisations"),
        "started": Field("int"),
        "description": S,
        "rules": Field("rules"),
        "sectors": Field("reflist", ref="sectors"),
        "evidence": Field("evidence", True),
    },
    "events": {
        "id": SLUG_ID,
        "name": Field("str", True, max_len=LONG_NAME),
        "series": Field("str", max_len=NAME),
        "kind": Field("enum", True, EVENT_KINDS),
        "start": Field("date"),
        "end": Field("date"),
        "place": Field("ref", ref="places"),
        "organisers": Field("reflist", ref="organisations"),
        "participants": Field("reflist", ref="organisations"),
        "sectors": Field("reflist", ref="sectors"),
        "figures": Field("figures"),
        "description": S,
        "evidence": Field("evidence", True),
    },
    "contacts": {
        "id": SLUG_ID,
        "name": Field("str", True, max_len=NAME),
        "role": S,
        "organisation": Field("ref", ref="organisations"),
        "email": Field("str", max_len=LONG_NAME),
        "evidence": Field("evidence", True),
    },
    "market_facts": {
        "id": SLUG_ID,
        "topic": Field("str", True, max_len=NAME),
        "sector": Field("ref", ref="sectors"),
        "metric": Field("str", True, max_len=LONG_NAME),
        "value": Field("float"),
        "unit": Field("str", max_len=100),
        "year": Field("int"),
        "note": S,
        "evidence": Field("evidence", True),
    },
}
# Import order: a section only refers to sections before it (programmes → organisations is
# resolved because organisations come first; partnerships → programmes likewise).
ORDER = (
    "sources",
    "places",
    "sectors",
    "organisations",
    "programmes",
    "partnerships",
    "events",
    "contacts",
    "market_facts",
)
