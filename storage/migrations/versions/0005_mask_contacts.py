"""mask contact persons' names, phones and e-mails in what is already stored

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02

Postings stored before the normaliser masked contact persons (munijobs.normalise.privacy) still hold them: in the raw
HTML (posting_raw), the title, job title and plain text (postings), and the old and new values of their history
(posting_changes). This masks them in place, a chunk of rows at a time, with the same masking the normaliser runs;
a `mailto:` application URL becomes NULL with a note. It writes no history rows. Only rows that change are written;
their content hash is cleared, so that the next crawl or `munijobs renormalise` stores a fresh one (without history:
the values are the same). The search index follows the rows by itself (SQLite: the FTS triggers; PostgreSQL: the
generated column); on SQLite the index is then optimised, so that no deleted term is left in its segments.

The masking cannot be undone: downgrade leaves the data as it is.
"""

import json

import sqlalchemy as sa
from alembic import op

from munijobs.normalise.privacy import mask_html, mask_personal_data

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHUNK = 500
TEXT_FIELDS = ("title", "job_title", "description_text")
HISTORY_FIELDS = ("title", "job_title", "description_text", "application_url")
MAILTO_NOTE = "a mailto: address (personal data) was not stored"

postings = sa.table(
    "postings", sa.column("id", sa.Integer), sa.column("title", sa.Text), sa.column("job_title", sa.Text),
    sa.column("description_text", sa.Text), sa.column("application_url", sa.Text),
    sa.column("normalise_notes", sa.JSON), sa.column("content_hash", sa.String),
)
posting_raw = sa.table("posting_raw", sa.column("posting_id", sa.Integer), sa.column("description_html", sa.Text))
posting_changes = sa.table(
    "posting_changes", sa.column("id", sa.Integer), sa.column("field", sa.String),
    sa.column("old_value", sa.Text), sa.column("new_value", sa.Text),
)


def _chunks(connection, query, key):
    """Rows of `query` in `key` order, CHUNK at a time."""
    last = 0
    while True:
        rows = connection.execute(query.where(key > last).order_by(key).limit(CHUNK)).all()
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def _masked_posting(row) -> dict | None:
    """The changed columns of one postings row, or None when nothing in it is personal data."""
    values = {name: mask_personal_data(getattr(row, name)) or None for name in TEXT_FIELDS}
    changed = {name: value for name, value in values.items() if value != getattr(row, name)}
    url = (row.application_url or "").strip().lower()
    if url.startswith("mailto:"):
        notes = row.normalise_notes if isinstance(row.normalise_notes, dict) else json.loads(row.normalise_notes or "{}")
        changed["application_url"] = None
        changed["normalise_notes"] = {**notes, "application_url": MAILTO_NOTE}
    return changed or None


def _masked_value(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    if field == "application_url":
        return None if value.strip().lower().startswith("mailto:") else value
    return mask_personal_data(value) or None


def upgrade() -> None:
    connection = op.get_bind()
    columns = (postings.c.id, *(postings.c[name] for name in (*TEXT_FIELDS, "application_url", "normalise_notes")))
    for rows in _chunks(connection, sa.select(*columns), postings.c.id):
        for row in rows:
            changed = _masked_posting(row)
            if changed:
                connection.execute(sa.update(postings).where(postings.c.id == row.id).values(content_hash=None,
                                                                                             **changed))
    raw = sa.select(posting_raw.c.posting_id, posting_raw.c.description_html)
    for rows in _chunks(connection, raw, posting_raw.c.posting_id):
        for posting_id, html in rows:
            masked = mask_html(html)
            if masked != html:
                connection.execute(sa.update(posting_raw).where(posting_raw.c.posting_id == posting_id)
                                   .values(description_html=masked))
                connection.execute(sa.update(postings).where(postings.c.id == posting_id).values(content_hash=None))
    history = sa.select(posting_changes.c.id, posting_changes.c.field, posting_changes.c.old_value,
                        posting_changes.c.new_value).where(posting_changes.c.field.in_(HISTORY_FIELDS))
    for rows in _chunks(connection, history, posting_changes.c.id):
        for change_id, field, old, new in rows:
            values = {"old_value": _masked_value(field, old), "new_value": _masked_value(field, new)}
            if values != {"old_value": old, "new_value": new}:
                connection.execute(sa.update(posting_changes).where(posting_changes.c.id == change_id).values(**values))
    if connection.dialect.name == "sqlite":
        op.execute("INSERT INTO postings_fts(postings_fts) VALUES ('optimize')")


def downgrade() -> None:
    """Nothing to undo: what was masked is gone."""
