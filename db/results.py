"""What the db API returns: plain frozen dataclasses, JSON-ready through `to_dict()`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class _Dict:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SourceRef(_Dict):
    """Where a fact comes from."""

    source_id: str
    title: str
    file: str
    passage: str


@dataclass(frozen=True)
class OrgSummary(_Dict):
    id: str
    name: str
    kind: str
    country: str
    place: str  # most precise place name
    place_chain: list[str]  # e.g. ["Osaka", "Osaka Prefecture", "Kansai", "Japan"]
    sectors: list[str]
    website: str | None = None
    synthetic: bool = False


@dataclass(frozen=True)
class OrgHit(_Dict):
    """A search hit: the organisation, its score and why it matched."""

    org: OrgSummary
    score: float
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self.org)
        d.update(score=round(self.score, 3), reasons=list(self.reasons))
        return d


@dataclass(frozen=True)
class Alternative(_Dict):
    """A broader query that does find something, offered when the asked one finds nothing."""

    description: str
    criteria: dict[str, str]
    total: int
    examples: list[str]


@dataclass(frozen=True)
class SearchResult(_Dict):
    hits: list[OrgHit]
    total: int
    total_is_lower_bound: bool
    offset: int
    limit: int
    criteria: dict[str, str]  # resolved criteria, canonical names
    unresolved: dict[str, str] = field(default_factory=dict)  # criterion → what the user said
    suggestions: dict[str, list[str]] = field(default_factory=dict)  # criterion → did-you-mean
    alternatives: list[Alternative] = field(default_factory=list)

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.hits) < self.total


@dataclass(frozen=True)
class OrgDetail(_Dict):
    org: OrgSummary
    aliases: list[str]
    description: str | None
    interests: str | None
    members: int | None
    smes: int | None
    member_of: list[str]
    has_members: list[str]
    partnership_count: int
    contact_count: int
    sources: list[SourceRef]


@dataclass(frozen=True)
class PartnerLink(_Dict):
    """One tie of an organisation, seen from that organisation."""

    partnership_id: str
    partner: OrgSummary
    kind: str
    year: int | None
    status: str | None
    outcome: str | None
    programme: str | None
    sectors: list[str]
    sources: list[SourceRef]
    via: str | None = None  # e.g. "bioXclusters plus" when the tie is the group's, not the member's


@dataclass(frozen=True)
class PartnersResult(_Dict):
    org: OrgSummary | None
    partners: list[PartnerLink]
    query: str = ""
    suggestions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Partnership(_Dict):
    id: str
    a: OrgSummary
    b: OrgSummary
    kind: str
    year: int | None
    status: str | None
    outcome: str | None
    programme: str | None
    sectors: list[str]
    sources: list[SourceRef]


@dataclass(frozen=True)
class Reason(_Dict):
    label: str  # sector_overlap | existing_ties | programme_fit | shared_events | kind_fit | place
    points: float
    text: str


@dataclass(frozen=True)
class Recommendation(_Dict):
    org: OrgSummary
    score: float
    reasons: list[Reason]
    sources: list[SourceRef]


@dataclass(frozen=True)
class Profile(_Dict):
    """Who is asking: what they work on, where they are, where they look, what they are."""

    sectors: list[str] = field(default_factory=list)
    home: str | None = None  # place or country name
    target: str | None = None  # place or country name; default: the other side of EU–Japan
    kind: str | None = None  # sme | company | cluster | university | …
    interests: str | None = None
    previous_contact: bool | None = None
    market_ready: bool | None = None


@dataclass(frozen=True)
class RecommendResult(_Dict):
    recommendations: list[Recommendation]
    profile: dict[str, Any]  # the profile as understood (canonical names)
    unresolved: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RuleCheck(_Dict):
    text: str
    outcome: str  # met | not_met | unknown
    explanation: str


@dataclass(frozen=True)
class ProgrammeInfo(_Dict):
    id: str
    name: str
    aliases: list[str]
    operator: str | None
    started: int | None
    description: str | None
    rules: list[str]
    sectors: list[str]
    sources: list[SourceRef]


@dataclass(frozen=True)
class Eligibility(_Dict):
    programme: ProgrammeInfo
    verdict: str  # eligible | not_eligible | depends | no_rules
    checks: list[RuleCheck]
    advice: str | None = None


@dataclass(frozen=True)
class EventInfo(_Dict):
    id: str
    name: str
    series: str | None
    kind: str
    start: str | None
    end: str | None
    place: str | None
    place_chain: list[str]
    organisers: list[str]
    participants: list[str]
    sectors: list[str]
    figures: dict[str, float]
    description: str | None
    sources: list[SourceRef]


@dataclass(frozen=True)
class ContactInfo(_Dict):
    id: str
    name: str
    role: str | None
    organisation: str | None
    email: str | None
    sources: list[SourceRef]


@dataclass(frozen=True)
class MarketFactInfo(_Dict):
    id: str
    topic: str
    sector: str | None
    metric: str
    value: float | None
    unit: str | None
    year: int | None
    note: str | None
    sources: list[SourceRef]


@dataclass(frozen=True)
class VocabularyEntry(_Dict):
    label: str  # sector | place | country | org_name | programme | event_name | market_topic
    phrase: str  # as written
    value: str  # canonical name


@dataclass(frozen=True)
class Vocabulary(_Dict):
    version: str
    entries: list[VocabularyEntry]
