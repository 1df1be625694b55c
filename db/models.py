"""Tables of the knowledge base. Only db/ imports this module."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()

SLUG = 120
# Materialised paths are compared as byte strings (range scans), so PostgreSQL must not apply a
# locale collation that ignores the "/" separators.
PATH = String(1000).with_variant(postgresql.VARCHAR(1000, collation="C"), "postgresql")


class Source(Base):
    __tablename__ = "sources"
    id = Column(String(SLUG), primary_key=True)
    file = Column(String(255), nullable=False)
    title = Column(Text, nullable=False)
    publisher = Column(Text)
    year = Column(Integer)


class Place(Base):
    """A node of the place hierarchy; `path` is the materialised path of slugs, e.g. /japan/kansai/."""

    __tablename__ = "places"
    id = Column(String(SLUG), primary_key=True)
    name = Column(String(200), nullable=False)
    kind = Column(String(20), nullable=False)
    parent_id = Column(String(SLUG), ForeignKey("places.id"))
    country_code = Column(String(2))
    path = Column(PATH, nullable=False, index=True)
    names = relationship("PlaceName", cascade="all, delete-orphan")


class PlaceName(Base):
    __tablename__ = "place_names"
    id = Column(Integer, primary_key=True)
    place_id = Column(String(SLUG), ForeignKey("places.id", ondelete="CASCADE"), nullable=False)
    name = Column(String(200), nullable=False)
    norm = Column(String(200), nullable=False, index=True)


class Sector(Base):
    __tablename__ = "sectors"
    id = Column(String(SLUG), primary_key=True)
    name = Column(String(200), nullable=False)
    parent_id = Column(String(SLUG), ForeignKey("sectors.id"))
    path = Column(PATH, nullable=False, index=True)
    names = relationship("SectorName", cascade="all, delete-orphan")


class SectorName(Base):
    __tablename__ = "sector_names"
    id = Column(Integer, primary_key=True)
    sector_id = Column(String(SLUG), ForeignKey("sectors.id", ondelete="CASCADE"), nullable=False)
    name = Column(String(200), nullable=False)
    norm = Column(String(200), nullable=False, index=True)


class Organisation(Base):
    __tablename__ = "organisations"
    pk = Column(Integer, primary_key=True)
    id = Column(String(SLUG), nullable=False, unique=True)
    name = Column(String(300), nullable=False)
    kind = Column(String(40), nullable=False, index=True)
    country_code = Column(String(2), index=True)  # null: EU-level or multinational body
    place_id = Column(String(SLUG), ForeignKey("places.id"))  # null: the documents do not say
    place_path = Column(PATH, nullable=False, default="")  # "" when there is no place
    members = Column(Integer)
    smes = Column(Integer)
    description = Column(Text)
    interests = Column(Text)
    website = Column(String(500))
    synthetic = Column(Boolean, nullable=False, default=False)
    # Prominence used to order hits that match equally well: EU-Japan ties, curated data, size.
    rank_weight = Column(Float, nullable=False, default=0.0)

    place = relationship("Place")
    names = relationship("OrganisationName", cascade="all, delete-orphan")
    sectors = relationship("OrganisationSector", cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_org_place_rank", "place_path", "rank_weight"),
        Index("ix_org_rank", "rank_weight"),
    )


class OrganisationName(Base):
    """Name and aliases of an organisation; `norm` is the folded form searched."""

    __tablename__ = "organisation_names"
    id = Column(Integer, primary_key=True)
    org_pk = Column(Integer, ForeignKey("organisations.pk", ondelete="CASCADE"), nullable=False)
    name = Column(String(300), nullable=False)
    norm = Column(String(300), nullable=False, index=True)
    primary = Column(Boolean, nullable=False, default=False)
    __table_args__ = (Index("ix_orgname_org", "org_pk"),)


class OrganisationSector(Base):
    __tablename__ = "organisation_sectors"
    org_pk = Column(Integer, ForeignKey("organisations.pk", ondelete="CASCADE"), primary_key=True)
    sector_id = Column(String(SLUG), ForeignKey("sectors.id"), primary_key=True)
    __table_args__ = (Index("ix_orgsector_sector", "sector_id", "org_pk"),)


class Membership(Base):
    __tablename__ = "memberships"
    member_pk = Column(Integer, ForeignKey("organisations.pk", ondelete="CASCADE"), primary_key=True)
    group_pk = Column(Integer, ForeignKey("organisations.pk", ondelete="CASCADE"), primary_key=True)


class Evidence(Base):
    """Where a record's facts come from: a source document and the passage, verbatim."""

    __tablename__ = "evidence"
    id = Column(Integer, primary_key=True)
    record_type = Column(String(30), nullable=False)
    record_id = Column(String(SLUG), nullable=False)
    source_id = Column(String(SLUG), ForeignKey("sources.id"), nullable=False)
    passage = Column(Text, nullable=False)
    __table_args__ = (Index("ix_evidence_record", "record_type", "record_id"),)


class Partnership(Base):
    __tablename__ = "partnerships"
    pk = Column(Integer, primary_key=True)
    id = Column(String(SLUG), nullable=False, unique=True)
    org_a_pk = Column(Integer, ForeignKey("organisations.pk", ondelete="CASCADE"), nullable=False)
    org_b_pk = Column(Integer, ForeignKey("organisations.pk", ondelete="CASCADE"), nullable=False)
    kind = Column(String(40), nullable=False)
    year = Column(Integer)
    status = Column(String(30))
    outcome = Column(Text)
    programme_id = Column(String(SLUG), ForeignKey("programmes.id"))
    org_a = relationship("Organisation", foreign_keys=[org_a_pk])
    org_b = relationship("Organisation", foreign_keys=[org_b_pk])
    sectors = relationship("PartnershipSector", cascade="all, delete-orphan")
    __table_args__ = (Index("ix_partnership_a", "org_a_pk"), Index("ix_partnership_b", "org_b_pk"))


