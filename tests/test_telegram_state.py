"""db.channel_state on SQLite and PostgreSQL: conversation generations, stored button payloads,
pending messages, the outbox; and the 0004 migration down and up."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect

from db import channel_state as cs
from db.engine import get_engine
from db.migrate import downgrade, upgrade

TG = cs.TELEGRAM


@pytest.fixture(scope="module")
def url(kb_maker) -> str:
    return kb_maker.empty()


def test_conversation_ids_are_stable_and_reset_makes_a_new_one(url):
    chat = 1001
    assert cs.conversation_generation(TG, chat, url=url) == 0
    assert cs.conversation_id(TG, chat) == "tg-1001"
    cs.add_pending(TG, chat, "tg-1001", "kept", url=url)
    assert cs.new_conversation(TG, chat, url=url) == 1
    assert cs.new_conversation(TG, str(chat), url=url) == 2
    assert cs.conversation_generation(TG, chat, url=url) == 2
    assert cs.conversation_id(TG, chat, 2) == "tg-1001:2"
    assert cs.pending_count(TG, chat, url=url) == 0  # a reset forgets unanswered messages
    assert cs.conversation_id(TG, -100123, 1) == "tg--100123:1"
    assert cs.recipient_of("tg--100123:1") == (TG, "-100123")
    assert cs.recipient_of("tg-42") == (TG, "42")
    for other in ("web-abc", "tg-", "tg-12x", "t-123", "", "tg-1:2:3"):
        assert cs.recipient_of(other) is None
    with pytest.raises(ValueError, match="chat id"):
        cs.conversation_generation(TG, "", url=url)


def test_callbacks_are_kept_per_chat_and_expire(url):
    payload = '/request_introduction{"org_name":"' + "Osaka Bio Headquarters " * 5 + '"}~k=abc\x00'
    key = cs.store_callback(TG, 7, "tg-7", payload, "Introduce me", url=url)
    assert len(f"k:{key}".encode()) <= 64
    stored = cs.load_callback(TG, 7, key, dt.timedelta(days=1), url=url)
    assert stored.payload == payload.replace("\x00", "") and stored.conversation_id == "tg-7"
    assert stored.title == "Introduce me"
    assert cs.load_callback(TG, 8, key, url=url) is None  # another chat's button
    assert cs.load_callback(TG, 7, "no-such-key", url=url) is None
    assert cs.load_callback(TG, 7, "x" * 500, url=url) is None
    assert cs.load_callback(TG, 7, key, dt.timedelta(seconds=-1), url=url) is None  # too old
    assert cs.purge_callbacks(dt.timedelta(seconds=-1), url=url) >= 1
    assert cs.load_callback(TG, 7, key, url=url) is None


def test_pending_messages_in_order(url):
    first = cs.add_pending(TG, 55, "tg-55", "first", {"site_cluster": "x"}, 10, url=url)
    second = cs.add_pending(TG, 55, "tg-55", "second", url=url)
    cs.add_pending(TG, 56, "tg-56", "other chat", url=url)
    assert cs.pending_count(TG, 55, url=url) == 2
    waiting = [p for p in cs.oldest_pending(TG, url=url) if p.chat_id == "55"]
    assert [(p.text, p.metadata, p.reply_to) for p in waiting] == [
        ("first", {"site_cluster": "x"}, 10),
        ("second", {}, None),
    ]
    cs.pending_attempted(first.id, url=url)
    assert cs.get_pending(first.id, url=url).attempts == 1
    assert cs.remove_pending(first.id, url=url) and not cs.remove_pending(first.id, url=url)
    assert cs.get_pending(first.id, url=url) is None
    assert cs.get_pending(second.id, url=url).received_at.tzinfo is not None


def test_outbox_lifecycle(url):
    ok = cs.enqueue_outbound(
        TG,
        77,
        "Your introduction is on its way.",
        [{"title": "Status", "payload": "/ask_introduction_status"}, {"title": "Site", "url": "https://example.org"}],
        sender_label="Helpdesk",
        url=url,
    )
    due = {m.id: m for m in cs.outbound_due(TG, url=url)}
    assert due[ok].recipient == "77" and due[ok].status == "queued" and due[ok].sender_label == "Helpdesk"
    assert due[ok].buttons[0] == {"title": "Status", "payload": "/ask_introduction_status"}
    cs.mark_delivered(ok, url=url)
    status = cs.outbound_status(ok, url=url)
    assert status.status == "delivered" and status.delivered_at is not None
    assert ok not in {m.id for m in cs.outbound_due(TG, url=url)}

    flaky = cs.enqueue_for_conversation("tg-78:3", "hello", url=url)
    assert cs.outbound_status(flaky, url=url).recipient == "78"
    assert cs.mark_attempt_failed(flaky, "timed out", dt.timedelta(minutes=5), url=url) == "queued"
    assert flaky not in {m.id for m in cs.outbound_due(TG, url=url)}  # not due again yet
    assert cs.mark_attempt_failed(flaky, "blocked", None, url=url) == "failed"
    assert cs.outbound_status(flaky, url=url).last_error == "blocked"
    assert cs.enqueue_for_conversation("web-session", "hello", url=url) is None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "fax"}, "unknown channel"),
        ({"text": "  "}, "non-empty"),
        ({"buttons": [{"title": "x"}]}, "exactly one"),
        ({"buttons": [{"title": "x", "payload": "/a", "url": "https://e.org"}]}, "exactly one"),
        ({"buttons": [{"payload": "/a"}]}, "title"),
        ({"recipient": ""}, "chat id"),
    ],
)
def test_outbox_refuses_malformed_messages(url, kwargs, error):
    args = {"channel": TG, "recipient": 1, "text": "hi", **kwargs}
    with pytest.raises(ValueError, match=error):
        cs.enqueue_outbound(args.pop("channel"), args.pop("recipient"), args.pop("text"), url=url, **args)


def test_migration_0004_goes_down_and_up(kb_maker):
    url = kb_maker.empty()
    engine = get_engine(url)
    tables = {"channel_conversations", "channel_callbacks", "channel_pending", "channel_outbox"}
    assert tables <= set(inspect(engine).get_table_names())
    downgrade(engine, "0003")
    assert not tables & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert tables <= set(inspect(engine).get_table_names())
