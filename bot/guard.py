"""Public channels must never let a typed message act as a Rasa command (`/intent{...}` sets
intents and slots). Button payloads the assistant sends are signed for the conversation they are
sent to; only a signed payload coming back from that conversation is let through as a command.
Anything else that starts with "/" reaches the NLU as plain text."""

from __future__ import annotations

import hashlib
import hmac
import re

from bot.settings import secret

MARK = "~k="
NEUTRAL_PREFIX = "\u2060"  # WORD JOINER: invisible, not whitespace, so Rasa's "/" check fails
MAX_MESSAGE_CHARS = 10_000
# JSON may carry lone surrogates ("\ud800"); they cannot be encoded as UTF-8, which the NLU, the
# database and Telegram all need.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _mac(payload: str, sender_id: str) -> str:
    return hmac.new(secret(), f"{sender_id}\x1f{payload}".encode(), hashlib.sha256).hexdigest()[:20]


def sign(payload: str, sender_id: str) -> str:
    """`payload` with a signature for `sender_id` when it is a command; unchanged otherwise."""
    if not isinstance(payload, str) or not payload.startswith("/") or MARK in payload:
        return payload
    return f"{payload}{MARK}{_mac(payload, sender_id)}"


def screen(text: object, sender_id: str) -> str:
    """What may reach the assistant from a public channel: a verified command without its
    signature, or the user's text made inert as a command (cut to MAX_MESSAGE_CHARS, lone surrogates
    replaced by U+FFFD)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    # Cut after stripping, so that a question behind 10,000 spaces is still the question.
    text = LONE_SURROGATE.sub("\ufffd", text.strip()[:MAX_MESSAGE_CHARS])
    if not text:
        # The NLU cannot featurise an empty text: an invisible character makes it "not understood".
        return NEUTRAL_PREFIX
    if not text.startswith("/"):
        return text
    body, sep, mac = text.rpartition(MARK)
    # Bytes: compare_digest refuses str with non-ASCII characters, which a typed signature may hold.
    if sep and hmac.compare_digest(mac.encode(), _mac(body, sender_id).encode()):
        return body
    return NEUTRAL_PREFIX + text


# A typed message that is only command-shaped: "/" then no space outside an optional {...} part.
TYPED_COMMAND = re.compile(r"^" + NEUTRAL_PREFIX + r"/[^\s{]*(?:\{.*\})?\S*$", re.DOTALL)


def typed_command_parse(screened: str) -> dict | None:
    """For a message that is nothing but a typed (unsigned) command, e.g. "/human_handoff" or
    '/request_introduction{"org_name": "…"}': the NLU result to use instead of the NLU's — "not
    understood". The NLU would read the intent's name and the JSON's entities in it and act on
    them. None for anything else."""
    if not TYPED_COMMAND.match(screened):
        return None
    return {"text": screened, "intent": {"name": "nlu_fallback", "confidence": 1.0}, "entities": []}


RELAY_HEADER = "X-Kakehashi-Relay"
_CHANNEL_OWNED = ("tg-",)  # conversation ids a channel process owns (db.channel_state.conversation_id)


def relay_signature(sender_id: str) -> str:
    """What a channel process (the Telegram bot) sends in RELAY_HEADER to speak over the REST
    channel for a conversation it owns."""
    return hmac.new(secret(), f"relay\x1f{sender_id}".encode(), hashlib.sha256).hexdigest()


def relay_allowed(sender_id: str, signature: str | None) -> bool:
    """Whether a REST request may speak for `sender_id`: anyone for their own conversations, only
    the owning channel process (with the signature) for a Telegram chat's."""
    if not sender_id.startswith(_CHANNEL_OWNED):
        return True
    # A signature is hex: anything else (non-ASCII, or surrogate-escaped header bytes) is not one, and
    # compare_digest would raise on it.
    return bool(signature) and signature.isascii() and hmac.compare_digest(signature, relay_signature(sender_id))


def sign_buttons(message: dict, sender_id: str) -> dict:
    """A copy of an outgoing message with every button/quick-reply payload signed."""
    out = dict(message)
    for key in ("buttons", "quick_replies"):
        if isinstance(out.get(key), list):
            out[key] = [
                dict(b, payload=sign(b.get("payload", ""), sender_id)) if isinstance(b, dict) else b for b in out[key]
            ]
    return out
