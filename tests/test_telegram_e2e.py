"""End to end: the real bot process, the fake Bot API, and the real assistant (trained model,
action server, Rasa) over a seeded knowledge base; asserting what a Telegram user would see."""

from __future__ import annotations

import random
import re

import pytest

from bot.telegram import texts
from tests.fake_telegram import Call, FakeTelegram

pytestmark = pytest.mark.slow
QUESTION = "find regenerative medicine clusters in Osaka"


def new_chat() -> int:
    return random.randint(10_000_000, 99_999_999)


def start_real(start_bot, assistant, url: str | None = None):
    return start_bot(url or assistant.rasa_url, assistant.env["DATABASE_URL"], secret=assistant.env["KAKEHASHI_SECRET"])


def result_names(message: Call) -> list[str]:
    """The organisation names of a numbered result list ("1. <b>Name</b> — …")."""
    return re.findall(r"^\d+\. <b>(.+?)</b>", message.text, flags=re.MULTILINE)


def button(message: Call, prefix: str) -> dict:
    return next(b for b in message.buttons if b["text"].startswith(prefix))


def press_and_wait(fake: FakeTelegram, chat: int, message: Call, title_prefix: str) -> Call:
    """Press a button of `message`; the callback query is answered and the next answer comes."""
    mark = fake.mark()
    query = fake.press(chat, button(message, title_prefix)["callback_data"], message)
    fake.wait_for(
        lambda calls: any(
            c.method == "answerCallbackQuery" and c.params["callback_query_id"] == query for c in calls[mark:]
        ),
        60,
        "the callback query to be answered",
    )
    return fake.wait_messages(chat, 1, since=mark, timeout=90)[0]


def test_the_osaka_question_and_a_button_press(fake_telegram, start_bot, assistant):
    chat = new_chat()
    start_real(start_bot, assistant)
    fake_telegram.message(chat, "/start")
    welcome = fake_telegram.wait_text(chat, "Kakehashi", timeout=90)
    assert welcome.params["parse_mode"] == "HTML"
    mark = fake_telegram.mark()
    fake_telegram.message(chat, QUESTION)
    answer = fake_telegram.wait_text(chat, "Osaka Bio Headquarters", since=mark, timeout=90)
    assert "<b>Osaka Bio Headquarters</b>" in answer.text
    assert answer.buttons and all(len(b["callback_data"].encode()) <= 64 for b in answer.buttons)
    names = result_names(answer)
    assert "Osaka Bio Headquarters" in names
    details = press_and_wait(fake_telegram, chat, answer, "Details")  # "Details" or "Details of no. 1"
    assert names[0] in details.text
    assert details is not answer and texts.UNAVAILABLE not in details.text
    assert any(c.method == "sendChatAction" and str(c.chat_id) == str(chat) for c in fake_telegram.calls)


def test_the_conversation_and_its_buttons_survive_a_restart(fake_telegram, start_bot, assistant):
    chat = new_chat()
    bot = start_real(start_bot, assistant)
    fake_telegram.message(chat, QUESTION)
    answer = fake_telegram.wait_text(chat, "Osaka Bio Headquarters", timeout=90)
    names = result_names(answer)
    assert names
    bot.stop()
    start_real(start_bot, assistant)
    # The button's payload is signed for this chat's conversation: it only works if the restarted
    # bot speaks for the same conversation, which still knows the results it refers to.
    details = press_and_wait(fake_telegram, chat, answer, "Details")
    assert names[0] in details.text


def test_assistant_down_then_back(fake_telegram, start_bot, assistant, assistant_stand_in):
    chat = new_chat()
    bot = start_real(start_bot, assistant, url=assistant_stand_in.url)  # nothing listens there: down
    asked = fake_telegram.message(chat, QUESTION)
    assert fake_telegram.wait_messages(chat, 1)[0].text == texts.UNAVAILABLE
    assistant_stand_in.start(proxy_to=assistant.rasa_url)  # the assistant is back
    answer = fake_telegram.wait_text(chat, "Osaka Bio Headquarters", timeout=90)
    assert answer.params["reply_parameters"]["message_id"] == asked  # quotes the question it answers
    assert answer.buttons
    assert [r["message"] for r in assistant_stand_in.requests] == [QUESTION]
    assert bot.proc.poll() is None
