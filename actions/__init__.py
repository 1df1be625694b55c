"""Custom actions: each module is one feature; all of them only orchestrate — read slots and
entities, call the db/ API (off the event loop), answer through domain responses."""

from actions import (  # noqa: F401  (importing registers the actions with rasa_sdk)
    clarify,
    details,
    events,
    followups,
    handoff,
    introductions,
    market,
    matchmaking,
    partners,
    programmes,
    search,
)
