"""What a channel does with each incoming user message while the helpdesk may hold the
conversation — the whole silence rule in one call:

    routed = await asyncio.to_thread(relay.route_user_message, conversation_id, text, display_name)
    if routed.to_helpdesk:
        if routed.reply:           # e.g. the user cancelled: say so, as the assistant
            send(routed.reply)
        return                     # not one automatic reply; the message is stored for staff
    ...pass the message to the assistant as usual...

`conversation_id` is the assistant's sender id (web widget: the session id; Telegram: "tg-<chat>").
Call it with the text as the assistant would get it (after `bot.guard.screen`). The message is
committed to the database before this returns, so it survives any restart.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.helpdesk import texts
from db import handoff
from db.handoff import TicketMessage

# Whole-message words that stop waiting for a person (the waiting answer's button sends "cancel").
CANCEL_WORDS = frozenset({"cancel", "cancel waiting", "stop waiting", "/cancel", "キャンセル"})
_INVISIBLE = "\u2060\u200b\ufeff"  # bot.guard.screen prefixes typed commands with U+2060


@dataclass(frozen=True)
class Routed:
    """`to_helpdesk`: the message was taken by the helpdesk (do not pass it to the assistant);
    `reply`: text to send to the user as the assistant (None: stay silent)."""

    to_helpdesk: bool
    reply: str | None = None
    message: TicketMessage | None = None


def is_cancel(text: str) -> bool:
    if not isinstance(text, str):
        return False
    words = " ".join(text.strip(_INVISIBLE + " \t\r\n").rstrip(".!").lower().split())
    return words in CANCEL_WORDS


def route_user_message(
    conversation_id: str, text: str, display_name: str | None = None, url: str | None = None
) -> Routed:
    """Take the message for the helpdesk when a ticket holds the conversation (or cancel the
    wait when the user says "cancel"); else leave it to the assistant."""
    if not isinstance(text, str) or not text.strip(_INVISIBLE + " \t\r\n"):
        # Nothing to pass on: swallowed while a person holds the conversation, else the assistant's.
        return Routed(handoff.active_ticket(conversation_id, url=url) is not None)
    if is_cancel(text):
        if handoff.cancel_by_user(conversation_id, url=url) is not None:
            return Routed(True, texts.CANCELLED)
        return Routed(False)
    message = handoff.add_user_message(conversation_id, text, display_name, url=url)
    if message is None:
        return Routed(False)
    # Every message gets an answer: while no person has taken the ticket yet, a short receipt;
    # once a person holds it, their replies are the answer (the channels show delivery).
    ticket = handoff.active_ticket(conversation_id, url=url)
    waiting = ticket is not None and ticket.status == "waiting"
    return Routed(True, texts.NOTED if waiting else None, message)
