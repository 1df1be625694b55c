"""Questions about what is on screen, answered from the sources' own words.

"how many attended?", "when did they sign?", "do you have his email?": the records the user means
(named now, picked by ordinal, or in focus) are searched for the passage that answers; the reply
quotes it with its source. When no passage answers, the reply says the sources don't record it —
about which record — and what they do record instead. This is also where a message the NLU did
not place lands when something is in focus, so a follow-up worded in an unexpected way still gets
a grounded answer instead of "I didn't understand".
"""

from __future__ import annotations

import re

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

import db
from actions.common import call_db, clean, entities, focus_keys, guarded, ordinal, set_focus
from actions.formatting import person_button, sources_text
from actions.i18n import tr

MAX_QUOTE = 420
WHAT = {
    "count": "that figure",
    "date": "the date",
    "place": "where it took place",
    "email": "an email address",
    "phone": "a phone number",
    "website": "a website",
    "money": "a budget or amount",
    "outcome": "what came of it",
}
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


def quote(text: str) -> str:
    """A passage as a quotation: Markdown links reduced to their text, cut at a sentence."""
    text = " ".join(_LINK.sub(r"\1", text).replace("**", "").split())
    if len(text) <= MAX_QUOTE:
        return text
    cut = text[:MAX_QUOTE]
    end = max(cut.rfind(". "), cut.rfind("; "))
    return (cut[: end + 1] if end > MAX_QUOTE // 2 else cut.rstrip() + "…").strip()


def scope_for(tracker: Tracker) -> tuple[list[tuple[str, str]], list[str]]:
    """The records the question is about — by ordinal from the last list, else in focus — or,
    when the message names records, no keys and those names (to be resolved by the db)."""
    orgs = entities(tracker, "org_name")
    events = entities(tracker, "event_name")
    programmes = entities(tracker, "programme")
    places = entities(tracker, "place") + entities(tracker, "country")
    names = orgs + events + programmes + places
    if names:
        return [], names
    pos = ordinal(tracker)
    results = tracker.get_slot("last_results") or []
    if pos is not None and results:
        index = pos - 1 if pos > 0 else len(results) + pos
        if 0 <= index < len(results):
            return [("organisations", str(results[index]))], []
    return focus_keys(tracker), []


_REFERS = re.compile(
    r"\b(?:they|them|their|theirs|it|its|he|she|his|her|there|that|this|those|these|sie|ihr|ihre|ihren|dort|"
    r"davon|dafür|ils|elles|leur|leurs|son|sa|ses|là|celui|celle)\b|その|彼|そこ|この|あの|それ",
    re.I,
)


async def answer_question(dispatcher: CollectingDispatcher, tracker: Tracker, guess: bool = False) -> list | None:
    """Answer the latest message from the evidence of the records it is about.

    With `guess` (the NLU did not recognise a question about records: out of scope, or not
    understood) it answers only when a passage answers, or when the message plainly asks for a
    kind of fact about something on screen ("and their phone number?"); otherwise it says
    nothing and returns None so the caller can reply as it would have. Otherwise it returns the
    events that put the records answered about in focus.
    """
    question = clean(tracker.latest_message.get("text"), 1000) or ""
    keys, names = scope_for(tracker)
    if names:
        keys, _ = await call_db(
            db.scope_of_names,
            entities(tracker, "org_name"),
            entities(tracker, "event_name"),
            entities(tracker, "programme"),
            entities(tracker, "place") + entities(tracker, "country"),
        )
        if not keys and not set(names) - set(entities(tracker, "place") + entities(tracker, "country")):
            # only places named, none of them a party itself: a question about what is in focus
            keys, names = focus_keys(tracker), []
    if keys:
        result = await call_db(db.answer_from_evidence, question, keys, names)
    else:
        result = await call_db(db.search_evidence, question)
        if not result.found:
            if not guess:
                dispatcher.utter_message(response="utter_ask_which_item")
            return None if guess else []
    if result.found:
        top = result.passages[0]
        lines = [
            f"“{quote(p.text)}”" + (f" ({p.record_name})" if p.record_name != top.record_name else "")
            for p in result.passages
        ]
        dispatcher.utter_message(
            response="utter_evidence_answer",
            name=top.record_name,
            passages="\n".join(lines),
            sources=sources_text(p.source for p in result.passages),
            json_message={
                "kakehashi": {
                    "type": "evidence",
                    "answer": "from_sources",
                    "items": [
                        {"record": p.record_name, "passage": p.text, "source": p.source.title} for p in result.passages
                    ],
                    "sources": list(dict.fromkeys(p.source.title for p in result.passages)),
                }
            },
        )
        return _keep_focus(keys, result)
    if guess and not (result.asked and (_REFERS.search(question) or names)):
        return None
    what = tr(WHAT.get(result.asked[0], "that") if result.asked else "that")
    name = result.scope[0][2] if len(result.scope) == 1 or names else _several(result.scope)
    recorded = tr(" What they do say: “{quote}”", quote=quote(result.recorded.text)) if result.recorded else ""
    dispatcher.utter_message(
        response="utter_not_in_sources",
        what=what,
        name=name,
        recorded=recorded if len(result.scope) == 1 or names else "",
        buttons=[person_button()],
        json_message={"kakehashi": {"type": "not_in_sources", "answer": "not_in_sources", "about": name}},
    )
    return _keep_focus(keys, result)


def _keep_focus(keys: list[tuple[str, str]], result: db.EvidenceAnswer) -> list:
    """The records asked about stay in focus (found by name or by search: they become it)."""
    shown = keys or [(t, i) for t, i, _ in result.scope]
    answered = [(p.record_type, p.record_id) for p in result.passages]
    groups: dict[str, list[str]] = {}
    for rtype, rid in list(dict.fromkeys(shown + answered)):
        groups.setdefault(rtype, []).append(rid)
    return set_focus(*groups.items())


def _several(scope: list[tuple[str, str, str]]) -> str:
    names = list(dict.fromkeys(n for _, _, n in scope))
    return ", ".join(names[:3]) + (tr(" and {n} more", n=len(names) - 3) if len(names) > 3 else "")


class ActionAnswerQuestion(Action):
    def name(self) -> str:
        return "action_answer_question"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "out_of_scope":
            events = await answer_question(dispatcher, tracker, guess=True)
            if events is None:
                dispatcher.utter_message(response="utter_out_of_scope")
            return events or []
        return await answer_question(dispatcher, tracker) or []
