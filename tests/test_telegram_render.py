"""Rendering the assistant's answers for Telegram: escaping, **bold**, splitting, keyboards; and
the group-chat addressing rules."""

from __future__ import annotations

import pytest
from telegram import Bot, Message, User

from bot.telegram import render
from bot.telegram.app import addressed, without_mention
from bot.telegram.config import ConfigError, load
from tests.fake_telegram import BOT_USER, _valid_html


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("plain", "plain"),
        ("**Osaka Bio Headquarters** — Osaka", "<b>Osaka Bio Headquarters</b> — Osaka"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("R&D **Kobe & Co <b>** 1 < 2", "R&amp;D <b>Kobe &amp; Co &lt;b&gt;</b> 1 &lt; 2"),
        ("**unclosed bold", "**unclosed bold"),
        ("a ** b ** c", "a <b> b </b> c"),
        ("&amp; stays literal", "&amp;amp; stays literal"),
        ("quotes \" and ' are fine", "quotes \" and ' are fine"),
    ],
)
def test_to_html_escapes_everything_but_bold(text, html):
    assert render.to_html(text) == html
    assert _valid_html(render.to_html(text))


def test_database_text_with_markup_is_shown_as_text():
    line = "1. **<script>alert('x')</script> & Partners** — Osaka: <i>regenerative</i> medicine &amp; more"
    html = render.to_html(line)
    assert "<script>" not in html and "<i>" not in html
    assert html.startswith("1. <b>&lt;script&gt;alert('x')&lt;/script&gt; &amp; Partners</b>")
    assert _valid_html(html)


def test_a_6000_character_answer_splits_in_two_at_a_paragraph():
    paragraphs = [f"**Cluster {i}** — " + "regenerative medicine & cell therapy " * 8 for i in range(20)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    assert 5_900 <= len(text) <= 6_300
    pieces = render.split(text)
    assert len(pieces) == 2
    assert all(render.tg_len(render.to_html(p)) < render.MAX_MESSAGE for p in pieces)
    assert "\n\n".join(pieces) == text  # nothing lost, cut between paragraphs


def test_split_falls_back_to_lines_words_and_hard_cuts():
    lines = "\n".join(f"{i}. " + ("word " * 30).strip() for i in range(60))
    pieces = render.split(lines, limit=1000)
    assert len(pieces) > 1 and all(render.tg_len(render.to_html(p)) <= 1000 for p in pieces)
    assert "\n".join(pieces) == lines
    words = ("word " * 3000).strip()
    pieces = render.split(words)
    assert len(pieces) == 4 and all(render.tg_len(p) <= 4096 and not p.endswith(" ") for p in pieces)
    assert " ".join(pieces) == words
    one_word = "x" * 9000
    pieces = render.split(one_word)
    assert [len(p) for p in pieces] == [4096, 4096, 808]
    escaped = "&" * 3000  # 5 characters each once escaped
    assert all(render.tg_len(render.to_html(p)) <= 4096 for p in render.split(escaped))


def test_split_counts_utf16_like_telegram():
    emoji = "🇯🇵" * 1500  # 4 UTF-16 units each: 6000 units in 3000 characters
    pieces = render.split(emoji)
    assert len(pieces) == 2 and all(render.tg_len(p) <= 4096 for p in pieces)
    assert "".join(pieces) == emoji


def test_plan_joins_texts_and_puts_buttons_on_the_last_piece():
    answers = [
        {"text": "Here is what I found:"},
        {
            "text": "1. **A**\n2. **B**",
            "buttons": [
                {"title": "Show more", "payload": "/show_more~k=1"},
                {"title": "", "payload": "/x"},
                "junk",
                {"title": "Site", "url": "https://example.org"},
                {"title": "Bad", "url": "javascript:alert(1)"},
            ],
        },
        {"text": "Source: the knowledge base."},
        {"custom": {"kakehashi": {"type": "organisations"}}},
    ]
    plan = render.plan(answers)
    assert [p.chunks for p in plan] == [
        ["Here is what I found:\n\n1. **A**\n2. **B**"],
        ["Source: the knowledge base."],
    ]
    assert plan[0].buttons == [
        {"title": "Show more", "payload": "/show_more~k=1"},
        {"title": "Site", "url": "https://example.org"},
    ]
    assert render.plan([{"buttons": [{"title": "Go", "payload": "/go"}]}])[0].chunks == ["Choose an option:"]
    assert render.plan([]) == [] and render.plan([{"text": "  "}]) == []


def test_keyboard_one_button_per_row_with_short_callback_data():
    buttons = [
        {"title": "Details of no. 1", "payload": "/ask_details" + "x" * 200},
        {"title": "Website", "url": "https://example.org"},
    ]
    markup = render.keyboard(buttons, lambda b: "k:" + "A" * 16)
    rows = markup.inline_keyboard
    assert [len(r) for r in rows] == [1, 1]
    assert rows[0][0].callback_data == "k:" + "A" * 16 and rows[1][0].url == "https://example.org"


def _message(text: str, chat_type: str = "supergroup", **extra) -> Message:
    bot = Bot("123456:TEST")
    bot._bot_user = User(**{k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")})  # as getMe
    data = {
        "message_id": 1,
        "date": 0,
        "text": text,
        "chat": {"id": -5, "type": chat_type},
        "from": {"id": 9, "is_bot": False, "first_name": "U"},
        **extra,
    }
    return Message.de_json(data, bot)


def test_group_messages_are_addressed_only_by_mention_command_or_reply():
    name = BOT_USER["username"]
    assert addressed(_message("hello", chat_type="private"))
    assert not addressed(_message("hello everyone"))
    assert not addressed(_message("/help", entities=[{"type": "bot_command", "offset": 0, "length": 5}]))
    assert addressed(
        _message(f"/help@{name}", entities=[{"type": "bot_command", "offset": 0, "length": 6 + len(name)}])
    )
    assert addressed(
        _message(f"hey @{name} find biotech", entities=[{"type": "mention", "offset": 4, "length": 1 + len(name)}])
    )
    assert not addressed(_message("hey @someone_else", entities=[{"type": "mention", "offset": 4, "length": 13}]))
    reply = {"message_id": 0, "date": 0, "chat": {"id": -5, "type": "supergroup"}, "from": BOT_USER, "text": "…"}
    assert addressed(_message("and Kobe?", reply_to_message=reply))
    assert without_mention(f"@{name.upper()} find biotech", name) == "find biotech"


def test_configuration_from_the_environment(monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        load()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:abc")
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:5999/")
    config = load()
    assert config.api_base_url == "https://api.telegram.org/bot" and not config.webhook_mode
    assert config.assistant_url == "http://127.0.0.1:5999"
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.org/tg/hook")
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        load()
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "bad secret with spaces")
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        load()
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "good_secret-1")
    assert load().webhook_path == "/tg/hook"
    monkeypatch.setenv("TELEGRAM_MESSAGES_PER_MINUTE", "many")
    with pytest.raises(ConfigError, match="TELEGRAM_MESSAGES_PER_MINUTE"):
        load()
