"""Figures on Japanese markets."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.common import call_db, clean, entity, guarded, set_focus
from actions.formatting import custom, sources_text


def _value(v: float | None, unit: str | None) -> str:
    if v is None:
        return ""
    return f"{v:g} {unit or ''}".strip()


class ActionMarketFacts(Action):
    def name(self) -> str:
        return "action_market_facts"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        topic = (
            entity(tracker, "market_topic") or entity(tracker, "sector") or clean(tracker.latest_message.get("text"))
        )
        facts = await call_db(db.market_facts, topic, limit=5) if topic else []
        if not facts:
            topics = await call_db(db.market_topics)
            dispatcher.utter_message(
                response="utter_no_market_facts", topic=topic or "that", topics=", ".join(topics[:12])
            )
            return []
        lines = []
        for f in facts:
            year = f" ({f.year})" if f.year else ""
            note = f" — {f.note}" if f.note else ""
            lines.append(f"• {f.topic}, {f.metric}{year}: **{_value(f.value, f.unit)}**{note}")
        dispatcher.utter_message(
            response="utter_market_facts",
            results="\n".join(lines),
            sources=sources_text(s for f in facts for s in f.sources),
            json_message=custom(
                "market_facts",
                [
                    {"topic": f.topic, "metric": f.metric, "value": f.value, "unit": f.unit, "year": f.year}
                    for f in facts
                ],
                [s for f in facts for s in f.sources],
            ),
        )
        return set_focus(("market_facts", [f.id for f in facts]))
