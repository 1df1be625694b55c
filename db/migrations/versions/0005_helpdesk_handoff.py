"""Helpdesk handoff: tickets, their messages and notes, staff accounts and sessions.

Used through db/handoff.py by the actions (opening tickets), the channels (silence while a
ticket holds the conversation, relaying the user's messages) and the staff console
(bot/helpdesk/). Staff replies go out through channel_outbox (0004).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff_accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_staff_sessions_expires", "staff_sessions", ["expires_at"])
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("display_name", sa.String(200)),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("profile", sa.JSON),
        sa.Column("status", sa.String(10), nullable=False, server_default="waiting"),
        sa.Column("assistant_paused", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("claimed_by", sa.Integer, sa.ForeignKey("staff_accounts.id", ondelete="SET NULL")),
        sa.Column("closed_by", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('waiting', 'claimed', 'closed')", name="ck_tickets_status"),
        sa.CheckConstraint(
            "reason IN ('asked_for_person', 'not_understood', 'introduction')", name="ck_tickets_reason"
        ),
    )
    # At most one open ticket per conversation, even when two processes open one at once.
    op.create_index(
        "uq_tickets_open_conversation",
        "tickets",
        ["conversation_id"],
        unique=True,
        sqlite_where=sa.text("status <> 'closed'"),
        postgresql_where=sa.text("status <> 'closed'"),
    )
    op.create_index("ix_tickets_status_created", "tickets", ["status", "created_at"])
    op.create_index("ix_tickets_conversation", "tickets", ["conversation_id", "id"])
    op.create_table(
        "ticket_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sender", sa.String(10), nullable=False),
        sa.Column("author", sa.String(200)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("outbox_id", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("sender IN ('user', 'staff', 'assistant', 'system')", name="ck_ticket_messages_sender"),
    )
    op.create_index("ix_ticket_messages_ticket", "ticket_messages", ["ticket_id", "id"])
    op.create_table(
        "ticket_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff_accounts.id", ondelete="SET NULL")),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_ticket_notes_ticket", "ticket_notes", ["ticket_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_notes_ticket", table_name="ticket_notes")
    op.drop_table("ticket_notes")
    op.drop_index("ix_ticket_messages_ticket", table_name="ticket_messages")
    op.drop_table("ticket_messages")
    op.drop_index("ix_tickets_conversation", table_name="tickets")
    op.drop_index("ix_tickets_status_created", table_name="tickets")
    op.drop_index("uq_tickets_open_conversation", table_name="tickets")
    op.drop_table("tickets")
    op.drop_index("ix_staff_sessions_expires", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("staff_accounts")
