"""Kakehashi's Telegram bot: relays Telegram chats to the assistant (its REST channel at RASA_URL)
and the answers back; also delivers the proactive-message outbox (docs/telegram.md).

Long polling by default (no public URL needed); webhook mode when TELEGRAM_WEBHOOK_URL is set,
serving on TELEGRAM_WEBHOOK_LISTEN:TELEGRAM_WEBHOOK_PORT and accepting only requests that carry
TELEGRAM_WEBHOOK_SECRET. `make run` starts it when TELEGRAM_BOT_TOKEN is set.

Usage:
    TELEGRAM_BOT_TOKEN=123456:ABC... python -m bot.telegram
    TELEGRAM_BOT_TOKEN=... TELEGRAM_WEBHOOK_URL=https://bot.example.org/telegram \\
        TELEGRAM_WEBHOOK_SECRET=... TELEGRAM_WEBHOOK_PORT=8443 python -m bot.telegram
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from aiohttp import web
from telegram import BotCommand
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application

from bot.observability import apply_log_format, start_health_listener
from bot.telegram import config as settings
from bot.telegram import texts
from bot.telegram.app import build_application
from bot.telegram.outbox import deliver_outbox
from bot.telegram.webhook import start_webhook

logger = logging.getLogger("bot.telegram")
STOP_GRACE_S = 10.0  # time given to a message being sent when the bot is stopped


async def _initialize(app: Application, stop: asyncio.Event) -> bool:
    """Initialise the bot (getMe), waiting while the Bot API cannot be reached; False if stopped."""
    delay = 1.0
    while not stop.is_set():
        try:
            await app.initialize()
            return True
        except InvalidToken:
            raise
        except NetworkError as exc:
            logger.warning("telegram: Bot API unreachable (%s); retrying in %.0f s", exc, delay)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 60)
    return False


async def serve(config: settings.TelegramConfig) -> None:
    """Run the bot until SIGINT/SIGTERM."""
    await start_health_listener("telegram", "TELEGRAM_HEALTH_PORT")  # off unless set (docs/observability.md)
    app, conversations, assistant, staff = build_application(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if not await _initialize(app, stop):
        return
    tasks: list[asyncio.Task] = []
    graceful: list[asyncio.Task] = []
    runner: web.AppRunner | None = None
    try:
        await app.start()
        with contextlib.suppress(TelegramError):  # the command menu is a nicety
            await app.bot.set_my_commands([BotCommand(c, d) for c, d in texts.COMMANDS.items()])
        if config.webhook_mode:
            runner = await start_webhook(app, config)
        else:
            await app.updater.start_polling(allowed_updates=settings.ALLOWED_UPDATES, bootstrap_retries=-1)
        tasks = [asyncio.create_task(conversations.answer_pending())]
        # These two finish the message they are sending when asked to stop (no double sends).
        graceful = [asyncio.create_task(deliver_outbox(app.bot, conversations.locks, config, stop))]
        if staff is not None:
            graceful.append(asyncio.create_task(staff.run(stop)))
        logger.info(
            "telegram: @%s is running (%s); assistant at %s",
            app.bot.username,
            "webhook" if config.webhook_mode else "long polling",
            config.assistant_url,
        )
        await stop.wait()
    finally:
        stop.set()
        if graceful:
            _done, late = await asyncio.wait(graceful, timeout=STOP_GRACE_S)
            tasks += list(late)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if runner is not None:
            await runner.cleanup()
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        await assistant.close()
        logger.info("telegram: stopped")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per Bot API call otherwise
    apply_log_format("telegram")  # KAKEHASHI_LOG_FORMAT=json
    try:
        config = settings.load()
    except settings.ConfigError as exc:
        print(f"Telegram bot not started: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(config))
    except InvalidToken:
        print("Telegram bot not started: the Bot API rejected TELEGRAM_BOT_TOKEN.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
