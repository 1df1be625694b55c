"""The helpdesk's Telegram staff group, with the real bot process against the fake Bot API: a
ticket is announced, only linked staff can claim, a claim and a reply reach the user in their
chat, the user's messages reach the group (even while the assistant is down, without a word from
the assistant), hand back gives the conversation back to the assistant, and nothing said in the
group is relayed to the assistant."""

from __future__ import annotations

import random

import pytest

from bot.helpdesk import texts as helpdesk_texts
from bot.telegram import staff as staff_texts
from db import handoff as h
from db import staff_group as sg
from tests.fake_telegram import Call, FakeTelegram
from tests.fixtures_db import prepare, sqlite_url
from tests.fixtures_telegram import canned

PASSWORD = "correct horse battery staple"
STAFF_CHAT = -1001234567890
AIKO_TG, STRANGER_TG = 7001, 7002


@pytest.fixture
def db_url(tmp_path) -> str:
    return prepare(sqlite_url(tmp_path / "helpdesk.db"), seeded=False)


def group_messages(fake: FakeTelegram, since: int = 0) -> list[Call]:
    return fake.messages(STAFF_CHAT, since)


def answered(fake: FakeTelegram, query_id: str) -> Call:
    return fake.wait_for(
        lambda calls: next(
            (c for c in calls if c.method == "answerCallbackQuery" and c.params["callback_query_id"] == query_id), None
        ),
        30,
        f"callback query {query_id} to be answered",
    )


def edited(fake: FakeTelegram, message_id: int, contains: str, since: int = 0) -> Call:
    return fake.wait_for(
        lambda calls: next(
            (
                c
                for c in calls[since:]
                if c.method == "editMessageText" and c.params.get("message_id") == message_id and contains in c.text
            ),
            None,
        ),
        30,
        f"the announcement to show {contains!r}",
    )


def test_a_ticket_handled_from_the_staff_group(fake_telegram, start_bot, assistant_stand_in, db_url):
    fake = fake_telegram
    user_chat = random.randint(10_000_000, 99_999_999)
    h.create_staff("aiko", PASSWORD, "Aiko Tanaka", url=db_url)
    ticket = h.open_ticket(
        f"tg-{user_chat}",
        "telegram",
        str(user_chat),
        "asked_for_person",
        [{"sender": "user", "text": "find cosmetics partners"}, {"sender": "user", "text": "a person please"}],
        profile={"profile_sector": "Cosmetics", "place": "Osaka"},
        display_name="Anna <b>Weber</b>",
        url=db_url,
    )
    # The assistant is down for the whole handoff: nothing here may need it.
    start_bot(assistant_stand_in.url, db_url, TELEGRAM_STAFF_CHAT_ID=str(STAFF_CHAT))

    announcement = fake.wait_text(STAFF_CHAT, f"Ticket #{ticket.id}")
    assert announcement.params["parse_mode"] == "HTML"
    assert "Anna &lt;b&gt;Weber&lt;/b&gt;" in announcement.text  # the user's name is text, not markup
    assert "their sector: Cosmetics" in announcement.text and "a person please" in announcement.text
    assert [b["callback_data"] for b in announcement.buttons] == [f"hd:claim:{ticket.id}", f"hd:close:{ticket.id}"]

    # Someone in the group whose Telegram account is not linked cannot claim.
    refused = answered(fake, fake.press(STAFF_CHAT, f"hd:claim:{ticket.id}", announcement, "supergroup", STRANGER_TG))
    assert refused.params.get("show_alert") is True and f"link-telegram <your username> {STRANGER_TG}" in refused.text
    assert h.get_ticket(ticket.id, url=db_url).status == "waiting"
    # A forged staff button pressed in a user's chat does nothing either.
    answered(fake, fake.press(user_chat, f"hd:claim:{ticket.id}", None, "private", AIKO_TG))
    assert h.get_ticket(ticket.id, url=db_url).status == "waiting"

    sg.link_telegram("aiko", AIKO_TG, url=db_url)
    mark = fake.mark()
    claimed = answered(fake, fake.press(STAFF_CHAT, f"hd:claim:{ticket.id}", announcement, "supergroup", AIKO_TG))
    assert "yours" in claimed.text
    assert h.get_ticket(ticket.id, url=db_url).claimed_by == "aiko"
    joined = fake.wait_text(user_chat, helpdesk_texts.JOINED.format(name="Aiko Tanaka"), since=mark)
    assert joined.text.startswith("<b>Helpdesk — Aiko Tanaka</b>\n")
    status = edited(fake, announcement.params["_message_id"], "claimed by Aiko Tanaka", mark)
    assert [b["text"] for b in status.buttons] == ["Hand back to the assistant", "Close"]

    # The user writes while the assistant is down: the message reaches the group, the user hears
    # nothing automatic (no "temporarily unavailable"), and the assistant is never asked.
    mark = fake.mark()
    fake.message(user_chat, "We need a partner in Kobe <script>x</script>", first_name="Anna")
    mirrored = fake.wait_text(STAFF_CHAT, "We need a partner in Kobe", since=mark)
    assert "&lt;script&gt;" in mirrored.text
    assert mirrored.params["reply_parameters"]["message_id"] == announcement.params["_message_id"]
    assert [m.text for m in h.ticket_detail(ticket.id, url=db_url).messages if m.sender == "user"][-1] == (
        "We need a partner in Kobe <script>x</script>"
    )

    # Aiko answers by replying to the mirrored message; a stranger's reply goes nowhere.
    mark = fake.mark()
    fake.message(STAFF_CHAT, "not staff", chat_type="supergroup", user_id=STRANGER_TG, reply_to=mirrored)
    fake.wait_text(STAFF_CHAT, f"link-telegram &lt;your username&gt; {STRANGER_TG}", since=mark)
    fake.message(
        STAFF_CHAT, "Hello Anna — try <Hyogo> clusters", chat_type="supergroup", user_id=AIKO_TG, reply_to=mirrored
    )
    reply = fake.wait_text(user_chat, "Hello Anna", since=mark)
    assert reply.text == "<b>Helpdesk — Aiko Tanaka</b>\nHello Anna — try &lt;Hyogo&gt; clusters"
    staff_lines = [m for m in h.ticket_detail(ticket.id, url=db_url).messages if m.sender == "staff"]
    assert [m.text for m in staff_lines][-1] == "Hello Anna — try <Hyogo> clusters"
    assert not any("not staff" in m.text for m in h.ticket_detail(ticket.id, url=db_url).messages)

    # Staff talking among themselves, even addressing the bot, never reaches the assistant.
    fake.message(STAFF_CHAT, "@kakehashi_test_bot find biotech clusters", chat_type="supergroup", user_id=AIKO_TG)
    mark = fake.mark()
    fake.message(STAFF_CHAT, "/whoami", chat_type="supergroup", user_id=AIKO_TG)
    who = fake.wait_text(STAFF_CHAT, f"Your Telegram user id is {AIKO_TG}", since=mark)
    assert "Aiko Tanaka (aiko)" in who.text

    # Hand back: the user is told, and the assistant (back now) answers the next message.
    assistant_stand_in.start(reply=canned("The assistant speaking."))
    mark = fake.mark()
    back = answered(fake, fake.press(STAFF_CHAT, f"hd:back:{ticket.id}", announcement, "supergroup", AIKO_TG))
    assert back.params.get("show_alert") is not True
    fake.wait_text(user_chat, helpdesk_texts.HANDED_BACK, since=mark)
    edited(fake, announcement.params["_message_id"], "the assistant has the conversation again", mark)
    assert h.active_ticket(f"tg-{user_chat}", url=db_url) is None
    mark = fake.mark()
    fake.message(user_chat, "thanks, and who does Osaka Bio Headquarters partner with?")
    fake.wait_text(user_chat, "The assistant speaking.", since=mark)
    # The only messages the assistant ever received: the one after hand back.
    assert [r["message"] for r in assistant_stand_in.requests] == [
        "thanks, and who does Osaka Bio Headquarters partner with?"
    ]
    assert assistant_stand_in.requests[0]["metadata"] == {"display_name": "Test", "language": "en"}
    # Aiko's reply typed in the group was not posted to the group a second time.
    assert not [c for c in group_messages(fake) if "try &lt;Hyogo&gt;" in c.text]

    mark = fake.mark()
    closed = answered(fake, fake.press(STAFF_CHAT, f"hd:close:{ticket.id}", announcement, "supergroup", AIKO_TG))
    assert closed.text == "Closed."
    final = edited(fake, announcement.params["_message_id"], "closed", mark)
    assert final.buttons == []
    assert h.get_ticket(ticket.id, url=db_url).status == "closed"


