"""The full-text search index of postings (migration 0003) as Alembic should see it.

The database keeps the index in step by itself (SQLite: FTS5 table and triggers; PostgreSQL: a generated tsvector
column with a GIN index), so nothing has to call anything after a write. The models do not describe these objects,
so Alembic autogenerate must be told to leave them alone: pass `include_object` to `context.configure`.
"""

from __future__ import annotations

FTS_TABLE = "postings_fts"
"""SQLite FTS5 table (rowid = postings.id); FTS5 adds shadow tables named postings_fts_*."""
SEARCH_COLUMN = "search_document"
"""PostgreSQL: generated tsvector column of postings."""
SEARCH_INDEX = "ix_postings_search_document"
"""PostgreSQL: GIN index on postings.search_document."""


def include_object(obj, name: str | None, type_: str, reflected: bool, compare_to) -> bool:
    """Alembic autogenerate filter: False for the search objects, which live outside the models."""
    if type_ == "table" and name and (name == FTS_TABLE or name.startswith(f"{FTS_TABLE}_")):
        return False
    if type_ == "column" and name == SEARCH_COLUMN and getattr(obj, "table", None) is not None:
        return obj.table.name != "postings"
    return not (type_ == "index" and name == SEARCH_INDEX)
