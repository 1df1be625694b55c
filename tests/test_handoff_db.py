"""db.handoff on SQLite and PostgreSQL: the ticket lifecycle, the silence rule, staff replies into
the channel outbox, the claim race with real threads, staff accounts and sessions, the channel
relay, and the 0005 migration down and up."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import inspect, select

import db
from bot.helpdesk import relay, texts
from db import channel_state as cs
from db import handoff as h
from db.engine import get_engine, session_scope
from db.migrate import downgrade, upgrade

PASSWORD = "correct horse battery staple"
_ids = iter(range(1, 1_000_000))


@pytest.fixture(scope="module")
def url(kb_maker) -> str:
    return kb_maker.empty()


def conv(prefix: str = "web") -> str:
    """A conversation id of its own for each test (the module shares one database)."""
    return f"{prefix}-{next(_ids)}-{threading.get_ident() % 1000}"


def web_conv() -> str:
    """A web widget session id (socket.io conversation), 32 hex + "." + 24 hex."""
    return f"{next(_ids):032x}.{'a' * 24}"


@pytest.fixture(scope="module")
def staff(url) -> list[h.Staff]:
    return [h.create_staff(f"staff{i}", PASSWORD, f"Staff Member {i}", url=url) for i in range(8)]


def open_web(url: str, reason: str = "asked_for_person", **kwargs) -> h.Ticket:
    cid = web_conv()
    return h.open_ticket(cid, "socketio", cid, reason, url=url, **kwargs)


def outbox_row(url: str, outbox_id: int) -> cs.OutboundMessage:
    row = cs.outbound_status(outbox_id, url=url)
    assert row is not None
    return row


# --------------------------------------------------------------------------- tickets


def test_open_ticket_keeps_the_transcript_and_profile_and_holds_the_conversation(url):
    cid = web_conv()
    transcript = [
        {"sender": "user", "text": "biotech clusters in Osaka", "at": 1_700_000_000.0},
        {"sender": "assistant", "text": "I found 3 …", "at": 1_700_000_001.0},
        {"sender": "user", "text": "can I talk to someone?\x00", "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        {"sender": "hacker", "text": "ignored"},
        {"sender": "user", "text": "   "},
        "not a mapping",
    ]
    ticket = h.open_ticket(
        cid, "socketio", cid, "asked_for_person", transcript, {"profile_sector": "Biotech"}, "Anna", url=url
    )
    assert ticket.status == "waiting" and ticket.assistant_paused and ticket.reason == "asked_for_person"
    assert ticket.channel == "socketio" and ticket.recipient == cid and ticket.display_name == "Anna"
    assert ticket.profile == {"profile_sector": "Biotech"} and ticket.deliverable
    assert h.active_ticket(cid, url=url).id == ticket.id
    detail = h.ticket_detail(ticket.id, url=url)
    assert [(m.sender, m.text) for m in detail.messages] == [
        ("user", "biotech clusters in Osaka"),
        ("assistant", "I found 3 …"),
        ("user", "can I talk to someone?"),
        ("system", "Handed to the helpdesk (asked_for_person)."),
    ]
    assert detail.messages[0].created_at == dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)
    assert detail.ticket.last_user_text == "can I talk to someone?"


def test_open_ticket_is_idempotent_per_conversation(url):
    cid = web_conv()
    first = h.open_ticket(cid, "socketio", cid, "asked_for_person", [{"sender": "user", "text": "hi"}], url=url)
    again = h.open_ticket(cid, "socketio", cid, "not_understood", [{"sender": "user", "text": "hi"}],
                          {"profile_home": "Lyon"}, url=url)  # fmt: skip
    assert again.id == first.id and again.reason == "asked_for_person" and again.profile == {"profile_home": "Lyon"}
    assert len(h.tickets_of(cid, url=url)) == 1
    assert [m.text for m in h.messages_since(first.id, url=url) if m.sender == "user"] == ["hi"]


def test_two_processes_opening_at_once_make_one_ticket(url):
    cid = web_conv()
    barrier = threading.Barrier(6)

    def opener(_):
        barrier.wait()
        return h.open_ticket(cid, "socketio", cid, "asked_for_person", url=url).id

    with ThreadPoolExecutor(6) as pool:
        ids = set(pool.map(opener, range(6)))
    assert len(ids) == 1
    assert len(h.tickets_of(cid, url=url)) == 1


def test_an_introduction_is_a_lead_that_holds_the_conversation_only_once_taken(url, staff):
    ticket = open_web(url, "introduction", profile={"introduction_to": "Osaka Bio Headquarters"})
    cid = ticket.conversation_id
    assert ticket.status == "waiting" and not ticket.assistant_paused
    assert h.active_ticket(cid, url=url) is None  # the assistant keeps answering
    assert h.add_user_message(cid, "what happened to my introduction request?", url=url) is None
    h.open_ticket(cid, "socketio", cid, "introduction", profile={"introduction_to": "Techtera"}, url=url)
    h.open_ticket(cid, "socketio", cid, "introduction", profile={"introduction_to": "Techtera"}, url=url)
    assert h.current_ticket(cid, url=url).profile["introduction_to"] == "Osaka Bio Headquarters; Techtera"
    assert h.claim(ticket.id, staff[0], url=url)
    assert h.active_ticket(cid, url=url).id == ticket.id  # staff took it: the assistant steps aside


def test_asking_for_a_person_after_an_introduction_makes_the_lead_hold(url):
    ticket = open_web(url, "introduction", profile={"introduction_to": "Techtera"})
    cid = ticket.conversation_id
    again = h.open_ticket(cid, "socketio", cid, "asked_for_person", url=url)
    assert again.id == ticket.id and again.assistant_paused
    assert again.profile["introduction_to"] == "Techtera"
    assert h.messages_since(ticket.id, url=url)[-1].text == "The user asked for a person again (asked_for_person)."


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"reason": "bored"}, "reason"),
        ({"conversation_id": ""}, "conversation_id"),
        ({"channel": ""}, "channel"),
        ({"recipient": " "}, "recipient"),
    ],
)
def test_open_ticket_refuses_malformed_requests(url, kwargs, error):
    args = {"conversation_id": "web-x", "channel": "socketio", "recipient": "r", "reason": "asked_for_person"}
    with pytest.raises(ValueError, match=error):
        h.open_ticket(**{**args, **kwargs}, url=url)


def test_route_for_finds_telegram_chats_and_web_sessions():
    assert h.route_for("tg-123456", "rest") == ("telegram", "123456")
    assert h.route_for("tg--100123:2", "rest") == ("telegram", "-100123")
    sid = "0123456789abcdef0123456789abcdef.0123456789abcdef01234567"
    assert h.route_for(sid, "socketio") == ("socketio", sid)
    assert h.route_for("curl-user", "rest") == ("rest", "curl-user")
    assert h.route_for("someone", None) == ("rest", "someone")


# --------------------------------------------------------------------------- the conversation


def test_user_messages_reach_the_ticket_only_while_it_holds_the_conversation(url, staff):
    cid = web_conv()
    assert h.add_user_message(cid, "hello?", url=url) is None  # no ticket: for the assistant
    ticket = h.open_ticket(cid, "socketio", cid, "asked_for_person", url=url)
    stored = h.add_user_message(cid, "my email is anna@example.org\x00", "Anna", url=url)
    assert stored.sender == "user" and stored.text == "my email is anna@example.org"
    assert h.add_user_message(cid, "   ", url=url) is None
    assert h.current_ticket(cid, url=url).display_name == "Anna"
    assert h.claim(ticket.id, staff[0], url=url)
    assert h.hand_back(ticket.id, staff[0], "You're back with the assistant.", url=url)
    assert h.add_user_message(cid, "thanks!", url=url) is None  # back with the assistant
    assert h.active_ticket(cid, url=url) is None
    assert h.current_ticket(cid, url=url).status == "claimed"  # still open for follow-up


def test_a_staff_reply_is_stored_and_queued_in_the_channel_outbox(url, staff):
    ticket = open_web(url)
    with pytest.raises(h.HandoffError, match="claim"):
        h.add_staff_message(ticket.id, staff[0], "hi", url=url)
    assert h.claim(ticket.id, staff[0], "Staff Member 0 from our helpdesk has joined.", url=url)
    reply = h.add_staff_message(ticket.id, staff[0], "Hello <b>Anna</b> & co.", url=url)
    assert reply.sender == "staff" and reply.author == "Staff Member 0" and reply.delivery == "queued"
    due = [m for m in cs.outbound_due("socketio", 100, url=url) if m.recipient == ticket.recipient]
    assert [(m.text, m.sender_label) for m in due] == [
        ("Staff Member 0 from our helpdesk has joined.", "Helpdesk — Staff Member 0"),
        ("Hello <b>Anna</b> & co.", "Helpdesk — Staff Member 0"),
    ]
    cs.mark_delivered(due[1].id, url=url)
    states = h.delivery_states(ticket.id, url=url)
    assert states[reply.id] == "delivered"
    assert [m.delivery for m in h.messages_since(ticket.id, reply.id - 1, url=url)] == ["delivered"]
    with pytest.raises(h.HandoffError):
        h.add_staff_message(ticket.id, staff[1], "not mine", url=url)  # someone else's ticket
    with pytest.raises(ValueError):
        h.add_staff_message(ticket.id, staff[0], "  ", url=url)


def test_telegram_replies_go_to_the_chat_and_rest_replies_are_kept(url, staff):
    chat = 900_000 + next(_ids)
    cid = cs.conversation_id("telegram", chat)
    channel, recipient = h.route_for(cid, "rest")
    ticket = h.open_ticket(cid, channel, recipient, "asked_for_person", url=url)
    assert h.claim(ticket.id, staff[1], url=url)
    reply = h.add_staff_message(ticket.id, staff[1], "Hello from the helpdesk", url=url)
    due = [m for m in cs.outbound_due("telegram", 100, url=url) if m.recipient == str(chat)]
    assert [(m.text, m.sender_label) for m in due] == [("Hello from the helpdesk", "Helpdesk — Staff Member 1")]
    assert reply.delivery == "queued"

    rest = h.open_ticket("curl-user-1", "rest", "curl-user-1", "asked_for_person", url=url)
    assert not rest.deliverable
    assert h.claim(rest.id, staff[1], url=url)
    kept = h.add_staff_message(rest.id, staff[1], "stored, not pushed", url=url)
    assert kept.delivery is None and h.messages_since(rest.id, kept.id - 1, url=url)[0].text == "stored, not pushed"


def test_hand_back_then_close(url, staff):
    ticket = open_web(url)
    assert not h.hand_back(ticket.id, staff[2], url=url)  # not claimed
    assert h.claim(ticket.id, staff[2], url=url)
    assert not h.hand_back(ticket.id, staff[3], url=url)  # someone else's
    assert h.hand_back(ticket.id, staff[2], "You're back with the assistant.", url=url)
    assert not h.hand_back(ticket.id, staff[2], url=url)  # already handed back
    msgs = h.messages_since(ticket.id, url=url)
    assert (msgs[-1].sender, msgs[-1].text, msgs[-1].delivery) == (
        "assistant",
        "You're back with the assistant.",
        "queued",
    )
    assert not h.close(ticket.id, staff[3], url=url)  # held by someone else
    assert h.close(ticket.id, staff[2], "not sent: the ticket no longer holds the conversation", url=url)
    closed = h.get_ticket(ticket.id, url=url)
    assert closed.status == "closed" and closed.closed_by == "staff2" and closed.closed_at is not None
    assert h.messages_since(ticket.id, url=url)[-1].text == "Closed by Staff Member 2."
    assert not h.close(ticket.id, staff[2], url=url)
    # a new request opens a new ticket
    again = h.open_ticket(ticket.conversation_id, "socketio", ticket.recipient, "asked_for_person", url=url)
    assert again.id != ticket.id and again.status == "waiting"


def test_closing_a_held_conversation_tells_the_user(url, staff):
    ticket = open_web(url)
    assert h.close(ticket.id, staff[4], "You're back with the assistant.", url=url)  # a waiting ticket
    last = h.messages_since(ticket.id, url=url)[-1]
    assert last.sender == "assistant" and last.delivery == "queued"
    assert h.active_ticket(ticket.conversation_id, url=url) is None


def test_release_puts_a_ticket_back_in_the_queue(url, staff):
    ticket = open_web(url)
    assert h.claim(ticket.id, staff[0], url=url)
    assert not h.release(ticket.id, staff[1], url=url)
    assert h.release(ticket.id, staff[0], url=url)
    back = h.get_ticket(ticket.id, url=url)
    assert back.status == "waiting" and back.claimed_by is None and back.assistant_paused
    assert h.claim(ticket.id, staff[1], url=url)


def test_the_user_can_cancel_waiting(url, staff):
    waiting = open_web(url)
    cancelled = h.cancel_by_user(waiting.conversation_id, url=url)
    assert cancelled.status == "closed" and cancelled.closed_by == "user" and not cancelled.assistant_paused
    assert h.cancel_by_user(waiting.conversation_id, url=url) is None
    assert not h.claim(waiting.id, staff[0], url=url)  # too late for staff

    talking = open_web(url)
    assert h.claim(talking.id, staff[0], url=url)
    after = h.cancel_by_user(talking.conversation_id, url=url)
    assert after.status == "claimed" and not after.assistant_paused  # staff still see and close it
    assert h.messages_since(talking.id, url=url)[-1].text == "The user cancelled and went back to the assistant."


def test_notes_queue_and_live_updates(url, staff):
    ticket = open_web(url, profile={"profile_sector": "Cosmetics"}, display_name="<img src=x onerror=alert(1)>")
    note = h.add_note(ticket.id, staff[5], "Call back on Monday", url=url)
    assert note.author == "Staff Member 5" and h.notes(ticket.id, url=url)[-1].text == "Call back on Monday"
    with pytest.raises(h.HandoffError):
        h.add_note(10**8, staff[5], "no such ticket", url=url)
    last = h.messages_since(ticket.id, url=url)[-1].id
    assert h.messages_since(ticket.id, last, url=url) == []
    h.add_user_message(ticket.conversation_id, "still there?", url=url)
    assert [m.text for m in h.messages_since(ticket.id, last, url=url)] == ["still there?"]
    queued = {t.id: t for t in h.queue(url=url)}
    assert queued[ticket.id].last_user_text == "still there?"
    assert queued[ticket.id].display_name == "<img src=x onerror=alert(1)>"  # stored as text
    statuses = [t.status for t in h.queue(url=url)]
    assert statuses == sorted(statuses, key=lambda s: s != "waiting")  # waiting first
    assert h.get_ticket(10**8, url=url) is None and h.ticket_detail(10**8, url=url) is None


def test_messages_survive_a_restart(url, staff, monkeypatch):
    """Every write is committed before the call returns: new engines (a restarted process) see it."""
    monkeypatch.setenv("KAKEHASHI_AUTO_SEED", "0")
    ticket = open_web(url)
    h.add_user_message(ticket.conversation_id, "written just before the restart", url=url)
    db.dispose_all()
    assert h.active_ticket(ticket.conversation_id, url=url).id == ticket.id
    assert h.messages_since(ticket.id, url=url)[-1].text == "written just before the restart"


# --------------------------------------------------------------------------- the race


@pytest.mark.parametrize("round_", range(5))
def test_staff_racing_for_a_ticket_exactly_one_wins(url, staff, round_):
    ticket = open_web(url)
    barrier = threading.Barrier(len(staff))

    def grab(person: h.Staff) -> bool:
        barrier.wait()
        return h.claim(ticket.id, person, f"{person.display_name} joined", url=url)

    with ThreadPoolExecutor(len(staff)) as pool:
        results = list(pool.map(grab, staff))
    assert results.count(True) == 1
    winner = staff[results.index(True)]
    final = h.get_ticket(ticket.id, url=url)
    assert final.claimed_by == winner.username
    msgs = h.messages_since(ticket.id, url=url)
    assert [m.text for m in msgs if m.sender == "system" and m.text.startswith("Claimed")] == [
        f"Claimed by {winner.display_name} ({winner.username})."
    ]
    assert [m.author for m in msgs if m.sender == "staff"] == [winner.display_name]  # one "joined" notice


def test_racing_claim_against_user_cancel(url, staff):
    for _ in range(5):
        ticket = open_web(url)
        barrier = threading.Barrier(2)

        def grab(ticket=ticket, barrier=barrier):
            barrier.wait()
            return h.claim(ticket.id, staff[6], url=url)

        def cancel(ticket=ticket, barrier=barrier):
            barrier.wait()
            return h.cancel_by_user(ticket.conversation_id, url=url)

        with ThreadPoolExecutor(2) as pool:
            claimed, cancelled = pool.submit(grab), pool.submit(cancel)
            won, after = claimed.result(), cancelled.result()
        final = h.get_ticket(ticket.id, url=url)
        assert not final.assistant_paused  # the user's cancel always frees the conversation
        assert final.status == ("claimed" if won else "closed")
        assert after is not None


# --------------------------------------------------------------------------- staff accounts


def test_staff_accounts_and_sessions(url):
    anna = h.create_staff("Anna.K", PASSWORD, "  Anna   Kowalska ", url=url)
    assert (anna.username, anna.display_name, anna.label) == ("anna.k", "Anna Kowalska", "Helpdesk — Anna Kowalska")
    with pytest.raises(h.StaffExists):
        h.create_staff("ANNA.K", PASSWORD, url=url)
    with pytest.raises(ValueError, match="at least"):
        h.create_staff("bob", "short", url=url)
    with pytest.raises(ValueError, match="username"):
        h.create_staff("bad name!", PASSWORD, url=url)
    with session_scope(url) as session:
        stored = session.scalar(select(h.StaffAccount.password_hash).where(h.StaffAccount.username == "anna.k"))
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert h.hash_password(PASSWORD) != h.hash_password(PASSWORD)  # a salt per hash

    token = h.authenticate("anna.k", PASSWORD, url=url)
    assert token and h.staff_for_token(token, url=url) == anna
    assert h.authenticate(" Anna.K ", PASSWORD, url=url)  # usernames are case-insensitive
    for user, password in [("anna.k", "wrong password!"), ("nobody", PASSWORD), ("anna.k", ""), ("", ""),
                           ("anna.k", "x" * 5000), ("bad name!", PASSWORD)]:  # fmt: skip
        assert h.authenticate(user, password, url=url) is None
    for garbage in (None, "", "x" * 500, "not-a-token"):
        assert h.staff_for_token(garbage, url=url) is None

    expired = h.authenticate("anna.k", PASSWORD, ttl=dt.timedelta(seconds=-1), url=url)
    assert h.staff_for_token(expired, url=url) is None
    h.end_session(token, url=url)
    assert h.staff_for_token(token, url=url) is None

    token = h.authenticate("anna.k", PASSWORD, url=url)
    assert h.set_password("anna.k", "another good password", url=url)
    assert h.staff_for_token(token, url=url) is None  # a new password logs out everywhere
    assert h.authenticate("anna.k", PASSWORD, url=url) is None
    token = h.authenticate("anna.k", "another good password", url=url)
    assert h.set_staff_active("anna.k", False, url=url)
    assert h.staff_for_token(token, url=url) is None
    assert h.authenticate("anna.k", "another good password", url=url) is None
    assert h.set_staff_active("anna.k", True, url=url)
    assert not h.set_password("nobody", PASSWORD, url=url) and not h.set_staff_active("nobody", True, url=url)
    assert "anna.k" in [s.username for s in h.list_staff(url=url)]


def test_inactive_staff_cannot_act(url):
    eve = h.create_staff("eve", PASSWORD, url=url)
    ticket = open_web(url)
    h.set_staff_active("eve", False, url=url)
    with pytest.raises(h.HandoffError, match="inactive"):
        h.claim(ticket.id, eve, url=url)


def test_verify_password_rejects_malformed_hashes():
    for stored in ("", "plain", "bcrypt$1$2$3$4$5", "scrypt$x$8$1$AAAA$AAAA", None):
        assert not h.verify_password(PASSWORD, stored)


# --------------------------------------------------------------------------- the channel relay


def test_relay_takes_messages_while_held_and_cancel_frees_the_conversation(url, staff):
    cid = web_conv()
    assert relay.route_user_message(cid, "hello", url=url) == relay.Routed(False)
    assert relay.route_user_message(cid, "cancel", url=url) == relay.Routed(False)  # nothing to cancel
    ticket = h.open_ticket(cid, "socketio", cid, "asked_for_person", url=url)
    routed = relay.route_user_message(cid, "I need a partner in Osaka", url=url)
    # waiting for a person: stored for staff, and a receipt for the user (never silence)
    assert routed.to_helpdesk and routed.reply == texts.NOTED and routed.message.text == "I need a partner in Osaka"
    routed = relay.route_user_message(cid, " Cancel! ", url=url)
    assert routed.to_helpdesk and routed.reply  # "OK — you're no longer waiting …"
    assert h.get_ticket(ticket.id, url=url).status == "closed"
    assert not relay.route_user_message(cid, "back to the bot", url=url).to_helpdesk


@pytest.mark.parametrize("text", ["cancel", "CANCEL", "Cancel.", "stop waiting", "\u2060/cancel", "キャンセル"])
def test_cancel_words(text):
    assert relay.is_cancel(text)


@pytest.mark.parametrize("text", ["cancel my introduction", "please cancel the meeting", "", None, "can"])
def test_not_cancel_words(text):
    assert not relay.is_cancel(text)


# --------------------------------------------------------------------------- migration


def test_migration_0005_goes_down_and_up(kb_maker):
    url = kb_maker.empty()
    engine = get_engine(url)
    tables = {"tickets", "ticket_messages", "ticket_notes", "staff_accounts", "staff_sessions"}
    assert tables <= set(inspect(engine).get_table_names())
    downgrade(engine, "0004")
    names = set(inspect(engine).get_table_names())
    assert not tables & names and "channel_outbox" in names
    upgrade(engine)
    assert tables <= set(inspect(engine).get_table_names())
    ticket = h.open_ticket("web-after-upgrade", "socketio", "r", "asked_for_person", url=url)
    assert h.active_ticket("web-after-upgrade", url=url).id == ticket.id
