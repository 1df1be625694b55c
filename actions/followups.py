"""Follow-ups on the last answer: "show more", "what about Kobe?", "only the ones with an MoU"."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import answer_question
from actions.common import entity, guarded
from actions.matchmaking import run_recommend
from actions.partners import run_partners, run_partnerships
from actions.search import run_search, search_params


def last_query(tracker: Tracker) -> dict:
    value = tracker.get_slot("last_query")
    return value if isinstance(value, dict) and isinstance(value.get("params"), dict) else {}


class ActionShowMore(Action):
    def name(self) -> str:
        return "action_show_more"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        query = last_query(tracker)
        offset = int(query.get("offset") or 0)
        if query.get("type") == "search":
            return await run_search(dispatcher, query["params"], offset=offset)
        if query.get("type") == "partners":
            return await run_partners(dispatcher, query["params"], offset=offset)
        if query.get("type") == "partnerships":
            return await run_partnerships(dispatcher, query["params"], offset=offset)
        if query.get("type") == "recommend":
            return await run_recommend(dispatcher, tracker, offset=offset)
        answered = await answer_question(dispatcher, tracker, guess=True)
        if answered is not None:
            return answered
        dispatcher.utter_message(response="utter_nothing_to_continue")
        return []


class ActionRefineSearch(Action):
    """Change one criterion of the last query and run it again."""

    def name(self) -> str:
        return "action_refine_search"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list:
        query = last_query(tracker)
        new = search_params(tracker)
        kind = entity(tracker, "partnership_kind")
        params = dict(query.get("params") or {})
        if query.get("type") == "partners":
            if kind:
                params["kind"] = kind
            if new.get("sector"):
                params["sector"] = new["sector"]
            return await run_partners(dispatcher, params)
        if query.get("type") == "partnerships" or kind:
            merged = (
                {**params}
                if query.get("type") == "partnerships"
                else {"sector": params.get("sector"), "country_a": params.get("place") or params.get("country")}
            )
            merged.update({k: v for k, v in {"kind": kind, "sector": new.get("sector")}.items() if v})
            if new.get("place") or new.get("country"):
                merged["country_a"] = new.get("place") or new.get("country")
            return await run_partnerships(dispatcher, merged)
        if not query and not new:
            answered = await answer_question(dispatcher, tracker, guess=True)
            if answered is not None:
                return answered
            dispatcher.utter_message(response="utter_nothing_to_continue")
            return []
        if not new:  # e.g. "inform" with nothing recognised in it: running the same search again helps no one
            dispatcher.utter_message(response="utter_default")
            return []
        if new.get("place") or new.get("country"):  # a new place replaces the old one
            params.pop("place", None)
            params.pop("country", None)
        params.update(new)
        return await run_search(dispatcher, params)
