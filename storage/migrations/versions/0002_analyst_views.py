"""analyst views v_ads, v_postings, v_ad_history, v_crawl_runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

The views are the analysts' contract (docs/data.md): names and columns may be added to, never renamed or dropped.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

AD_STATUS = """
    SELECT ad_id,
           CASE WHEN SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END) > 0 THEN 'active'
                WHEN SUM(CASE WHEN status = 'expired' THEN 1 ELSE 0 END) > 0 THEN 'expired'
                ELSE 'withdrawn' END AS status,
           MIN(first_seen_at) AS first_seen_at,
           MAX(last_seen_at) AS last_seen_at,
           CASE WHEN SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END) > 0 THEN NULL
                ELSE MAX(closed_at) END AS closed_at,
           {sources} AS sources,
           COUNT(*) AS posting_count
      FROM postings
     WHERE ad_id IS NOT NULL
     GROUP BY ad_id
"""

SOURCES_AGG = {
    "sqlite": "GROUP_CONCAT(DISTINCT source)",
    "postgresql": "STRING_AGG(DISTINCT source, ',' ORDER BY source)",
}

V_ADS = """
CREATE VIEW v_ads AS
SELECT a.id AS ad_id,
       p.title,
       p.employer_name,
       p.employer_orgnr,
       p.employer_parent_orgnr,
       p.employer_org_form,
       p.municipality_code,
       m.name AS municipality_name,
       p.county_code,
       c.name AS county_name,
       p.occupation_code,
       p.occupation_name,
       p.engagement_type,
       p.extent,
       p.job_percent_min,
       p.job_percent_max,
       p.positions,
       p.published_at,
       p.deadline_date,
       p.deadline_kind,
       p.deadline_text,
       p.start_date,
       p.start_text,
       s.status,
       s.first_seen_at,
       s.last_seen_at,
       s.closed_at,
       p.url,
       p.application_url,
       p.description_text,
       p.language,
       s.sources,
       s.posting_count,
       p.salary_min,
       p.salary_max,
       p.salary_text
  FROM ads a
  JOIN postings p ON p.id = a.primary_posting_id
  JOIN ({ad_status}) s ON s.ad_id = a.id
  LEFT JOIN municipalities m ON m.code = p.municipality_code
  LEFT JOIN counties c ON c.code = p.county_code
"""

V_POSTINGS = """
CREATE VIEW v_postings AS
SELECT ad_id, source, source_ad_id, url, status, first_seen_at, last_seen_at
  FROM postings
"""

V_AD_HISTORY = """
CREATE VIEW v_ad_history AS
SELECT p.ad_id, ch.changed_at, ch.field, ch.old_value, ch.new_value
  FROM posting_changes ch
  JOIN postings p ON p.id = ch.posting_id
"""

V_CRAWL_RUNS = """
CREATE VIEW v_crawl_runs AS
SELECT id AS run_id, source, started_at, finished_at, status,
       items_seen, items_new, items_updated, items_closed, errors
  FROM crawl_runs
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    ad_status = AD_STATUS.format(sources=SOURCES_AGG[dialect])
    op.execute(V_ADS.format(ad_status=ad_status))
    op.execute(V_POSTINGS)
    op.execute(V_AD_HISTORY)
    op.execute(V_CRAWL_RUNS)


def downgrade() -> None:
    for view in ("v_crawl_runs", "v_ad_history", "v_postings", "v_ads"):
        op.execute(f"DROP VIEW IF EXISTS {view}")
