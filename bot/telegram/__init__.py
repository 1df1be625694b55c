"""The Telegram bot: relays Telegram chats to the assistant's REST channel and its answers back
(python-telegram-bot; long polling by default, webhook mode with a secret token for production).

Run it with `python -m bot.telegram` (see bot/telegram/__main__.py and docs/telegram.md).
"""
