"""Typed SQLAlchemy models of the munijobs database.

The same models, migrations and views serve SQLite (embedded default) and PostgreSQL (production).
Analysts read the views (created by the migrations, documented in docs/data.md), not these tables.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import BigInteger, LargeBinary, TypeDecorator


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC on every database and always read back timezone-aware (UTC).

    PostgreSQL stores ``timestamptz``; SQLite keeps no offset, so values go in as naive UTC text.
    Naive inputs are taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


AD_OF_POSTING = "ix_postings_id_ad_id"
"""Narrow index from a posting to its ad (migration 0009): search maps tens of thousands of matches to their ads
without reading the wide posting rows."""


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Source(Base):
    """A source of job ads; one spider per source."""

    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str]
    base_url: Mapped[str | None]


class County(Base):
    """Reference: counties, 2024 numbering."""

    __tablename__ = "counties"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str]


class Municipality(Base):
    """Reference: the 357 municipalities, 2024 numbering."""

    __tablename__ = "municipalities"

    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    name: Mapped[str]
    county_code: Mapped[str] = mapped_column(ForeignKey("counties.code"))


class Occupation(Base):
    """Reference: STYRK-08 unit groups with NAV's job categories."""

    __tablename__ = "occupations"

    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    name: Mapped[str]
    category_l1: Mapped[str | None]
    category_l2: Mapped[str | None]


class Employer(Base):
    """One organisation unit from Brønnøysund, linked to its parent; the chain ends at the legal top unit."""

    __tablename__ = "employers"

    orgnr: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str | None]
    org_form: Mapped[str | None] = mapped_column(String(10))
    parent_orgnr: Mapped[str | None] = mapped_column(String(9))
    municipality_code: Mapped[str | None] = mapped_column(String(4))
    is_subunit: Mapped[bool] = mapped_column(Boolean, default=False)
    found: Mapped[bool] = mapped_column(Boolean, default=True)
    """False when Brønnøysund does not know the number (kept, so it is not asked again before the refresh)."""
    fetched_at: Mapped[datetime]


