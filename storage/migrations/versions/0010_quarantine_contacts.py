"""drop contact lists from quarantined raw JSON and mask the persons they name

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

Quarantine rows written before storage.quarantine.raw_json dropped contact lists itself can hold a posting's
`contacts` (names of contact persons) and, in its texts, names the masking could not know. This rewrites each such
row's raw JSON with raw_json, which drops every contact list and masks the persons it lists wherever the texts name
them. Rows whose raw text is not JSON are left as they are (raw_json wrote every row as JSON). Cannot be undone.
"""

import json

import sqlalchemy as sa
from alembic import op

from storage.quarantine import raw_json

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

quarantine = sa.table("quarantine", sa.column("id", sa.Integer), sa.column("raw", sa.Text))


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(quarantine.c.id, quarantine.c.raw).where(quarantine.c.raw.is_not(None))).all()
    for row_id, raw in rows:
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        masked = raw_json(value)
        if masked != raw:
            connection.execute(quarantine.update().where(quarantine.c.id == row_id).values(raw=masked))


def downgrade() -> None:
    """The masking cannot be undone: the data is left as it is."""
