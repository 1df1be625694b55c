"""Indexes for searching a million organisations: rank order and kind+place.

- ix_org_rank_order walks organisations in the order results are shown (rank_weight DESC, name,
  pk) and carries place_path and kind, so a broad filter is answered by reading the first few
  index entries (covering on SQLite; INCLUDE columns for index-only scans on PostgreSQL).
- ix_org_kind_place answers "kind in a place" (country+kind searches) as one range per kind;
  on PostgreSQL it and ix_org_place_kind carry pk, so a place range needs no table reads.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.create_index(
            "ix_org_rank_order", "organisations", [sa.text("rank_weight DESC"), "name", "pk"],
            postgresql_include=["place_path", "kind"],
        )
    else:
        # SQLite appends the rowid (pk) to every index entry.
        op.create_index("ix_org_rank_order", "organisations", [sa.text("rank_weight DESC"), "name", "place_path", "kind"])
    if dialect == "postgresql":
        # pk included: index-only scans (PostgreSQL's index entries point at rows, not keys).
        op.create_index("ix_org_kind_place", "organisations", ["kind", "place_path", "rank_weight"],
                        postgresql_include=["pk"])
        op.create_index("ix_org_place_kind", "organisations", ["place_path", "kind", "rank_weight"],
                        postgresql_include=["pk"])
    else:
        op.create_index("ix_org_kind_place", "organisations", ["kind", "place_path", "rank_weight"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_org_place_kind")  # absent where 0003 ran before it was added
    op.drop_index("ix_org_kind_place", table_name="organisations")
    op.drop_index("ix_org_rank_order", table_name="organisations")
