"""Handoff over the real REST channel: asking for a person opens a ticket, the assistant then
stays silent while the user's messages reach the ticket, and after staff hand the conversation
back the assistant answers again with its context."""

from __future__ import annotations

import pytest

from bot.helpdesk import texts
from db import handoff
from tests.fixtures_bot import new_sender

pytestmark = pytest.mark.slow


def test_assistant_is_silent_during_handoff_and_resumes_after_hand_back(assistant):
    url = assistant.env["DATABASE_URL"]
    me = new_sender()
    assert "Osaka Bio Headquarters" in assistant.text(me, "find regenerative medicine clusters in Osaka")
    asked = assistant.text(me, "I want to talk to a person")
    assert asked.strip()
    ticket = handoff.current_ticket(me, url=url)
    assert ticket is not None and ticket.status == "waiting"

    # waiting for a person: a receipt, never silence (and never an answer of the assistant's)
    receipt = assistant.send(me, "hello? is anyone there, we need a partner in Kobe")
    assert [m.get("text") for m in receipt] == [texts.NOTED]
    detail = handoff.ticket_detail(ticket.id, url=url)
    assert any("we need a partner in Kobe" in m.text for m in detail.messages)

    staff = handoff.create_staff("aiko-" + me[-6:], "a long enough password 123", "Aiko", url=url)
    assert handoff.claim(ticket.id, staff, url=url)
    assert assistant.send(me, "thanks, waiting") == []  # a person holds it: their replies are the answer
    assert handoff.hand_back(ticket.id, staff, url=url)

    back = assistant.text(me, "who does Osaka Bio Headquarters partner with?")
    assert "bioXclusters plus" in back


def test_user_can_cancel_waiting(assistant):
    url = assistant.env["DATABASE_URL"]
    me = new_sender()
    assistant.text(me, "can I speak to a human please")
    assert handoff.current_ticket(me, url=url) is not None
    cancelled = assistant.text(me, "cancel")
    assert cancelled.strip()
    assert handoff.active_ticket(me, url=url) is None
    assert "Japan Cosmetic Centre" in assistant.text(me, "cosmetics clusters in japan")
