"""Typed descriptions of the analyst views (migration 0002), so values bind and read alike on SQLite and PostgreSQL.

They live in a MetaData of their own: the views are created by the migration, never by `create_all`.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, Engine, Float, Integer, MetaData, Table, Text, event
from sqlalchemy.engine import Connection

from storage.models import UTCDateTime

metadata = MetaData()

v_ads = Table(
    "v_ads", metadata,
    Column("ad_id", Integer), Column("title", Text), Column("employer_name", Text), Column("employer_orgnr", Text),
    Column("employer_parent_orgnr", Text), Column("employer_org_form", Text), Column("municipality_code", Text),
    Column("municipality_name", Text), Column("county_code", Text), Column("county_name", Text),
    Column("occupation_code", Text), Column("occupation_name", Text), Column("engagement_type", Text),
    Column("extent", Text), Column("job_percent_min", Float), Column("job_percent_max", Float),
    Column("positions", Integer), Column("published_at", UTCDateTime()), Column("deadline_date", Date),
    Column("deadline_kind", Text), Column("deadline_text", Text), Column("start_date", Date),
    Column("start_text", Text), Column("status", Text), Column("first_seen_at", UTCDateTime()),
    Column("last_seen_at", UTCDateTime()), Column("closed_at", UTCDateTime()), Column("url", Text),
    Column("application_url", Text), Column("description_text", Text), Column("language", Text),
    Column("sources", Text), Column("posting_count", Integer), Column("salary_min", Float),
    Column("salary_max", Float), Column("salary_text", Text), Column("readvertised_from_ad_id", Integer),
)

v_postings = Table(
    "v_postings", metadata,
    Column("ad_id", Integer), Column("source", Text), Column("source_ad_id", Text), Column("url", Text),
    Column("status", Text), Column("first_seen_at", UTCDateTime()), Column("last_seen_at", UTCDateTime()),
    Column("posting_id", Integer), Column("title", Text), Column("published_at", UTCDateTime()),
    Column("closed_at", UTCDateTime()),
)

v_ad_history = Table(
    "v_ad_history", metadata,
    Column("ad_id", Integer), Column("changed_at", UTCDateTime()), Column("field", Text), Column("old_value", Text),
    Column("new_value", Text), Column("source", Text), Column("source_ad_id", Text), Column("reason", Text),
)

v_crawl_runs = Table(
    "v_crawl_runs", metadata,
    Column("run_id", Integer), Column("source", Text), Column("started_at", UTCDateTime()),
    Column("finished_at", UTCDateTime()), Column("status", Text), Column("items_seen", Integer),
    Column("items_new", Integer), Column("items_updated", Integer), Column("items_closed", Integer),
    Column("errors", Integer),
)

v_coverage = Table(
    "v_coverage", metadata,
    Column("municipality_code", Text), Column("municipality_name", Text), Column("county_code", Text),
    Column("source", Text), Column("active_ads", Integer), Column("only_this_source", Integer),
    Column("active_ads_total", Integer), Column("median_delay_hours", Float),
    Column("latest_published_at", UTCDateTime()),
)
"""Migration 0008; its SQL is storage/coverage.py."""

VIEWS = {t.name: t for t in (v_ads, v_postings, v_ad_history, v_crawl_runs, v_coverage)}

alerts = Table(
    "alerts", metadata,
    Column("id", Integer), Column("source", Text), Column("run_id", Integer), Column("rule", Text),
    Column("message", Text), Column("created_at", UTCDateTime()), Column("resolved_at", UTCDateTime()),
)
"""The alerts table (read by the report)."""


def _casefold(value: str | None) -> str | None:
    return None if value is None else value.casefold()


def _register_functions(dbapi_connection, _record=None) -> None:
    dbapi_connection.create_function("munijobs_casefold", 1, _casefold, deterministic=True)


def prepare(engine: Engine) -> Engine:
    """Give SQLite connections of the engine the Unicode case folding its own lower() lacks (ASCII only)."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _register_functions):
        event.listen(engine, "connect", _register_functions)
        engine.pool.dispose()
    return engine


def view_columns(connection: Connection, view: str) -> list[str]:
    """The columns a view really has, in order, read from the database."""
    return list(connection.exec_driver_sql(f"SELECT * FROM {view} WHERE 1 = 0").keys())
