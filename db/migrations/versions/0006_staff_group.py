"""Helpdesk staff group on Telegram: which staff account each Telegram user is, and which group
message shows which ticket (announcements and mirrored messages), so that replies in the group
reach the right user.

Used through db/staff_group.py by the Telegram bot (bot/telegram/staff.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_telegram_links",
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff_accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("telegram_user_id", sa.BigInteger, nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "staff_group_tickets",
        sa.Column("chat_id", sa.String(64), primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("message_id", sa.BigInteger, nullable=False),
        sa.Column("shown", sa.String(200), nullable=False),
        sa.Column("after_message_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "staff_group_posts",
        sa.Column("chat_id", sa.String(64), primary_key=True),
        sa.Column("message_id", sa.BigInteger, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ticket_message_id", sa.Integer, sa.ForeignKey("ticket_messages.id", ondelete="CASCADE")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("uq_staff_group_posts_message", "staff_group_posts", ["chat_id", "ticket_message_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_staff_group_posts_message", table_name="staff_group_posts")
    op.drop_table("staff_group_posts")
    op.drop_table("staff_group_tickets")
    op.drop_table("staff_telegram_links")
