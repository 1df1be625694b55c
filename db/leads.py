"""Introduction requests: leads that staff follow up, and their status for the user."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from db import models as m
from db.engine import session_scope
from db.organisations import find_org_pk

STATUSES = ("new", "in_progress", "introduced", "declined", "closed")
MAX_MESSAGE = 2000
MAX_CONVERSATION_ID = 200  # models.IntroductionRequest.conversation_id


@dataclass(frozen=True)
class IntroductionRequest:
    id: int
    conversation_id: str
    org_name: str
    status: str
    created_at: str
    channel: str | None


def _conversation_key(conversation_id: str | None) -> str | None:
    """The conversation id as stored: without NUL characters (PostgreSQL rejects them) and cut
    to the column's size, so that looking a request up finds what was stored."""
    if not isinstance(conversation_id, str):
        return conversation_id
    return conversation_id.replace("\x00", "")[:MAX_CONVERSATION_ID]


def _info(r: m.IntroductionRequest) -> IntroductionRequest:
    created = r.created_at.isoformat(timespec="minutes") if r.created_at else ""
    return IntroductionRequest(r.id, r.conversation_id, r.org_name, r.status, created, r.channel)


def request_introduction(
    conversation_id: str,
    org: str,
    channel: str | None = None,
    profile: dict | None = None,
    message: str | None = None,
    url: str | None = None,
) -> tuple[IntroductionRequest | None, bool, list[str]]:
    """Record that this conversation asks to be introduced to `org`.

    Returns (request, created, suggestions): `created` is False when the same request already
    existed; request is None (with did-you-mean names) when `org` is not known."""
    conversation_id = _conversation_key(conversation_id)
    message = (message or "").replace("\x00", "")  # PostgreSQL rejects NUL characters
    with session_scope(url, write=True) as session:
        pk, suggestions = find_org_pk(session, org)
        if pk is None:
            return None, False, suggestions
        name = session.get(m.Organisation, pk).name
        existing = session.scalar(
            select(m.IntroductionRequest).where(
                m.IntroductionRequest.conversation_id == conversation_id, m.IntroductionRequest.org_name == name
            )
        )
        if existing is not None:
            return _info(existing), False, []
        now = dt.datetime.now(dt.UTC)
        channel = channel[:40] if channel else None  # models.IntroductionRequest.channel
        row = m.IntroductionRequest(
            conversation_id=conversation_id,
            channel=channel,
            org_pk=pk,
            org_name=name,
            profile=profile or {},
            message=message[:MAX_MESSAGE],
            status="new",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return _info(row), True, []


def introduction_requests(conversation_id: str, url: str | None = None) -> list[IntroductionRequest]:
    """This conversation's introduction requests, newest first."""
    conversation_id = _conversation_key(conversation_id)
    with session_scope(url) as session:
        rows = session.scalars(
            select(m.IntroductionRequest)
            .where(m.IntroductionRequest.conversation_id == conversation_id)
            .order_by(m.IntroductionRequest.created_at.desc(), m.IntroductionRequest.id.desc())
        )
        return [_info(r) for r in rows]


def set_introduction_status(request_id: int, status: str, url: str | None = None) -> IntroductionRequest:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    with session_scope(url, write=True) as session:
        row = session.get(m.IntroductionRequest, request_id)
        if row is None:
            raise LookupError(f"no introduction request {request_id}")
        row.status, row.updated_at = status, dt.datetime.now(dt.UTC)
        return _info(row)
