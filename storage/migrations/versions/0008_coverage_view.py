"""analyst view v_coverage: active ads per municipality and source, only-one-source counts, median delays

Revision ID: 0008
Revises: 0003
Create Date: 2026-12-01

The SQL lives in storage/coverage.py, shared with `munijobs coverage --since` (see docs/data.md).
"""

from alembic import op

from storage.coverage import VIEW, create_view_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(create_view_sql(op.get_bind().dialect.name))


def downgrade() -> None:
    op.execute(f"DROP VIEW IF EXISTS {VIEW}")
