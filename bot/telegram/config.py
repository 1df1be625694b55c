"""The Telegram bot's settings, all from the environment (see .env.example and docs/telegram.md)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlparse

from bot.settings import env, rasa_url

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
# The updates the bot asks Telegram for; the handlers in app.py cover exactly these.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as a secret_token


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class TelegramConfig:
    token: str
    api_base_url: str = DEFAULT_API_BASE_URL
    assistant_url: str = "http://127.0.0.1:5005"
    assistant_timeout: float = 60.0
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    messages_per_minute: int = 20
    max_input_chars: int = 4096
    retry_max_seconds: float = 30.0
    pending_max_age_hours: float = 24.0
    pending_per_chat: int = 20
    outbox_poll_seconds: float = 1.0
    callback_max_age_days: float = 30.0
    staff_chat_id: int | None = None

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_url)

    @property
    def webhook_path(self) -> str:
        """Where the webhook server listens: the path of TELEGRAM_WEBHOOK_URL."""
        return urlparse(self.webhook_url or "").path or "/telegram"


def _number(name: str, default: float, cast: type = float) -> float:
    raw = env(name, str(default))
    try:
        value = cast(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def load() -> TelegramConfig:
    """The configuration from the environment; raises ConfigError naming what is wrong."""
    token = os.environ.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set (get a token from @BotFather)")
    webhook_url = env("TELEGRAM_WEBHOOK_URL", "") or None
    secret = env("TELEGRAM_WEBHOOK_SECRET", "") or None
    if webhook_url:
        if urlparse(webhook_url).scheme not in {"https", "http"}:
            raise ConfigError(f"TELEGRAM_WEBHOOK_URL must be an https:// URL, got {webhook_url!r}")
        if not secret or not SECRET_RE.match(secret):
            raise ConfigError(
                "webhook mode needs TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z a-z 0-9 _ - "
                '(generate: python -c "import secrets;print(secrets.token_urlsafe(32))")'
            )
    staff_chat = env("TELEGRAM_STAFF_CHAT_ID", "")
    if staff_chat and not re.fullmatch(r"-?[0-9]{1,20}", staff_chat):
        raise ConfigError(f"TELEGRAM_STAFF_CHAT_ID must be a chat id (like -1001234567890), got {staff_chat!r}")
    return TelegramConfig(
        token=token,
        api_base_url=env("TELEGRAM_API_BASE_URL", DEFAULT_API_BASE_URL),
        assistant_url=rasa_url().rstrip("/"),
        assistant_timeout=_number("TELEGRAM_ASSISTANT_TIMEOUT", 60.0),
        webhook_url=webhook_url,
        webhook_secret=secret,
        webhook_listen=env("TELEGRAM_WEBHOOK_LISTEN", "127.0.0.1"),
        webhook_port=int(_number("TELEGRAM_WEBHOOK_PORT", 8443, int)),
        messages_per_minute=int(_number("TELEGRAM_MESSAGES_PER_MINUTE", 20, int)),
        retry_max_seconds=_number("TELEGRAM_RETRY_MAX_SECONDS", 30.0),
        pending_max_age_hours=_number("TELEGRAM_PENDING_MAX_AGE_HOURS", 24.0),
        staff_chat_id=int(staff_chat) if staff_chat else None,
    )
