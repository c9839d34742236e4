"""Coverage of the sources: which share of each municipality's ads each source carries (the view v_coverage).

One SQL text serves the view (migration 0008: ads active now) and `munijobs coverage --since DATE` (ads open at
any time since DATE, the `:since` parameter): the same counting rules, one implementation. Built on the tables
(postings, ads, municipalities, sources), not on v_ads, so it holds whether or not postings are clustered yet.

Rules (documented in docs/data.md, "View v_coverage"):

* an ad is `postings.ad_id` (a posting without one is an ad of its own); its municipality is the one of its primary
  posting (as in v_ads), else the posting's own;
* a source carries an ad when one of its postings of the ad is current: active (view) or open at some time since
  `:since` (status active, or closed/last seen on or after it);
* the delay of a source on an ad is from the earliest `first_seen_at` of any posting of the ad to this source's
  earliest one, in whole seconds; the median over the ads it carries together with another source is taken with
  ROW_NUMBER/COUNT window functions, as SQLite has no median aggregate.

Changing this SQL needs a new migration that re-creates v_coverage (0008 imports it, like 0001 imports the models).
"""

from __future__ import annotations

VIEW = "v_coverage"
COLUMNS = ("municipality_code", "municipality_name", "county_code", "source", "active_ads", "only_this_source",
           "active_ads_total", "median_delay_hours", "latest_published_at")
"""The view's columns, in order (the contract)."""

CURRENT = {
    False: "CASE WHEN p.status = 'active' THEN 1 ELSE 0 END",
    True: "CASE WHEN p.status = 'active' OR COALESCE(p.closed_at, p.last_seen_at) >= :since THEN 1 ELSE 0 END",
}
"""When a posting counts: active now (the view), or open at some time since :since."""

DELAY_SECONDS = {
    "sqlite": "CAST(ROUND((julianday(substr(s.first_seen_at, 1, 19)) - julianday(substr(f.first_seen_at, 1, 19)))"
              " * 86400) AS INTEGER)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM date_trunc('second', s.first_seen_at) - date_trunc('second', "
                  "f.first_seen_at)) AS BIGINT)",
}
"""Whole seconds from the ad's first sighting to this source's (both truncated to the second, so both databases
count the same seconds)."""

COVERAGE_SQL = """
WITH posting_ads AS (
    SELECT p.source,
           COALESCE(p.ad_id, -p.id) AS ad_key,
           COALESCE(pp.municipality_code, p.municipality_code) AS municipality_code,
           {current} AS is_current,
           p.first_seen_at,
           COALESCE(p.published_at, p.first_seen_at) AS published_at
      FROM postings p
      LEFT JOIN ads a ON a.id = p.ad_id
      LEFT JOIN postings pp ON pp.id = a.primary_posting_id
),
ad_sources AS (
    SELECT ad_key, municipality_code, source, MAX(is_current) AS is_current, MIN(first_seen_at) AS first_seen_at,
           MAX(published_at) AS published_at
      FROM posting_ads
     GROUP BY ad_key, municipality_code, source
),
ad_totals AS (
    SELECT ad_key, municipality_code, SUM(is_current) AS current_sources, MIN(first_seen_at) AS first_seen_at
      FROM ad_sources
     GROUP BY ad_key, municipality_code
),
carried AS (
    SELECT s.municipality_code, s.source, s.is_current, s.published_at, f.current_sources,
           {delay} AS delay_seconds
      FROM ad_sources s
      JOIN ad_totals f ON f.ad_key = s.ad_key AND f.municipality_code = s.municipality_code
),
per_source AS (
    SELECT municipality_code, source, SUM(is_current) AS active_ads,
           SUM(CASE WHEN is_current = 1 AND current_sources = 1 THEN 1 ELSE 0 END) AS only_this_source,
           MAX(published_at) AS latest_published_at
      FROM carried
     GROUP BY municipality_code, source
),
totals AS (
    SELECT municipality_code, SUM(CASE WHEN current_sources > 0 THEN 1 ELSE 0 END) AS active_ads_total
      FROM ad_totals
     GROUP BY municipality_code
),
shared AS (
    SELECT municipality_code, source, delay_seconds,
           ROW_NUMBER() OVER (PARTITION BY municipality_code, source ORDER BY delay_seconds) AS position,
           COUNT(*) OVER (PARTITION BY municipality_code, source) AS shared_ads
      FROM carried
     WHERE is_current = 1 AND current_sources > 1
),
medians AS (
    SELECT municipality_code, source, AVG(CAST(delay_seconds AS DOUBLE PRECISION)) / 3600 AS median_delay_hours
      FROM shared
     WHERE position IN ((shared_ads + 1) / 2, (shared_ads + 2) / 2)
     GROUP BY municipality_code, source
)
SELECT m.code AS municipality_code,
       m.name AS municipality_name,
       m.county_code,
       src.name AS source,
       COALESCE(ps.active_ads, 0) AS active_ads,
       COALESCE(ps.only_this_source, 0) AS only_this_source,
       COALESCE(t.active_ads_total, 0) AS active_ads_total,
       md.median_delay_hours,
       ps.latest_published_at
  FROM municipalities m
 CROSS JOIN sources src
  LEFT JOIN per_source ps ON ps.municipality_code = m.code AND ps.source = src.name
  LEFT JOIN totals t ON t.municipality_code = m.code
  LEFT JOIN medians md ON md.municipality_code = m.code AND md.source = src.name
"""


def coverage_sql(dialect: str, since: bool = False) -> str:
    """The SELECT of v_coverage for a dialect; with `since`, ads open at any time since the parameter `:since`."""
    return COVERAGE_SQL.format(current=CURRENT[since], delay=DELAY_SECONDS[dialect]).strip()


def create_view_sql(dialect: str) -> str:
    return f"CREATE VIEW {VIEW} AS\n{coverage_sql(dialect)}"
