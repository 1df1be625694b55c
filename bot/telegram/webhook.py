"""Webhook mode: a small aiohttp server that takes Telegram's update POSTs only when they carry
the configured secret token (X-Telegram-Bot-Api-Secret-Token); anything else gets 403 and is not
processed. (PTB's own run_webhook needs tornado, which the pinned environment does not have.)"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.telegram.config import ALLOWED_UPDATES, TelegramConfig

logger = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name, not a secret)
MAX_UPDATE_BYTES = 1 << 20


def webhook_app(application: Application, secret: str, path: str) -> web.Application:
    """The aiohttp application serving POST `path`."""

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            logger.warning("telegram webhook: refused a request without the right secret token from %s", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
        except Exception as exc:
            # From Telegram (the secret matched) but unreadable: acknowledge it, or Telegram
            # would send it again and again.
            logger.warning("telegram webhook: skipping an update that cannot be parsed: %s", exc)
            return web.Response(text="skipped")
        await application.update_queue.put(update)
        return web.Response(text="ok")

    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app.router.add_post(path, receive)
    return app


async def start_webhook(application: Application, config: TelegramConfig) -> web.AppRunner:
    """Serve the webhook and tell Telegram where it is (with the secret it must send)."""
    assert config.webhook_url and config.webhook_secret
    runner = web.AppRunner(webhook_app(application, config.webhook_secret, config.webhook_path), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.webhook_listen, config.webhook_port).start()
    await application.bot.set_webhook(
        config.webhook_url, secret_token=config.webhook_secret, allowed_updates=ALLOWED_UPDATES
    )
    logger.info(
        "telegram: webhook %s served on %s:%s%s",
        config.webhook_url,
        config.webhook_listen,
        config.webhook_port,
        config.webhook_path,
    )
    return runner
