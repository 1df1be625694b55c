"""What the helpdesk machinery (not the assistant's responses) tells users. The assistant's own
handoff answers are responses in domain.yml (utter_handoff_waiting, utter_handoff_after_hours)."""

JOINED = "{name} from our helpdesk has joined the conversation."
HANDED_BACK = "You're back with Kakehashi, the assistant. Ask me anything — or ask for a person again any time."
# While the ticket waits for a person: every message gets this short receipt (never silence).
NOTED = (
    "Got it — I've added this to your request. A person from our helpdesk will reply here. "
    "Type “cancel” to continue with me instead."
)
CANCELLED = "OK — you're no longer waiting for the helpdesk, and I'm back. What can I help you with?"
