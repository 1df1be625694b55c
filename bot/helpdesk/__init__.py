"""The helpdesk: staff take over conversations from the assistant and hand them back.

- `hours`: office hours (KAKEHASHI_OFFICE_HOURS), no I/O;
- `relay`: what the channels call for every incoming message (silence + relay while handed off);
- `app`: the staff console, an aiohttp sub-application (`make_helpdesk_app()`, mounted at /helpdesk);
- `python -m bot.helpdesk create-staff USERNAME`: staff accounts.

The tickets themselves live in db/handoff.py. Design: docs/handoff.md.
"""
