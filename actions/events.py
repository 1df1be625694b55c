"""Events: fairs, partnering conferences, missions and symposia."""

from __future__ import annotations

import datetime as dt

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.answer import answer_question
from actions.common import call_db, entity, guarded, set_focus
from actions.formatting import custom, numbered, person_button, sources_text
from actions.i18n import format_when, tr


def _figures(figures: dict) -> str:
    return ", ".join(f"{v:g} {k.replace('_', ' ')}" for k, v in figures.items())


class ActionFindEvents(Action):
    def name(self) -> str:
        return "action_find_events"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        if {"count", "money", "outcome", "email", "phone"} & set(db.asked_facts(tracker.latest_message.get("text"))):
            answered = await answer_question(dispatcher, tracker, guess=True)  # "how many attended X?"
            if answered is not None:
                return answered
        sector, place, name = (
            entity(tracker, "sector"),
            entity(tracker, "place") or entity(tracker, "country"),
            entity(tracker, "event_name"),
        )
        year = entity(tracker, "year")
        kwargs = {}
        if year and year.isdigit():
            kwargs = {"date_from": dt.date(int(year), 1, 1), "date_to": dt.date(int(year), 12, 31)}
        events, unresolved = await call_db(db.find_events, sector=sector, place=place, name=name, limit=5, **kwargs)
        criteria = " · ".join(v for v in (name, sector, place, year) if v) or tr("any")
        if unresolved or not events:
            dispatcher.utter_message(response="utter_no_events", criteria=criteria, buttons=[person_button()])
            return []
        lines = []
        for e in events:
            when = format_when(e.start, e.end)
            extra = f" — {_figures(e.figures)}" if e.figures else ""
            lines.append(f"**{e.name}** ({when}{', ' + e.place if e.place else ''}){extra}")
        dispatcher.utter_message(
            response="utter_events",
            criteria=criteria,
            results=numbered(lines),
            sources=sources_text(s for e in events for s in e.sources),
            json_message=custom(
                "events",
                [
                    {"name": e.name, "start": e.start, "end": e.end, "place": e.place, "figures": e.figures}
                    for e in events
                ],
                [s for e in events for s in e.sources],
            ),
        )
        return set_focus(("events", [e.id for e in events]))
