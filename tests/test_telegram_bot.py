"""The real Telegram bot process against the fake Bot API and a stand-in assistant: what a user
sees for long answers, buttons, odd input, flood limits, groups, resets, restarts, the webhook
secret and the outbox. (With the real assistant: tests/test_telegram_e2e.py.)"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from bot.telegram import texts
from db import channel_state as cs
from tests.fake_telegram import BOT_USER
from tests.fixtures_bot import free_port
from tests.fixtures_telegram import canned

CHAT = 424242


def long_answer() -> str:
    """About 6,000 characters in paragraphs, with markup and text that must be escaped."""
    para = "**Cluster {i}** — regenerative medicine & cell therapy <in Osaka>; " + "partner details " * 14
    text = "\n\n".join(para.format(i=i).strip() for i in range(20))
    assert 5_800 <= len(text) <= 6_400
    return text


def test_a_6000_character_answer_arrives_in_two_messages(fake_telegram, assistant_stand_in, start_bot, channel_db):
    answer = long_answer()
    buttons = [{"title": "Show more", "payload": '/show_more{"x":"' + "y" * 80 + '"}~k=0123456789abcdef0123'}]
    assistant_stand_in.start(reply=canned(answer, buttons))
    start_bot(assistant_stand_in.url, channel_db)
    fake_telegram.message(CHAT, "tell me everything")
    first, second = fake_telegram.wait_messages(CHAT, 2)
    for part in (first, second):
        assert len(part.text) < 4096
        assert part.params["parse_mode"] == "HTML"
    assert "<b>Cluster 0</b>" in first.text and "&amp;" in first.text and "&lt;in Osaka&gt;" in first.text
    assert "<in Osaka>" not in first.text + second.text
    assert first.text.endswith("partner details") and second.text.startswith("<b>Cluster")  # cut between paragraphs
    # Every paragraph arrives, once, in order; the keyboard comes with the last part.
    shown = (first.text + "\n\n" + second.text).replace("<b>", "**").replace("</b>", "**")
    assert shown.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">") == answer
    assert not first.buttons and [b["text"] for b in second.buttons] == ["Show more"]
    assert len(second.buttons[0]["callback_data"].encode()) <= 64
    assert any(c.method == "sendChatAction" and c.params.get("action") == "typing" for c in fake_telegram.calls)


def test_a_button_payload_longer_than_64_bytes_goes_back_verbatim(
    fake_telegram, assistant_stand_in, start_bot, channel_db
):
    payload = '/ask_details{"org_name":"' + "Osaka Bio Headquarters " * 4 + '"}~k=0123456789abcdef0123'
    assert len(payload.encode()) > 64
    assistant_stand_in.start(
        reply=lambda _s, m: [{"text": f"you sent {m}", "buttons": [{"title": "Details", "payload": payload}]}]
    )
    start_bot(assistant_stand_in.url, channel_db)
    fake_telegram.message(CHAT, "hello")
    (answer,) = fake_telegram.wait_messages(CHAT, 1)
    mark = fake_telegram.mark()
    query = fake_telegram.press(CHAT, answer.buttons[0]["callback_data"], answer)
    fake_telegram.wait_for(
        lambda calls: any(
            c.method == "answerCallbackQuery" and c.params["callback_query_id"] == query for c in calls[mark:]
        )
    )
    fake_telegram.wait_text(CHAT, "you sent /ask_details", since=mark)
    assert assistant_stand_in.requests[-1] == {"sender": f"tg-{CHAT}", "message": payload}


def test_unknown_or_foreign_button_data_is_answered_as_expired(
    fake_telegram, assistant_stand_in, start_bot, channel_db
):
    assistant_stand_in.start(reply=canned("hi", [{"title": "Go", "payload": "/greet"}]))
    start_bot(assistant_stand_in.url, channel_db)
    fake_telegram.message(CHAT, "hello")
    (answer,) = fake_telegram.wait_messages(CHAT, 1)
    asked = len(assistant_stand_in.requests)
    mark = fake_telegram.mark()
    queries = [
        fake_telegram.press(CHAT, "k:no-such-key"),
        fake_telegram.press(CHAT, "garbage \x00 data"),
        fake_telegram.press(CHAT + 1, answer.buttons[0]["callback_data"]),
    ]  # another chat's button
    answers = fake_telegram.wait_for(
        lambda calls: (a := [c for c in calls[mark:] if c.method == "answerCallbackQuery"]) and len(a) >= 3 and a
    )
    assert {a.params["callback_query_id"] for a in answers} == set(queries)
    assert all(a.params.get("text") == texts.BUTTON_EXPIRED for a in answers)
    assert len(assistant_stand_in.requests) == asked  # nothing reached the assistant


@pytest.mark.parametrize(
    "content",
    [
        {
            "sticker": {
                "file_id": "s1",
                "file_unique_id": "u1",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            }
        },
        {"photo": [{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}]},
        {"document": {"file_id": "d1", "file_unique_id": "u3", "file_name": "cv.pdf"}},
        {"location": {"latitude": 34.69, "longitude": 135.5}},
        {"voice": {"file_id": "v1", "file_unique_id": "u4", "duration": 3}},
    ],
    ids=["sticker", "photo", "document", "location", "voice"],
)
def test_non_text_messages_get_a_clear_reply(fake_telegram, assistant_stand_in, start_bot, channel_db, content):
    assistant_stand_in.start(reply=canned("should not be asked"))
    start_bot(assistant_stand_in.url, channel_db)
    fake_telegram.message(CHAT, **content)
    (reply,) = fake_telegram.wait_messages(CHAT, 1)
    assert "I can only read text messages" in reply.text
    assert assistant_stand_in.requests == []


def test_odd_input_never_crashes_the_bot(fake_telegram, assistant_stand_in, start_bot, channel_db):
    assistant_stand_in.start(reply=lambda _s, m: [] if m == "silence" else [{"text": f"echo: {m[:40]}"}])
    bot = start_bot(assistant_stand_in.url, channel_db)
    fake_telegram.message(CHAT, "x" * 10_000)
    assert "too long for me (10,000 characters)" in fake_telegram.wait_messages(CHAT, 1)[0].text
    fake_telegram.message(CHAT, "an edited question", edited=True)
    assert fake_telegram.wait_messages(CHAT, 2)[1].text == texts.EDITED
    fake_telegram.message(CHAT, "/frobnicate now")
    assert fake_telegram.wait_messages(CHAT, 3)[2].text == texts.UNKNOWN_COMMAND
    fake_telegram.message(CHAT, '/intent{"x": 1} typed by hand')  # not a known command either
    fake_telegram.message(CHAT, "<b>still</b> & fine")
    reply = fake_telegram.wait_text(CHAT, "echo:")
    assert reply.text == "echo: &lt;b&gt;still&lt;/b&gt; &amp; fine"
    fake_telegram.push(
        {
            "poll": {
                "id": "1",
                "question": "?",
                "options": [],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
            }
        }
    )  # an update this PTB cannot even parse (it lacks a newer Bot API field): skipped, polling goes on
    fake_telegram.message(CHAT, "still there?")
    fake_telegram.wait_text(CHAT, "echo: still there?")
    fake_telegram.message(CHAT, "silence")  # an empty answer is deliberate (e.g. a person has the chat)
    fake_telegram.message(CHAT, "and now?")
    fake_telegram.wait_text(CHAT, "echo: and now?")
    assert bot.proc.poll() is None
    assert [r["message"] for r in assistant_stand_in.requests] == [
        "<b>still</b> & fine",
        "still there?",
        "silence",
        "and now?",
    ]
    sent = [c.text for c in fake_telegram.messages(CHAT)]
    assert sent[-2:] == ["echo: still there?", "echo: and now?"]  # nothing was said for "silence"


def test_in_groups_the_bot_answers_only_when_addressed(fake_telegram, assistant_stand_in, start_bot, channel_db):
    group = -1001234
    assistant_stand_in.start(reply=lambda _s, m: [{"text": f"echo: {m}"}])
    start_bot(assistant_stand_in.url, channel_db)
    fake_telegram.message(group, "people talking among themselves", chat_type="supergroup", user_id=7)
    fake_telegram.message(group, "/help", chat_type="supergroup", user_id=7)  # not addressed to this bot
    fake_telegram.message(
        group,
        "a sticker",
        chat_type="supergroup",
        user_id=7,
        sticker={
            "file_id": "s",
            "file_unique_id": "u",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        },
    )
    asked = fake_telegram.message(
        group, f"@{BOT_USER['username']} find biotech in Kobe", chat_type="supergroup", user_id=7
    )
    reply = fake_telegram.wait_text(group, "echo:")
    assert reply.text == "echo: find biotech in Kobe"
    assert reply.params["reply_parameters"]["message_id"] == asked
    fake_telegram.message(group, "and in Osaka?", chat_type="supergroup", user_id=8, reply_to_bot=True)
    fake_telegram.wait_text(group, "echo: and in Osaka?")
    fake_telegram.message(group, f"/reset@{BOT_USER['username']}", chat_type="supergroup", user_id=7)
    fake_telegram.wait_text(group, "Fresh start")
    assert [r["message"] for r in assistant_stand_in.requests] == ["find biotech in Kobe", "and in Osaka?"]
    assert {r["sender"] for r in assistant_stand_in.requests} == {f"tg-{group}"}  # one conversation per chat
    texts_sent = [c.text for c in fake_telegram.messages(group)]
    assert len(texts_sent) == 3, texts_sent  # nothing for the unaddressed messages


def test_a_429_is_honoured_and_the_message_still_arrives(fake_telegram, assistant_stand_in, start_bot, channel_db):
    assistant_stand_in.start(reply=canned("after the flood"))
    start_bot(assistant_stand_in.url, channel_db)
    fake_telegram.fail_next("sendMessage", retry_after=1, times=1)
    fake_telegram.message(CHAT, "hello")
    reply = fake_telegram.wait_text(CHAT, "after the flood")
    attempts = [c for c in fake_telegram.calls if c.method == "sendMessage"]
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1] is reply


def test_per_chat_spam_limit(fake_telegram, assistant_stand_in, start_bot, channel_db):
    assistant_stand_in.start(reply=lambda _s, m: [{"text": f"echo: {m}"}])
    start_bot(assistant_stand_in.url, channel_db, TELEGRAM_MESSAGES_PER_MINUTE="3")
    for i in range(6):
        fake_telegram.message(CHAT, f"message {i}")
    fake_telegram.message(CHAT + 1, "another chat is not limited")
    fake_telegram.wait_text(CHAT + 1, "echo: another chat")
    fake_telegram.wait_text(CHAT, texts.SLOW_DOWN)
    fake_telegram.wait_messages(CHAT, 4)
    sent = [c.text for c in fake_telegram.messages(CHAT)]
    assert sorted(sent) == sorted([f"echo: message {i}" for i in range(3)] + [texts.SLOW_DOWN])
    assert len([r for r in assistant_stand_in.requests if r["sender"] == f"tg-{CHAT}"]) == 3


def test_reset_starts_a_new_conversation_that_survives_a_restart(
    fake_telegram, assistant_stand_in, start_bot, channel_db
):
    assistant_stand_in.start(
        reply=lambda s, m: [{"text": f"{s} got {m}", "buttons": [{"title": "Again", "payload": "/greet"}]}]
    )
    bot = start_bot(assistant_stand_in.url, channel_db)
    fake_telegram.message(CHAT, "one")
    (old,) = fake_telegram.wait_messages(CHAT, 1)
    fake_telegram.message(CHAT, "/reset")
    fake_telegram.wait_text(CHAT, texts.RESET_DONE)
    fake_telegram.message(CHAT, "two")
    fake_telegram.wait_text(CHAT, "got two")
    bot.stop()
    mark = fake_telegram.mark()
    start_bot(assistant_stand_in.url, channel_db)
    fake_telegram.message(CHAT, "three")
    fake_telegram.wait_text(CHAT, "got three", since=mark)
    assert [r["sender"] for r in assistant_stand_in.requests] == [f"tg-{CHAT}", f"tg-{CHAT}:1", f"tg-{CHAT}:1"]
    # A button from before the reset belongs to the old conversation: expired, not replayed.
    mark = fake_telegram.mark()
    query = fake_telegram.press(CHAT, old.buttons[0]["callback_data"], old)
    answer = fake_telegram.wait_for(
        lambda calls: next(
            (c for c in calls[mark:] if c.method == "answerCallbackQuery" and c.params["callback_query_id"] == query),
            None,
        )
    )
    assert answer.params["text"] == texts.BUTTON_EXPIRED


def test_assistant_down_then_back_answers_the_kept_messages_in_order(
    fake_telegram, assistant_stand_in, start_bot, channel_db
):
    bot = start_bot(assistant_stand_in.url, channel_db)  # nothing listens there yet
    fake_telegram.message(CHAT, "first question")
    assert fake_telegram.wait_messages(CHAT, 1)[0].text == texts.UNAVAILABLE
    fake_telegram.message(CHAT, "second question")
    assert fake_telegram.wait_messages(CHAT, 2)[1].text == texts.QUEUED_TOO
    assert cs.pending_count(cs.TELEGRAM, CHAT, url=channel_db) == 2
    assistant_stand_in.start(reply=lambda _s, m: [{"text": f"answer to {m}"}])
    later = fake_telegram.wait_messages(CHAT, 4)[2:]
    assert [c.text for c in later] == ["answer to first question", "answer to second question"]
    assert all(c.params.get("reply_parameters") for c in later)  # each quotes the message it answers
    assert cs.pending_count(cs.TELEGRAM, CHAT, url=channel_db) == 0
    assert bot.proc.poll() is None


def test_webhook_mode_processes_only_requests_with_the_secret(fake_telegram, assistant_stand_in, start_bot, channel_db):
    assistant_stand_in.start(reply=lambda _s, m: [{"text": f"echo: {m}"}])
    port, secret = free_port(), "s3cret_-token"
    start_bot(
        assistant_stand_in.url,
        channel_db,
        TELEGRAM_WEBHOOK_URL="https://bot.example.org/tg/hook",
        TELEGRAM_WEBHOOK_SECRET=secret,
        TELEGRAM_WEBHOOK_PORT=str(port),
    )
    assert fake_telegram.webhook["url"] == "https://bot.example.org/tg/hook"
    assert fake_telegram.webhook["secret_token"] == secret
    assert not any(c.method == "getUpdates" for c in fake_telegram.calls)

    def post(text: str, headers: dict[str, str], body: bytes | None = None) -> int:
        update = {
            "update_id": fake_telegram.next_update_id(),
            "message": {
                "message_id": 5,
                "date": 0,
                "text": text,
                "chat": {"id": CHAT, "type": "private"},
                "from": {"id": CHAT, "is_bot": False, "first_name": "T"},
            },
        }
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/tg/hook",
            data=body or json.dumps(update).encode(),
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    right = {"X-Telegram-Bot-Api-Secret-Token": secret}
    assert post("no secret", {}) == 403
    assert post("wrong secret", {"X-Telegram-Bot-Api-Secret-Token": "nope"}) == 403
    assert post("almost", {"X-Telegram-Bot-Api-Secret-Token": secret + "x"}) == 403
    # From Telegram but unreadable: acknowledged (or Telegram would resend it forever), not processed.
    assert post("", right, body=b'{"update_id": "x", "message": 5}') == 200
    assert post("", right, body=b"not json") == 200
    assert post("right secret", right) == 200
    fake_telegram.wait_text(CHAT, "echo: right secret")
    assert [r["message"] for r in assistant_stand_in.requests] == ["right secret"]
    assert [c.text for c in fake_telegram.messages(CHAT)] == ["echo: right secret"]


def test_webhook_mode_refuses_to_start_without_a_secret(fake_telegram, assistant_stand_in, start_bot, channel_db):
    with pytest.raises(RuntimeError, match="TELEGRAM_WEBHOOK_SECRET"):
        start_bot(assistant_stand_in.url, channel_db, TELEGRAM_WEBHOOK_URL="https://bot.example.org/hook")


def test_the_outbox_delivers_proactive_messages(fake_telegram, assistant_stand_in, start_bot, channel_db):
    assistant_stand_in.start(reply=lambda _s, m: [{"text": f"assistant got {m}"}])
    start_bot(assistant_stand_in.url, channel_db)
    fake_telegram_blocks(fake_telegram, 13)
    ok = cs.enqueue_outbound(
        cs.TELEGRAM,
        CHAT,
        "Your introduction to <Osaka Bio> & co. is on its way.",
        buttons=[
            {"title": "Check the status", "payload": "/ask_introduction_status"},
            {"title": "Website", "url": "https://example.org/"},
        ],
        sender_label="Kakehashi helpdesk",
        url=channel_db,
    )
    blocked = cs.enqueue_for_conversation("tg-13:2", "hello", url=channel_db)  # chat 13 blocked the bot
    message = fake_telegram.wait_text(CHAT, "introduction")
    assert message.text == (
        "<b>Kakehashi helpdesk</b>\nYour introduction to &lt;Osaka Bio&gt; &amp; co. is on its way."
    )
    assert [b["text"] for b in message.buttons] == ["Check the status", "Website"]
    assert message.buttons[1]["url"] == "https://example.org/"
    fake_telegram.wait_for(lambda _c: cs.outbound_status(ok, url=channel_db).status == "delivered")
    fake_telegram.wait_for(lambda _c: cs.outbound_status(blocked, url=channel_db).status == "failed")
    # Its button is an assistant command, signed for the recipient's conversation.
    mark = fake_telegram.mark()
    fake_telegram.press(CHAT, message.buttons[0]["callback_data"], message)
    fake_telegram.wait_text(CHAT, "assistant got /ask_introduction_status~k=", since=mark)


def fake_telegram_blocks(fake, chat_id: int) -> None:
    """Make the fake answer messages to `chat_id` with 403, as when a user blocked the bot."""
    original = fake._m_sendMessage

    def send(params):
        if str(params.get("chat_id")) == str(chat_id):
            return 403, "Forbidden: bot was blocked by the user"
        return original(params)

    fake._m_sendMessage = send
