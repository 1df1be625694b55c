"""What every action shares: reading the message and slots safely, calling the db API off the
event loop, and turning failures into a clear apology instead of silence."""

from __future__ import annotations

import abc
import asyncio
import functools
import logging
import re
from collections.abc import Callable
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.i18n import language_of, set_language
from bot.observability import apply_log_format, conversation_ref

logger = logging.getLogger(__name__)
# rasa_sdk has no start-up hook: it imports the actions once its logging is set up, so this is
# where KAKEHASHI_LOG_FORMAT=json takes effect in the action server.
apply_log_format("actions")
MAX_VALUE_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean(value: Any, max_chars: int = MAX_VALUE_CHARS) -> str | None:
    """A slot or entity value as safe, bounded text (None when empty or not text)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, list):
        value = value[0] if value else None
        if value is None:
            return None
    text = _CONTROL.sub(" ", str(value)).strip()
    return text[:max_chars] or None


def entity(tracker: Tracker, name: str) -> str | None:
    """The first value of entity `name` in the latest user message."""
    for ent in tracker.latest_message.get("entities") or []:
        if ent.get("entity") == name:
            return clean(ent.get("value"))
    return None


def entities(tracker: Tracker, name: str) -> list[str]:
    """Every distinct value of entity `name` in the latest user message, in order."""
    out: list[str] = []
    for ent in tracker.latest_message.get("entities") or []:
        value = clean(ent.get("value"))
        if ent.get("entity") == name and value and value not in out:
            out.append(value)
    return out


def slot(tracker: Tracker, name: str) -> str | None:
    return clean(tracker.get_slot(name))


def ordinal(tracker: Tracker) -> int | None:
    value = entity(tracker, "ordinal")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def call_db(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a db API call in a worker thread so other conversations are not blocked."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def guarded(run: Callable) -> Callable:
    """Wrap an action's run(): the database down → a clear apology; a bug → an apology and a log
    line. Either way the conversation goes on."""

    @functools.wraps(run)
    async def wrapper(self: Action, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        set_language(language_of(tracker))
        try:
            return await run(self, dispatcher, tracker, domain)
        except db.DatabaseUnavailable as exc:
            logger.warning("knowledge base unavailable in %s: %s", self.name(), str(exc).splitlines()[0])
            dispatcher.utter_message(response="utter_kb_unavailable")
            return []
        except Exception:
            # A web conversation's id is its session credential: logs name it by reference only.
            logger.exception("action %s failed in conversation %s", self.name(), conversation_ref(tracker.sender_id))
            dispatcher.utter_message(response="utter_action_failed")
            return []

    return wrapper


class GuardedFormValidation(FormValidationAction, metaclass=abc.ABCMeta):
    """A form's slot validation with the same guard as every action (the database down → an
    apology; the conversation's language set for the texts it composes). Abstract, so the action
    server registers only its subclasses."""

    @abc.abstractmethod
    def name(self) -> str: ...

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        return await super().run(dispatcher, tracker, domain)


def referenced_org(tracker: Tracker) -> str | None:
    """The organisation the user means: named now, picked by ordinal from the last list, or the
    one in focus."""
    named = entity(tracker, "org_name")
    if named:
        return named
    pos = ordinal(tracker)
    results = tracker.get_slot("last_results") or []
    if pos is not None and results:
        index = pos - 1 if pos > 0 else len(results) + pos
        if 0 <= index < len(results):
            return clean(results[index])
    return slot(tracker, "focus_org") or next(
        (rid for rtype, rid in focus_keys(tracker) if rtype == "organisations"), None
    )


MAX_FOCUS = 12


def set_focus(*groups: tuple[str, list[str]]) -> list:
    """What the answer put on screen, in order — (record type, ids) groups, e.g.
    ("partnerships", [...]), ("organisations", [...]) — for follow-ups to be resolved against."""
    keys = [[rtype, str(rid)] for rtype, ids in groups for rid in ids if rid]
    unique = list({tuple(k): k for k in keys}.values())[:MAX_FOCUS]
    return [SlotSet("focus", unique)] if unique else []


def focus_keys(tracker: Tracker) -> list[tuple[str, str]]:
    """The records in focus, as (record type, id)."""
    value = tracker.get_slot("focus")
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            rtype, rid = clean(item[0]), clean(item[1])
            if rtype and rid:
                out.append((rtype, rid))
    if not out and slot(tracker, "focus_org"):
        out.append(("organisations", slot(tracker, "focus_org")))
    return out[:MAX_FOCUS]
