"""deduplication: ad events, dedup signatures and keys, ads' facts posting and re-advertisement link, views

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-01

v_ads gains readvertised_from_ad_id (and sorts `sources` on SQLite too), v_postings gains posting_id, published_at,
closed_at and title, v_ad_history gains the `ad_id` moves of postings (merges and splits) with source, source_ad_id
and reason. Every existing column is kept (docs/data.md).
"""

import importlib

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

SOURCES = {
    "sqlite": """SELECT ad_id, GROUP_CONCAT(source, ',') AS sources
                   FROM (SELECT DISTINCT ad_id, source FROM postings WHERE ad_id IS NOT NULL ORDER BY ad_id, source)
                  GROUP BY ad_id""",
    "postgresql": """SELECT ad_id, STRING_AGG(DISTINCT source, ',' ORDER BY source) AS sources
                       FROM postings WHERE ad_id IS NOT NULL GROUP BY ad_id""",
}

VIEWS_0002 = importlib.import_module("storage.migrations.versions.0002_analyst_views")
"""0002's per-ad status summary is reused as it is; its `sources` column is replaced by the sorted one above."""

FACTS = ("employer_orgnr", "employer_parent_orgnr", "employer_org_form", "municipality_code", "county_code",
         "occupation_code", "occupation_name", "engagement_type", "extent", "job_percent_min", "job_percent_max",
         "positions", "published_at", "deadline_date", "deadline_kind", "deadline_text", "start_date", "start_text",
         "salary_min", "salary_max", "salary_text")
"""Columns taken from the ad's facts posting (falling back to the primary posting's value)."""


def _col(name: str) -> str:
    return f"COALESCE(f.{name}, p.{name}) AS {name}"


V_ADS = """
CREATE VIEW v_ads AS
SELECT a.id AS ad_id,
       p.title,
       p.employer_name,
       {p_employer_orgnr},
       {p_employer_parent_orgnr},
       {p_employer_org_form},
       {p_municipality_code},
       m.name AS municipality_name,
       {p_county_code},
       c.name AS county_name,
       {p_occupation_code},
       {p_occupation_name},
       {p_engagement_type},
       {p_extent},
       {p_job_percent_min},
       {p_job_percent_max},
       {p_positions},
       {p_published_at},
       {p_deadline_date},
       {p_deadline_kind},
       {p_deadline_text},
       {p_start_date},
       {p_start_text},
       s.status,
       s.first_seen_at,
       s.last_seen_at,
       s.closed_at,
       p.url,
       p.application_url,
       p.description_text,
       p.language,
       src.sources,
       s.posting_count,
       {p_salary_min},
       {p_salary_max},
       {p_salary_text},
       a.readvertised_from_ad_id
  FROM ads a
  JOIN postings p ON p.id = a.primary_posting_id
  LEFT JOIN postings f ON f.id = a.facts_posting_id
  JOIN ({ad_status}) s ON s.ad_id = a.id
  JOIN ({sources}) src ON src.ad_id = a.id
  LEFT JOIN municipalities m ON m.code = COALESCE(f.municipality_code, p.municipality_code)
  LEFT JOIN counties c ON c.code = COALESCE(f.county_code, p.county_code)
"""

V_POSTINGS = """
CREATE VIEW v_postings AS
SELECT ad_id, source, source_ad_id, url, status, first_seen_at, last_seen_at,
       id AS posting_id, title, published_at, closed_at
  FROM postings
"""

V_AD_HISTORY = """
CREATE VIEW v_ad_history AS
SELECT p.ad_id, ch.changed_at, ch.field, ch.old_value, ch.new_value,
       p.source, p.source_ad_id, NULL AS reason
  FROM posting_changes ch
  JOIN postings p ON p.id = ch.posting_id
UNION ALL
SELECT e.new_ad_id AS ad_id, e.changed_at, 'ad_id' AS field, CAST(e.old_ad_id AS TEXT) AS old_value,
       CAST(e.new_ad_id AS TEXT) AS new_value, p.source, p.source_ad_id, e.reason
  FROM ad_events e
  JOIN postings p ON p.id = e.posting_id
UNION ALL
SELECT e.old_ad_id AS ad_id, e.changed_at, 'ad_id' AS field, CAST(e.old_ad_id AS TEXT) AS old_value,
       CAST(e.new_ad_id AS TEXT) AS new_value, p.source, p.source_ad_id, e.reason
  FROM ad_events e
  JOIN postings p ON p.id = e.posting_id
 WHERE e.old_ad_id IS NOT NULL AND (e.new_ad_id IS NULL OR e.old_ad_id <> e.new_ad_id)
"""

VIEWS = ("v_ad_history", "v_postings", "v_ads")


def upgrade() -> None:
    op.create_table(
        "ad_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("posting_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("old_ad_id", sa.Integer(), nullable=True),
        sa.Column("new_ad_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["posting_id"], ["postings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ad_events_posting_id", "ad_events", ["posting_id"])
    op.create_index("ix_ad_events_new_ad_id", "ad_events", ["new_ad_id"])
    op.create_table(
        "dedup_signatures",
        sa.Column("posting_id", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("links", sa.Text(), nullable=True),
        sa.Column("shifts", sa.String(length=40), nullable=True),
        sa.Column("text_length", sa.Integer(), nullable=False),
        sa.Column("postal_code", sa.String(length=10), nullable=True),
        sa.Column("units", sa.Text(), nullable=True),
        sa.Column("mentions", sa.Text(), nullable=True),
        sa.Column("block", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(["posting_id"], ["postings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("posting_id"),
    )
    op.create_table(
        "dedup_keys",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("posting_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("key", "posting_id"),
        sqlite_with_rowid=False,
    )
    op.add_column("ads", sa.Column("facts_posting_id", sa.Integer(), nullable=True))
    op.add_column("ads", sa.Column("readvertised_from_ad_id", sa.Integer(), nullable=True))
    op.create_index("ix_ads_readvertised_from_ad_id", "ads", ["readvertised_from_ad_id"])

    dialect = op.get_bind().dialect.name
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    columns = {f"p_{name}": _col(name) for name in FACTS}
    ad_status = VIEWS_0002.AD_STATUS.format(sources=VIEWS_0002.SOURCES_AGG[dialect])
    op.execute(V_ADS.format(ad_status=ad_status, sources=SOURCES[dialect], **columns))
    op.execute(V_POSTINGS)
    op.execute(V_AD_HISTORY)


def downgrade() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    op.drop_index("ix_ads_readvertised_from_ad_id", "ads")
    for column in ("readvertised_from_ad_id", "facts_posting_id"):  # plain ALTER: batch mode would recreate `ads`,
        op.execute(f"ALTER TABLE ads DROP COLUMN {column}")  # which the postings' foreign key refuses on SQLite
    op.drop_table("dedup_keys")
    op.drop_table("dedup_signatures")
    op.drop_table("ad_events")
    ad_status = VIEWS_0002.AD_STATUS.format(sources=VIEWS_0002.SOURCES_AGG[op.get_bind().dialect.name])
    op.execute(VIEWS_0002.V_ADS.format(ad_status=ad_status))
    op.execute(VIEWS_0002.V_POSTINGS)
    op.execute(VIEWS_0002.V_AD_HISTORY)
