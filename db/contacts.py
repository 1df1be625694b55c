"""People named in the documents, by organisation or by name."""

from __future__ import annotations

from sqlalchemy import select

from db import models as m
from db.common import sources_for, summaries
from db.engine import session_scope
from db.organisations import find_org_pk
from db.reference import reference
from db.results import ContactInfo, OrgSummary


def contacts_of(org: str | None, url: str | None = None) -> tuple[OrgSummary | None, list[ContactInfo], list[str]]:
    """The organisation meant, its contacts, and did-you-mean names when it was not found."""
    with session_scope(url) as session:
        pk, suggestions = find_org_pk(session, org)
        if pk is None:
            return None, [], suggestions
        rows = list(session.scalars(select(m.Contact).where(m.Contact.org_pk == pk).order_by(m.Contact.name)))
        if not rows:
            # a meta-cluster or network is reached through its members' people (their
            # organisation is named with each contact)
            members = select(m.Membership.member_pk).where(m.Membership.group_pk == pk)
            rows = list(
                session.scalars(select(m.Contact).where(m.Contact.org_pk.in_(members)).order_by(m.Contact.name))
            )
        return summaries(session, reference(session), [pk])[pk], _infos(session, rows), []


def _infos(session, rows: list[m.Contact]) -> list[ContactInfo]:
    sources = sources_for(session, "contacts", [c.id for c in rows])
    return [
        ContactInfo(
            c.id, c.name, c.role, c.organisation.name if c.organisation else None, c.email, sources.get(c.id, [])
        )
        for c in rows
    ]
