"""Looking up one organisation: by id or by (fuzzy) name, with its details."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import models as m
from db.common import sources_for, summaries
from db.engine import session_scope
from db.names import match_names
from db.reference import Reference, reference
from db.results import OrgDetail, OrgSummary

RESOLVE_MIN_SCORE = 80.0
_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def find_org_pk(session: Session, name_or_id: str | None) -> tuple[int | None, list[str]]:
    """The organisation meant by `name_or_id` and, when unsure, names the user may have meant."""
    if not name_or_id or not str(name_or_id).strip():
        return None, []
    # Only a slug can be an id; anything else (e.g. text with NUL bytes, which PostgreSQL
    # rejects in a parameter) goes straight to the name search, which cleans its input.
    if _ID.fullmatch(str(name_or_id)):
        pk = session.scalar(select(m.Organisation.pk).where(m.Organisation.id == str(name_or_id)[:200]))
        if pk is not None:
            return pk, []
    matches = match_names(session, name_or_id, limit=5, min_score=60)
    if (
        matches
        and matches[0].score >= RESOLVE_MIN_SCORE
        and (len(matches) == 1 or matches[0].score - matches[1].score >= 3 or matches[0].exact)
    ):
        return matches[0].org_pk, []
    names = session.execute(
        select(m.Organisation.pk, m.Organisation.name).where(m.Organisation.pk.in_([x.org_pk for x in matches]))
    ).all()
    by_pk = dict(names)
    return None, [by_pk[x.org_pk] for x in matches if x.org_pk in by_pk]


def resolve_organisation(name_or_id: str | None, url: str | None = None) -> tuple[OrgSummary | None, list[str]]:
    """The organisation meant by a name, alias, typo'd name or id; else did-you-mean names."""
    with session_scope(url) as session:
        pk, suggestions = find_org_pk(session, name_or_id)
        if pk is None:
            return None, suggestions
        return summaries(session, reference(session), [pk])[pk], []


def get_organisation(name_or_id: str | None, url: str | None = None) -> tuple[OrgDetail | None, list[str]]:
    """Full details of one organisation, with its sources; else did-you-mean names."""
    with session_scope(url) as session:
        pk, suggestions = find_org_pk(session, name_or_id)
        if pk is None:
            return None, suggestions
        return detail(session, reference(session), pk), []


def detail(session: Session, ref: Reference, pk: int) -> OrgDetail:
    org = session.get(m.Organisation, pk)
    groups = _related_names(session, m.Membership.group_pk, m.Membership.member_pk, pk)
    members = _related_names(session, m.Membership.member_pk, m.Membership.group_pk, pk)
    n_ties = session.scalar(
        select(func.count())
        .select_from(m.Partnership)
        .where((m.Partnership.org_a_pk == pk) | (m.Partnership.org_b_pk == pk))
    )
    n_contacts = session.scalar(select(func.count()).select_from(m.Contact).where(m.Contact.org_pk == pk))
    aliases = [n.name for n in org.names if n.name != org.name]
    return OrgDetail(
        org=summaries(session, ref, [pk])[pk],
        aliases=aliases,
        description=org.description,
        interests=org.interests,
        members=org.members,
        smes=org.smes,
        member_of=list(groups),
        has_members=list(members),
        partnership_count=n_ties,
        contact_count=n_contacts,
        sources=sources_for(session, "organisations", [org.id]).get(org.id, []),
    )


def _related_names(session: Session, other_side, this_side, pk: int) -> list[str]:
    """Names of the organisations on `other_side` of the memberships whose `this_side` is `pk`."""
    return list(
        session.scalars(
            select(m.Organisation.name)
            .join(m.Membership, other_side == m.Organisation.pk)
            .where(this_side == pk)
            .order_by(m.Organisation.name)
        )
    )
