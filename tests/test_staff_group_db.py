"""db/staff_group.py on SQLite and PostgreSQL: Telegram links of staff accounts, which tickets to
announce in the staff group, which announcements to refresh, which ticket messages to mirror
(each once, across restarts), and which ticket a group message is about; the 0006 migration."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import inspect

from db import handoff as h
from db import staff_group as sg
from db.engine import get_engine
from db.migrate import downgrade, upgrade

PASSWORD = "correct horse battery staple"
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def url(kb_maker) -> str:
    return kb_maker.empty()


@pytest.fixture
def chat() -> int:
    """A staff group of its own for each test (the module shares one database)."""
    return -1_000_000_000_000 - next(_ids)


def staff(url: str, name: str) -> h.Staff:
    return h.create_staff(f"{name}-{next(_ids)}", PASSWORD, name.title(), url=url)


def ticket(url: str, reason: str = "asked_for_person", text: str = "hello") -> h.Ticket:
    n = next(_ids)
    return h.open_ticket(
        f"tg-{9000 + n}", "telegram", str(9000 + n), reason, [{"sender": "user", "text": text}], url=url
    )


def announce_all(url: str, chat: int) -> list[h.Ticket]:
    """Announce everything due, as the bot does, with made-up message ids."""
    due = sg.to_announce(chat, url=url)
    for t in due:
        sg.record_announcement(chat, t, 50_000 + t.id, url=url)
    return due


def test_links_act_for_one_account_and_follow_deactivation(url):
    aiko, ben = staff(url, "aiko"), staff(url, "ben")
    assert sg.staff_for_telegram(111, url=url) is None
    assert sg.link_telegram(aiko.username, 111, url=url).id == aiko.id
    assert sg.staff_for_telegram(111, url=url).username == aiko.username
    # Linking the same Telegram user to another account moves the link; an account has one link.
    sg.link_telegram(ben.username, 111, url=url)
    assert sg.staff_for_telegram(111, url=url).username == ben.username
    sg.link_telegram(ben.username, 222, url=url)
    assert sg.staff_for_telegram(111, url=url) is None
    assert sg.staff_for_telegram(222, url=url).id == ben.id
    h.set_staff_active(ben.username, False, url=url)
    assert sg.staff_for_telegram(222, url=url) is None  # a deactivated account cannot act
    h.set_staff_active(ben.username, True, url=url)
    assert sg.unlink_telegram(ben.username, url=url) is True
    assert sg.unlink_telegram(ben.username, url=url) is False
    assert sg.staff_for_telegram(222, url=url) is None


@pytest.mark.parametrize("bad", [0, -5, True, "123"])
def test_link_refuses_malformed_ids(url, bad):
    with pytest.raises(ValueError, match="Telegram user id"):
        sg.link_telegram(staff(url, "carla").username, bad, url=url)


def test_link_names_a_missing_account(url):
    with pytest.raises(ValueError, match="no staff account"):
        sg.link_telegram("nobody-here", 5, url=url)


def test_each_open_ticket_is_announced_once_per_group(url, chat):
    first, second = ticket(url), ticket(url, "introduction")
    due = {t.id for t in sg.to_announce(chat, url=url)}
    assert {first.id, second.id} <= due
    announce_all(url, chat)
    assert sg.to_announce(chat, url=url) == []
    assert {first.id, second.id} <= {t.id for t in sg.to_announce(chat - 1, url=url)}  # another group
    assert sg.ticket_for_message(chat, 50_000 + first.id, url=url) == first.id
    third = ticket(url)
    assert [t.id for t in sg.to_announce(chat, url=url)] == [third.id]


def test_closed_tickets_are_not_announced(url, chat):
    announce_all(url, chat)
    t = ticket(url)
    h.close(t.id, staff(url, "dora"), url=url)
    assert t.id not in {x.id for x in sg.to_announce(chat, url=url)}


def test_status_changes_are_refreshed_until_closed(url, chat):
    announce_all(url, chat)
    t = ticket(url)
    announce_all(url, chat)
    assert sg.to_refresh(chat, url=url) == []
    aiko = staff(url, "aiko")
    assert h.claim(t.id, aiko, url=url)
    changed = [a for a in sg.to_refresh(chat, url=url) if a.ticket.id == t.id]
    assert len(changed) == 1 and changed[0].ticket.status == "claimed"
    assert changed[0].ticket.claimed_by_name == "Aiko" and changed[0].shown.startswith("waiting|")
    sg.set_shown(chat, changed[0].ticket, url=url)
    assert sg.to_refresh(chat, url=url) == []
    h.hand_back(t.id, aiko, url=url)
    assert [a.ticket.assistant_paused for a in sg.to_refresh(chat, url=url)] == [False]
    h.close(t.id, aiko, url=url)
    closed = sg.to_refresh(chat, url=url)
    assert [a.ticket.status for a in closed] == ["closed"]
    sg.set_shown(chat, closed[0].ticket, url=url)
    assert sg.to_refresh(chat, url=url) == []  # closed announcements are left alone for good


def test_later_messages_are_mirrored_once_in_order(url, chat):
    announce_all(url, chat)
    t = ticket(url, text="before the announcement")
    announce_all(url, chat)
    assert sg.to_mirror(chat, url=url) == []  # the announcement covers what came before
    aiko = staff(url, "aiko")
    h.claim(t.id, aiko, "Aiko joined", url=url)
    h.add_user_message(t.conversation_id, "first", url=url)
    h.add_user_message(t.conversation_id, "second", url=url)
    due = sg.to_mirror(chat, url=url)
    assert [(m.message.sender, m.message.text) for m in due][-3:] == [
        ("staff", "Aiko joined"),
        ("user", "first"),
        ("user", "second"),
    ]
    assert {m.announcement_id for m in due} == {50_000 + t.id}
    ids = [m.message.id for m in due]
    assert ids == sorted(ids)
    for item in due:
        assert sg.record_post(chat, 70_000 + item.message.id, t.id, item.message.id, url=url)
    assert sg.to_mirror(chat, url=url) == []
    assert not sg.record_post(chat, 99_999, t.id, ids[0], url=url)  # the same message twice: refused
    assert sg.ticket_for_message(chat, 70_000 + ids[-1], url=url) == t.id


def test_a_reply_typed_in_the_group_is_not_mirrored_back(url, chat):
    announce_all(url, chat)
    t = ticket(url)
    announce_all(url, chat)
    aiko = staff(url, "aiko")
    h.claim(t.id, aiko, url=url)
    for item in sg.to_mirror(chat, url=url):
        sg.record_post(chat, 80_000 + item.message.id, t.id, item.message.id, url=url)
    sent = h.add_staff_message(t.id, aiko, "typed in the group", url=url)
    sg.record_post(chat, 12345, t.id, sent.id, url=url)  # what the bot does with the staff reply
    assert sg.to_mirror(chat, url=url) == []
    assert sg.ticket_for_message(chat, 12345, url=url) == t.id


def test_unknown_group_messages_belong_to_no_ticket(url, chat):
    assert sg.ticket_for_message(chat, 424242, url=url) is None


def test_migration_0006_goes_down_and_up(kb_maker):
    url = kb_maker.empty()
    engine = get_engine(url)
    tables = {"staff_telegram_links", "staff_group_tickets", "staff_group_posts"}
    assert tables <= set(inspect(engine).get_table_names())
    downgrade(engine, "0005")
    names = set(inspect(engine).get_table_names())
    assert not tables & names and "tickets" in names
    upgrade(engine)
    assert tables <= set(inspect(engine).get_table_names())
    aiko = staff(url, "aiko")
    sg.link_telegram(aiko.username, 77, url=url)
    assert sg.staff_for_telegram(77, url=url).id == aiko.id