def test_announcements_survive_a_bot_restart_without_duplicates(fake_telegram, start_bot, assistant_stand_in, db_url):
    fake = fake_telegram
    first = h.open_ticket("tg-555", "telegram", "555", "asked_for_person", url=db_url)
    bot = start_bot(assistant_stand_in.url, db_url, TELEGRAM_STAFF_CHAT_ID=str(STAFF_CHAT))
    fake.wait_text(STAFF_CHAT, f"Ticket #{first.id}")
    # Posting and recording an announcement are two steps: a crash in between announces it again
    # (at least once, never lost). Stop once it is recorded.
    fake.wait_for(lambda _calls: not sg.to_announce(STAFF_CHAT, url=db_url), 30, "the announcement to be recorded")
    bot.stop()
    second = h.open_ticket(
        "web-abc", "socketio", "web-abc", "introduction", profile={"introduction_to": "Kobe"}, url=db_url
    )
    h.add_user_message("tg-555", "still there?", url=db_url)
    mark = fake.mark()
    start_bot(assistant_stand_in.url, db_url, TELEGRAM_STAFF_CHAT_ID=str(STAFF_CHAT))
    announced = fake.wait_text(STAFF_CHAT, f"Ticket #{second.id}", since=mark)
    assert "introduction to: Kobe" in announced.text and "web chat" in announced.text
    fake.wait_text(STAFF_CHAT, "still there?", since=mark)
    # The first ticket was announced once, before the restart, and only once.
    assert len([c for c in group_messages(fake) if f"Ticket #{first.id}" in c.text]) == 1


def test_a_malformed_staff_chat_id_is_a_clear_error(fake_telegram, start_bot, assistant_stand_in, db_url):
    with pytest.raises(RuntimeError, match="TELEGRAM_STAFF_CHAT_ID must be a chat id"):
        start_bot(assistant_stand_in.url, db_url, TELEGRAM_STAFF_CHAT_ID="the helpdesk group")


def test_the_announcement_escapes_everything():
    ticket = h.Ticket(
        1, "c", "socketio", "c", "<i>x</i>", "asked_for_person", {"sector": "<b>"}, "waiting", True,
        None, None, None, None, None, None, None, last_user_text="</b><script>",
    )  # fmt: skip
    text = staff_texts.announcement(ticket)
    for raw in ("<i>x</i>", "<b>\n", "</b><script>"):
        assert raw not in text
    assert "&lt;i&gt;x&lt;/i&gt;" in text and "&lt;/b&gt;&lt;script&gt;" in text
