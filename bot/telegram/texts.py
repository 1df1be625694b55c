"""What the Telegram channel itself says (everything else comes from the assistant's responses).

Plain text: the sender escapes it for Telegram's HTML parse mode."""

UNAVAILABLE = (
    "The assistant is temporarily unavailable — I've kept your message and I'll answer it as soon as I'm back."
)
QUEUED_TOO = "Noted — I'll answer this one too, in order, as soon as I'm back."
QUEUE_FULL = (
    "I'm still unavailable and already holding {count} of your messages, so I could not keep this one. "
    "Please send it again once I've answered the others."
)
GAVE_UP = "Sorry — I could not answer your message “{excerpt}” in time. Please send it again."
WELCOME_OFFLINE = (
    "Welcome to Kakehashi! I help European and Japanese clusters and SMEs find partners across the "
    "EU–Japan divide. The assistant is temporarily unavailable right now — send your question anyway "
    "and I'll answer it as soon as I'm back."
)
HELP_OFFLINE = (
    "Ask me in plain language, e.g. “find regenerative medicine clusters in Osaka” or “who does Osaka "
    "Bio Headquarters partner with?”. Commands: /start, /help, /reset (fresh conversation). The "
    "assistant is temporarily unavailable right now; I'll answer as soon as I'm back."
)
RESET_DONE = "Fresh start — I've forgotten our previous conversation. What are you looking for?"
BUTTON_EXPIRED = "This button has expired, please ask again."
SLOW_DOWN = "You're sending messages faster than I can answer — please wait a minute, then try again."
TOO_LONG = "That message is too long for me ({count:,} characters). Please ask in under {limit:,} characters."
NOT_TEXT = (
    "I can only read text messages — please type your question. (Stickers, photos, files, voice messages "
    "and locations are not something I can use.)"
)
EDITED = "I only read new messages — if you changed your question, please send it again."
UNKNOWN_COMMAND = "I know /start, /help and /reset — for anything else, just type your question."
ADDRESSED_EMPTY = "Yes? Ask me about clusters, partners, programmes or events — or send /help."
ERROR = "Sorry — something went wrong on my side. Please try again."
BUTTONS_ONLY = "Choose an option:"
COMMANDS = {"start": "Welcome and what I can do", "help": "How to ask me", "reset": "Start a fresh conversation"}
