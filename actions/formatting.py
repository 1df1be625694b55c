"""Turning db results into channel-neutral messages: numbered lines for text, buttons for the
next steps, and a structured `custom` payload that channels may render as cards."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from actions.i18n import tr
from db.results import OrgSummary, SourceRef

PAGE = 5


def place_text(org: OrgSummary) -> str:
    parts = [p for p in (org.place, org.country) if p]
    parts = list(dict.fromkeys(parts))
    return ", ".join(parts) if parts else tr("location not stated")


def numbered(lines: Sequence[str], start: int = 1) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start))


def org_line(org: OrgSummary, reasons: Iterable[str]) -> str:
    why = "; ".join(list(reasons)[:3])
    return f"**{org.name}** — {place_text(org)}" + (f": {why}" if why else "")


def sources_text(sources: Iterable[SourceRef]) -> str:
    titles = list(dict.fromkeys(s.title for s in sources))
    if not titles:
        return tr("Source: the Kakehashi knowledge base.")
    if len(titles) <= 3:
        return tr("Source: {titles}.", titles="; ".join(titles))
    return tr("Source: {titles}; and {count} more.", titles="; ".join(titles[:3]), count=len(titles) - 3)


def card(org: OrgSummary, reason: str | None = None) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "place": org.place,
        "country": org.country,
        "sectors": sorted(org.sectors, key=lambda sector: sector not in (reason or ""))[:5],
        "kind": org.kind,
        "website": org.website,
        "reason": reason,
    }


def payload(intent: str, **values: Any) -> str:
    values = {k: v for k, v in values.items() if v is not None}
    return f"/{intent}" + (json.dumps(values, ensure_ascii=False, separators=(",", ":")) if values else "")


def button(title: str, intent: str, **values: Any) -> dict[str, str]:
    """A reply button; `title` is translated when it is a plain catalogue text."""
    return {"title": tr(title)[:64], "payload": payload(intent, **values)}


def introduce_button(name: str) -> dict[str, str]:
    return button(tr("Introduce me to {name}", name=name), "request_introduction", org_name=name)


def details_button(name: str) -> dict[str, str]:
    return button(tr("Details of {name}", name=name), "ask_details", org_name=name)


def person_button() -> dict[str, str]:
    return button("Talk to a person", "human_handoff")


def next_step_buttons(count: int, has_more: bool, first_name: str | None = None) -> list[dict[str, str]]:
    """More / details / introduction / a person, for a list of `count` results."""
    buttons = []
    if has_more:
        buttons.append(button("Show more", "show_more"))
    if count:
        buttons.append(button(tr("Details of no. {n}", n=1) if count > 1 else "Details", "ask_details", ordinal="1"))
    if count > 1:
        buttons.append(button(tr("Details of no. {n}", n=2), "ask_details", ordinal="2"))
    if first_name:
        buttons.append(introduce_button(first_name))
    buttons.append(button("Talk to a person", "human_handoff"))
    return buttons


def custom(kind: str, items: list[dict[str, Any]], sources: Iterable[SourceRef] = (), **extra: Any) -> dict[str, Any]:
    titles = list(dict.fromkeys(s.title for s in sources))
    return {"kakehashi": {"type": kind, "items": items, "sources": titles, **extra}}
