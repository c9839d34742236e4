"""full-text search over postings (title, employer, description)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

The database keeps the index in step with `postings` by itself, whatever writes the rows:

* SQLite: an external-content FTS5 table `postings_fts` (rowid = postings.id), tokenizer unicode61 with
  remove_diacritics 0 so that æ, ø, å stay letters of their own; triggers on postings insert, update, delete.
* PostgreSQL: a stored generated column `postings.search_document` (tsvector, `norwegian` configuration; title
  weighted A, employer B, description C) with a GIN index.

Batch migrations that recreate `postings` on SQLite drop the triggers: re-create them and rebuild the index there.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FTS_COLUMNS = "title, employer_name, description_text"

SQLITE_UPGRADE = [
    f"""CREATE VIRTUAL TABLE postings_fts USING fts5({FTS_COLUMNS}, content='postings', content_rowid='id',
        tokenize='unicode61 remove_diacritics 0')""",
    f"""CREATE TRIGGER postings_fts_insert AFTER INSERT ON postings BEGIN
        INSERT INTO postings_fts(rowid, {FTS_COLUMNS}) VALUES (new.id, new.title, new.employer_name,
            new.description_text);
    END""",
    f"""CREATE TRIGGER postings_fts_delete AFTER DELETE ON postings BEGIN
        INSERT INTO postings_fts(postings_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', old.id, old.title,
            old.employer_name, old.description_text);
    END""",
    f"""CREATE TRIGGER postings_fts_update AFTER UPDATE OF {FTS_COLUMNS} ON postings BEGIN
        INSERT INTO postings_fts(postings_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', old.id, old.title,
            old.employer_name, old.description_text);
        INSERT INTO postings_fts(rowid, {FTS_COLUMNS}) VALUES (new.id, new.title, new.employer_name,
            new.description_text);
    END""",
    "INSERT INTO postings_fts(postings_fts) VALUES ('rebuild')",
]

SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS postings_fts_update",
    "DROP TRIGGER IF EXISTS postings_fts_delete",
    "DROP TRIGGER IF EXISTS postings_fts_insert",
    "DROP TABLE IF EXISTS postings_fts",
]

# to_tsvector with an explicit configuration is immutable, so it may define a generated column; the text is capped
# because a tsvector cannot exceed 1 MB and an oversized ad must never make the store fail.
POSTGRESQL_UPGRADE = [
    """ALTER TABLE postings ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('norwegian'::regconfig, coalesce(title, '')), 'A') ||
        setweight(to_tsvector('norwegian'::regconfig, coalesce(employer_name, '')), 'B') ||
        setweight(to_tsvector('norwegian'::regconfig, left(coalesce(description_text, ''), 100000)), 'C')
    ) STORED""",
    "CREATE INDEX ix_postings_search_document ON postings USING GIN (search_document)",
]

POSTGRESQL_DOWNGRADE = [
    "DROP INDEX IF EXISTS ix_postings_search_document",
    "ALTER TABLE postings DROP COLUMN IF EXISTS search_document",
]


def upgrade() -> None:
    statements = {"sqlite": SQLITE_UPGRADE, "postgresql": POSTGRESQL_UPGRADE}[op.get_bind().dialect.name]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    statements = {"sqlite": SQLITE_DOWNGRADE, "postgresql": POSTGRESQL_DOWNGRADE}[op.get_bind().dialect.name]
    for statement in statements:
        op.execute(statement)
