"""Kakehashi's channels and runtime: the REST/socket.io channels the Rasa server loads, the web
page, the Telegram bot, and the `make run` orchestration."""
