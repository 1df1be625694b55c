"""Fuzzy name search: FTS5 trigram index on SQLite, pg_trgm GIN index on PostgreSQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE organisation_names_fts USING fts5("
            "norm, content='organisation_names', content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER organisation_names_ai AFTER INSERT ON organisation_names BEGIN "
            "INSERT INTO organisation_names_fts(rowid, norm) VALUES (new.id, new.norm); END"
        )
        op.execute(
            "CREATE TRIGGER organisation_names_ad AFTER DELETE ON organisation_names BEGIN "
            "INSERT INTO organisation_names_fts(organisation_names_fts, rowid, norm) "
            "VALUES ('delete', old.id, old.norm); END"
        )
        op.execute(
            "CREATE TRIGGER organisation_names_au AFTER UPDATE ON organisation_names BEGIN "
            "INSERT INTO organisation_names_fts(organisation_names_fts, rowid, norm) "
            "VALUES ('delete', old.id, old.norm); "
            "INSERT INTO organisation_names_fts(rowid, norm) VALUES (new.id, new.norm); END"
        )
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_orgname_norm_trgm ON organisation_names USING gin (norm gin_trgm_ops)"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("organisation_names_ai", "organisation_names_ad", "organisation_names_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS organisation_names_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_orgname_norm_trgm")
