"""Figures on Japanese markets."""

from __future__ import annotations

from babel.numbers import format_decimal
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.common import call_db, clean, entity, guarded, set_focus
from actions.formatting import custom, sources_text
from actions.i18n import current_language, ordinal, tr


def _value(v: float | None, unit: str | None) -> str:
    """A figure as people write it: "3rd" for a rank, "2024" for a year, "48.6 %"."""
    if v is None:
        return ""
    unit = (unit or "").strip()
    if unit == "rank" and float(v).is_integer():
        return ordinal(int(v))
    if unit == "year" and float(v).is_integer():
        return str(int(v))
    number = format_decimal(v, locale=current_language())
    if unit.startswith("percent"):
        return f"{number} %" + (" " + tr("per year") if "per year" in unit else "")
    return f"{number} {tr(unit) if unit else ''}".strip()


def _is_money(unit: str | None) -> bool:
    return bool(unit) and any(c in unit.lower() for c in ("jpy", "yen", "eur", "€", "usd", "$", "¥"))


def _topic_words(topic: str | None, tracker: Tracker) -> str:
    """What the question was about — its informative words, not the whole sentence quoted back."""
    if not topic or topic != clean(tracker.latest_message.get("text")):
        return topic or tr("that")
    words = db.unmatched_words(topic, [])
    return " ".join(words[:4]) or tr("that")


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
                response="utter_no_market_facts",
                topic=_topic_words(topic, tracker),
                topics=", ".join(topics[:12]),
            )
            return []
        lines = []
        for f in facts:
            year = f" ({f.year})" if f.year else ""
            note = f" — {f.note}" if f.note else ""
            lines.append(f"• {f.topic}, {f.metric}{year}: **{_value(f.value, f.unit)}**{note}")
        # "geothermal market size in euros?", "total healthcare spending per year": figures on the
        # topic exist, but none of them is what was asked — say so, then show what there is.
        question = clean(tracker.latest_message.get("text"), 500) or ""
        texts = [f"{f.topic} {f.metric} {f.unit or ''} {f.note or ''} {f.sector or ''}" for f in facts]
        named = [topic] + [f.topic for f in facts] + [f.sector or "" for f in facts]
        missing = db.unmatched_words(question, texts, named)
        wants_money = "money" in db.asked_facts(question) and not any(_is_money(f.unit) for f in facts)
        if missing or wants_money:
            dispatcher.utter_message(
                response="utter_not_in_sources",
                what="“" + " ".join(missing) + "”" if missing else tr("an amount in money"),
                name=facts[0].topic,
                recorded=tr(" What they do give:") + "\n" + "\n".join(lines),
                json_message={
                    "kakehashi": {"type": "not_in_sources", "answer": "not_in_sources", "about": facts[0].topic}
                },
            )
            return set_focus(("market_facts", [f.id for f in facts]))
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
