"""Kakehashi's knowledge base: the only package that knows SQL.

Actions and channels call the functions exported here; each opens its own short session on the
configured database (`DATABASE_URL`, default an embedded SQLite file, migrated and seeded on
first use) and returns plain dataclasses from `db.results`.
"""

from db.contacts import contacts_of
from db.engine import DatabaseUnavailable, dispose_all, session_scope
from db.events import find_events
from db.evidence import (
    EvidenceAnswer,
    answer_from_evidence,
    asked_facts,
    scope_of_names,
    search_evidence,
    unmatched_words,
)
from db.importer import DatasetError, import_path
from db.leads import introduction_requests, request_introduction, set_introduction_status
from db.lookup import organisation_sources, place_name, sector_name
from db.market import market_facts, market_topics
from db.organisations import get_organisation, resolve_organisation
from db.partners import find_partnerships, partners_of, success_stories
from db.programmes import check_eligibility, get_programme, list_programmes
from db.recommend import profile_from, recommend_partners
from db.results import Profile
from db.search import search_organisations
from db.vocabulary import current_version, vocabulary

__all__ = [
    "DatabaseUnavailable",
    "DatasetError",
    "EvidenceAnswer",
    "Profile",
    "answer_from_evidence",
    "asked_facts",
    "check_eligibility",
    "contacts_of",
    "current_version",
    "dispose_all",
    "find_events",
    "find_partnerships",
    "get_organisation",
    "get_programme",
    "import_path",
    "introduction_requests",
    "list_programmes",
    "market_facts",
    "market_topics",
    "organisation_sources",
    "partners_of",
    "place_name",
    "profile_from",
    "recommend_partners",
    "request_introduction",
    "resolve_organisation",
    "scope_of_names",
    "search_evidence",
    "search_organisations",
    "sector_name",
    "session_scope",
    "set_introduction_status",
    "success_stories",
    "unmatched_words",
    "vocabulary",
]
