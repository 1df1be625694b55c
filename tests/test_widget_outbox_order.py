"""The web channel under a handoff's pressure: outbox rows of visitors who left never hold up the
delivery to visitors who are here, and one visitor's messages are handled in the order sent even
though python-socketio runs each event in a task of its own."""

import asyncio

from bot import channels
from db import handoff as h
from tests.fixtures_db import prepare, sqlite_url


class FakeSio:
    def __init__(self, present: set[str]) -> None:
        self.present, self.emitted = present, []

        class Manager:
            def get_participants(_, namespace, room):
                return iter([("sid", "eio")] if room in self.present else [])

        self.manager = Manager()
        self.manager.rooms = {"/": {room: {"sid": "eio"} for room in present}}  # python-socketio's shape

    async def emit(self, event, data, room=None, namespace=None):
        self.emitted.append((room, data["text"]))


async def test_rows_of_absent_visitors_do_not_block_the_others(tmp_path, monkeypatch):
    url = prepare(sqlite_url(tmp_path / "kb.db"), seeded=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(channels, "OUTBOX_POLL_S", 0.05)
    staff = h.create_staff("aiko", "a long enough password", "Aiko", url=url)

    def claimed_ticket(cid: str) -> h.Ticket:
        t = h.open_ticket(cid, "socketio", cid, "asked_for_person", url=url)
        assert h.claim(t.id, staff, "Aiko joined.", url=url)
        return t

    for i in range(20):  # 20 visitors closed their tab after staff joined
        claimed_ticket(f"{i:032x}.{'a' * 24}")
    here = claimed_ticket(f"{99:032x}.{'b' * 24}")
    sio = FakeSio({here.recipient})
    task = asyncio.ensure_future(channels.deliver_outbox(sio, "bot_uttered", "/"))
    try:
        for _ in range(100):  # up to 5 s
            if sio.emitted:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    assert sio.emitted == [(here.recipient, "Aiko joined.")]


async def test_messages_of_one_session_are_handled_in_order(monkeypatch):
    monkeypatch.setenv("KAKEHASHI_ALLOWED_ORIGINS", "*")
    monkeypatch.setenv("KAKEHASHI_SECRET", "order-test-secret")
    stored: list[str] = []

    async def to_helpdesk(conversation_id, text, metadata):
        await asyncio.sleep(0.2 if text == "first" else 0.0)  # the first one meets a busy database
        stored.append(text)
        return True, None

    monkeypatch.setattr(channels, "to_helpdesk", to_helpdesk)

    async def on_new_message(message):  # never reached: the helpdesk takes both
        raise AssertionError("the assistant must not get these")

    channel = channels.SafeSocketIOInput()
    channel.blueprint(on_new_message)
    handle = channel.sio.handlers["/"]["user_uttered"]
    session = channels.issue_session()
    sid = channel.sio.manager.connect("eio-1", "/")  # a connected client
    # Two packets from one connection, handled as python-socketio does: one task each, in order.
    await asyncio.gather(
        handle(sid, {"message": "first", "session_id": session}),
        handle(sid, {"message": "second", "session_id": session}),
    )
    assert stored == ["first", "second"]