class EmployerNameDecision(Base):
    """A source's employer name and the scope decided for it, so later runs can decide before fetching details."""

    __tablename__ = "employer_name_decisions"

    source: Mapped[str] = mapped_column(ForeignKey("sources.name"), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    scope: Mapped[str] = mapped_column(String(20))
    """municipal, public or private."""
    method: Mapped[str] = mapped_column(String(20))
    orgnr: Mapped[str | None] = mapped_column(String(9))
    decided_at: Mapped[datetime]


class Ad(Base):
    """A canonical ad: a cluster of one or more postings of the same job across sources."""

    __tablename__ = "ads"

    id: Mapped[int] = mapped_column(primary_key=True)
    primary_posting_id: Mapped[int | None] = mapped_column(Integer, index=True)
    """The posting whose content represents the ad in v_ads."""
    created_at: Mapped[datetime]
    facts_posting_id: Mapped[int | None] = mapped_column(Integer)
    """The posting whose structured fields represent the ad in v_ads (merge rule: docs/dedup.md)."""
    readvertised_from_ad_id: Mapped[int | None] = mapped_column(Integer, index=True)
    """The earlier ad this one advertises again (same text, published after the earlier one closed)."""
    # The summary of the ad's postings, kept by database triggers (migration 0009): never write these.
    status: Mapped[str | None] = mapped_column(String(20))
    """active if one of its postings is, else expired if one is, else withdrawn; NULL while it has no postings."""
    first_seen_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    """The latest closing of its postings; NULL while one is active."""
    sources: Mapped[str | None] = mapped_column(Text)
    """Its postings' sources, sorted, comma-separated."""
    posting_count: Mapped[int] = mapped_column(Integer, server_default="0")


class Posting(Base):
    """One ad as one source publishes it: raw values beside normalised values."""

    __tablename__ = "postings"
    __table_args__ = (
        UniqueConstraint("source", "source_ad_id", name="uq_postings_source_ad"),
        Index("ix_postings_status", "status"),
        Index("ix_postings_municipality", "municipality_code"),
        Index("ix_postings_published", "published_at"),
        Index(AD_OF_POSTING, "id", "ad_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("sources.name"))
    source_ad_id: Mapped[str] = mapped_column(String(100))
    ad_id: Mapped[int | None] = mapped_column(ForeignKey("ads.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    closed_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    content_hash: Mapped[str | None] = mapped_column(String(64))
    last_run_id: Mapped[int | None]

    url: Mapped[str | None] = mapped_column(Text)
    application_url: Mapped[str | None] = mapped_column(Text)
    origin_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    job_title: Mapped[str | None] = mapped_column(Text)
    employer_name: Mapped[str | None] = mapped_column(Text)
    employer_orgnr: Mapped[str | None] = mapped_column(String(9))
    employer_parent_orgnr: Mapped[str | None] = mapped_column(String(9))
    employer_org_form: Mapped[str | None] = mapped_column(String(10))
    employer_scope_method: Mapped[str | None] = mapped_column(String(20))
    sector: Mapped[str | None]
    municipality_code: Mapped[str | None] = mapped_column(String(4))
    county_code: Mapped[str | None] = mapped_column(String(2))
    description_text: Mapped[str | None] = mapped_column(Text)
    occupation_code: Mapped[str | None] = mapped_column(String(4))
    occupation_name: Mapped[str | None]
    engagement_type_raw: Mapped[str | None]
    engagement_type: Mapped[str | None] = mapped_column(String(20))
    extent_raw: Mapped[str | None]
    extent: Mapped[str | None] = mapped_column(String(20))
    job_percent_raw: Mapped[str | None]
    job_percent_min: Mapped[float | None] = mapped_column(Float)
    job_percent_max: Mapped[float | None] = mapped_column(Float)
    positions_raw: Mapped[str | None]
    positions: Mapped[int | None]
    deadline_raw: Mapped[str | None] = mapped_column(Text)
    deadline_date: Mapped[date | None] = mapped_column(Date)
    deadline_kind: Mapped[str | None] = mapped_column(String(20))
    deadline_text: Mapped[str | None] = mapped_column(Text)
    start_raw: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[date | None] = mapped_column(Date)
    start_text: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    source_modified_at: Mapped[datetime | None]
    language: Mapped[str | None] = mapped_column(String(10))
    salary_min: Mapped[float | None] = mapped_column(Float)
    salary_max: Mapped[float | None] = mapped_column(Float)
    salary_text: Mapped[str | None] = mapped_column(Text)
    occupations: Mapped[list[Any] | None]
    normalise_notes: Mapped[dict[str, Any] | None]
    extra: Mapped[dict[str, Any] | None]


class AdEvent(Base):
    """A posting moved to another ad by deduplication (a merge or a split), with the reason; read by v_ad_history."""

    __tablename__ = "ad_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("postings.id", ondelete="CASCADE"), index=True)
    changed_at: Mapped[datetime]
    old_ad_id: Mapped[int | None]
    new_ad_id: Mapped[int | None] = mapped_column(Integer, index=True)
    reason: Mapped[str | None] = mapped_column(Text)


class DedupSignature(Base):
    """What deduplication derived from a posting's text (munijobs.dedup.Derived), so candidates are not re-read."""

    __tablename__ = "dedup_signatures"

    posting_id: Mapped[int] = mapped_column(ForeignKey("postings.id", ondelete="CASCADE"), primary_key=True)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    links: Mapped[str | None] = mapped_column(Text)
    shifts: Mapped[str | None] = mapped_column(String(40))
    text_length: Mapped[int]
    postal_code: Mapped[str | None] = mapped_column(String(10))
    units: Mapped[str | None] = mapped_column(Text)
    mentions: Mapped[str | None] = mapped_column(Text)
    block: Mapped[str | None] = mapped_column(String(20))
    """The blocking key the stored dedup_keys were made with (to find and delete them again)."""


class DedupKey(Base):
    """An LSH band key or strong-link key of a posting: postings sharing a key are candidate duplicates.

    One index only (the key, clustered; WITHOUT ROWID on SQLite): a million postings have 33 million keys. A
    posting's old keys are found again from its stored signature and block, not through an index on posting_id.
    """

    __tablename__ = "dedup_keys"
    __table_args__ = ({"sqlite_with_rowid": False},)

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    posting_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class PostingRaw(Base):
    """The raw ad text of a posting, kept for renormalisation. Exports never read this table."""

    __tablename__ = "posting_raw"

    posting_id: Mapped[int] = mapped_column(ForeignKey("postings.id", ondelete="CASCADE"), primary_key=True)
    description_html: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime]


class WorkLocation(Base):
    """A place of work of a posting, raw names beside resolved codes."""

    __tablename__ = "work_locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("postings.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    address: Mapped[str | None] = mapped_column(Text)
    postal_code: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None]
    municipality: Mapped[str | None]
    county: Mapped[str | None]
    country: Mapped[str | None]
    municipality_code: Mapped[str | None] = mapped_column(String(4))
    county_code: Mapped[str | None] = mapped_column(String(2))


class PostingChange(Base):
    """Version history: one row per changed normalised field of a posting, with the time of the change."""

    __tablename__ = "posting_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("postings.id", ondelete="CASCADE"), index=True)
    changed_at: Mapped[datetime]
    field: Mapped[str] = mapped_column(String(60))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None]


class CrawlRun(Base):
    """One run of one spider."""

    __tablename__ = "crawl_runs"
    __table_args__ = (Index("ix_crawl_runs_source_started", "source", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("sources.name"))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))
    items_seen: Mapped[int] = mapped_column(default=0)
    items_new: Mapped[int] = mapped_column(default=0)
    items_updated: Mapped[int] = mapped_column(default=0)
    items_closed: Mapped[int] = mapped_column(default=0)
    items_dropped: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    message: Mapped[str | None] = mapped_column(Text)
    stats: Mapped[dict[str, Any] | None]
    host: Mapped[str | None]
    pid: Mapped[int | None]


class CrawlState(Base):
    """Per-source crawl state (e.g. the NAV feed cursor), JSON values."""

    __tablename__ = "crawl_state"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class CrawlLock(Base):
    """A lease that keeps two crawls of one source apart on SQLite (PostgreSQL uses an advisory lock as well)."""

    __tablename__ = "crawl_locks"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str]
    run_id: Mapped[int | None]
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Alert(Base):
    """A health alert raised after a run (issue: scheduler and operations)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40), index=True)
    run_id: Mapped[int | None]
    rule: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class Quarantine(Base):
    """An ad that could not be stored even alone: kept with its raw answer and the error, so nothing is lost.

    One row per source ad (the latest failure); the row goes once the ad is stored.
    """

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("source", "source_ad_id", name="uq_quarantine_source_ad"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    source_ad_id: Mapped[str] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text)
    """The answer as received (JSON text; contact lists removed), or the item as far as it got."""
    error: Mapped[str] = mapped_column(Text)
    quarantined_at: Mapped[datetime]
    run_id: Mapped[int | None]
