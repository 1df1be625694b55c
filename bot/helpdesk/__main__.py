"""Helpdesk administration.

Usage:
    python -m bot.helpdesk create-staff USERNAME [--name "Aiko Tanaka"]
    python -m bot.helpdesk set-password USERNAME
    python -m bot.helpdesk deactivate-staff USERNAME | activate-staff USERNAME
    python -m bot.helpdesk list-staff
    python -m bot.helpdesk link-telegram USERNAME TELEGRAM_USER_ID   # act in the Telegram staff group
    python -m bot.helpdesk unlink-telegram USERNAME
    python -m bot.helpdesk serve            # the console alone on WEB_PORT (development)

Passwords are read without echo, twice; or from KAKEHASHI_STAFF_PASSWORD (for scripts).
The database is DATABASE_URL (default: the embedded SQLite file).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from db import handoff, staff_group
from db.engine import DatabaseUnavailable

PASSWORD_ENV = "KAKEHASHI_STAFF_PASSWORD"  # noqa: S105 — the variable's name, not a password


def read_password() -> str:
    """The new password: from KAKEHASHI_STAFF_PASSWORD, else typed twice."""
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise SystemExit(f"no terminal to type a password in: set {PASSWORD_ENV}")
    first = getpass.getpass(f"Password (at least {handoff.MIN_PASSWORD} characters): ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("the passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.helpdesk", description="Helpdesk staff accounts.")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-staff", help="create a staff account (password from getpass or env)")
    create.add_argument("username")
    create.add_argument("--name", help="the name users see, e.g. 'Aiko Tanaka' (default: the username)")
    for name, text in (
        ("set-password", "change a password (logs the account out)"),
        ("deactivate-staff", "disable an account (logs it out)"),
        ("activate-staff", "enable an account again"),
    ):
        sub.add_parser(name, help=text).add_argument("username")
    sub.add_parser("list-staff", help="list the accounts")
    link = sub.add_parser("link-telegram", help="let a Telegram user act for the account in the staff group")
    link.add_argument("username")
    link.add_argument("telegram_user_id", type=int, help="the id /whoami shows in the staff group")
    sub.add_parser("unlink-telegram", help="remove the account's Telegram link").add_argument("username")
    sub.add_parser("serve", help="run the console alone on WEB_PORT (development)")
    args = parser.parse_args(argv)
    try:
        if args.command == "create-staff":
            staff = handoff.create_staff(args.username, read_password(), args.name)
            print(f"created staff account {staff.username!r} ({staff.display_name})")
        elif args.command == "set-password":
            if not handoff.set_password(args.username, read_password()):
                print(f"no staff account {args.username!r}", file=sys.stderr)
                return 1
            print(f"password of {args.username!r} changed")
        elif args.command in {"deactivate-staff", "activate-staff"}:
            if not handoff.set_staff_active(args.username, args.command == "activate-staff"):
                print(f"no staff account {args.username!r}", file=sys.stderr)
                return 1
            print(f"{args.username!r} {'activated' if args.command == 'activate-staff' else 'deactivated'}")
        elif args.command == "list-staff":
            for staff in handoff.list_staff():
                print(f"{staff.username}\t{staff.display_name}\t{'active' if staff.active else 'inactive'}")
        elif args.command == "link-telegram":
            staff = staff_group.link_telegram(args.username, args.telegram_user_id)
            print(f"Telegram user {args.telegram_user_id} now acts as {staff.username!r} in the staff group")
        elif args.command == "unlink-telegram":
            if not staff_group.unlink_telegram(args.username):
                print(f"{args.username!r} had no Telegram link", file=sys.stderr)
                return 1
            print(f"{args.username!r} is no longer linked to Telegram")
        elif args.command == "serve":
            from bot.helpdesk.app import main as serve

            serve()
    except (ValueError, handoff.StaffExists) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DatabaseUnavailable as exc:
        print(f"error: the database is unavailable: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