class PartnershipSector(Base):
    __tablename__ = "partnership_sectors"
    partnership_pk = Column(Integer, ForeignKey("partnerships.pk", ondelete="CASCADE"), primary_key=True)
    sector_id = Column(String(SLUG), ForeignKey("sectors.id"), primary_key=True)


class Programme(Base):
    __tablename__ = "programmes"
    id = Column(String(SLUG), primary_key=True)
    name = Column(String(300), nullable=False)
    operator_pk = Column(Integer, ForeignKey("organisations.pk", ondelete="SET NULL"))
    started = Column(Integer)
    description = Column(Text)
    names = relationship("ProgrammeName", cascade="all, delete-orphan")
    rules = relationship("ProgrammeRule", cascade="all, delete-orphan", order_by="ProgrammeRule.position")
    sectors = relationship("ProgrammeSector", cascade="all, delete-orphan")
    operator = relationship("Organisation")


class ProgrammeName(Base):
    __tablename__ = "programme_names"
    id = Column(Integer, primary_key=True)
    programme_id = Column(String(SLUG), ForeignKey("programmes.id", ondelete="CASCADE"), nullable=False)
    name = Column(String(300), nullable=False)
    norm = Column(String(300), nullable=False, index=True)


class ProgrammeRule(Base):
    __tablename__ = "programme_rules"
    id = Column(Integer, primary_key=True)
    programme_id = Column(String(SLUG), ForeignKey("programmes.id", ondelete="CASCADE"), nullable=False)
    position = Column(Integer, nullable=False)
    kind = Column(String(40), nullable=False)
    values = Column(JSON)
    text = Column(Text, nullable=False)


class ProgrammeSector(Base):
    __tablename__ = "programme_sectors"
    programme_id = Column(String(SLUG), ForeignKey("programmes.id", ondelete="CASCADE"), primary_key=True)
    sector_id = Column(String(SLUG), ForeignKey("sectors.id"), primary_key=True)


class Event(Base):
    __tablename__ = "events"
    pk = Column(Integer, primary_key=True)
    id = Column(String(SLUG), nullable=False, unique=True)
    name = Column(String(300), nullable=False)
    series = Column(String(200))
    kind = Column(String(30), nullable=False)
    start = Column(String(10))  # ISO date, or YYYY-MM / YYYY when that is all that is known
    start_date = Column(Date, index=True)  # first day of `start`, for range queries
    end = Column(String(10))
    place_id = Column(String(SLUG), ForeignKey("places.id"))
    place_path = Column(PATH)
    figures = Column(JSON)
    description = Column(Text)
    place = relationship("Place")
    orgs = relationship("EventOrganisation", cascade="all, delete-orphan")
    sectors = relationship("EventSector", cascade="all, delete-orphan")


class EventOrganisation(Base):
    __tablename__ = "event_organisations"
    event_pk = Column(Integer, ForeignKey("events.pk", ondelete="CASCADE"), primary_key=True)
    org_pk = Column(Integer, ForeignKey("organisations.pk", ondelete="CASCADE"), primary_key=True)
    role = Column(String(20), primary_key=True)  # organiser | participant
    __table_args__ = (Index("ix_eventorg_org", "org_pk"),)


class EventSector(Base):
    __tablename__ = "event_sectors"
    event_pk = Column(Integer, ForeignKey("events.pk", ondelete="CASCADE"), primary_key=True)
    sector_id = Column(String(SLUG), ForeignKey("sectors.id"), primary_key=True)


class Contact(Base):
    __tablename__ = "contacts"
    pk = Column(Integer, primary_key=True)
    id = Column(String(SLUG), nullable=False, unique=True)
    name = Column(String(200), nullable=False)
    role = Column(Text)
    org_pk = Column(Integer, ForeignKey("organisations.pk", ondelete="CASCADE"))
    email = Column(String(300))
    organisation = relationship("Organisation")
    __table_args__ = (Index("ix_contact_org", "org_pk"),)


class MarketFact(Base):
    __tablename__ = "market_facts"
    pk = Column(Integer, primary_key=True)
    id = Column(String(SLUG), nullable=False, unique=True)
    topic = Column(String(200), nullable=False)
    sector_id = Column(String(SLUG), ForeignKey("sectors.id"))
    metric = Column(String(300), nullable=False)
    value = Column(Float)
    unit = Column(String(100))
    year = Column(Integer)
    note = Column(Text)


class KbMeta(Base):
    """Key/value facts about the knowledge base, e.g. `version`, bumped on every import."""

    __tablename__ = "kb_meta"
    key = Column(String(50), primary_key=True)
    value = Column(String(200), nullable=False)


class IntroductionRequest(Base):
    """A user's request to be introduced to an organisation: a lead that staff follow up."""

    __tablename__ = "introduction_requests"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(200), nullable=False, index=True)
    channel = Column(String(40))
    org_pk = Column(Integer, ForeignKey("organisations.pk", ondelete="SET NULL"))
    org_name = Column(String(300), nullable=False)
    profile = Column(JSON)
    message = Column(Text)
    status = Column(String(20), nullable=False, default="new")
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    __table_args__ = (UniqueConstraint("conversation_id", "org_name", name="uq_intro_conv_org"),)
