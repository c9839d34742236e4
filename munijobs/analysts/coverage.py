"""v_coverage pivoted for people: one row per municipality, a column per source, the ads only one source has, each
source's median delay, and a flag on municipalities without any ad for GAP_DAYS (a likely gap, not a fact)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, bindparam, select, text

from munijobs import codes
from munijobs.analysts.filters import midnight
from munijobs.analysts.views import v_coverage
from storage.coverage import coverage_sql
from storage.models import UTCDateTime

GAP_DAYS = 30
"""A municipality whose newest ad (any source) is older than this is flagged as a likely gap."""
GAP_FLAG = "likely gap"


@dataclass
class MunicipalityCoverage:
    """One municipality: its ads in total and per source."""

    code: str
    name: str
    county_code: str
    total: int = 0
    active: dict[str, int] = field(default_factory=dict)
    only: dict[str, int] = field(default_factory=dict)
    delay_hours: dict[str, float | None] = field(default_factory=dict)
    latest: datetime | None = None
    likely_gap: bool = False


@dataclass
class CountyCoverage:
    """The municipalities of one county summed: ads once each, per source, and those only one source has."""

    code: str
    name: str
    total: int = 0
    active: dict[str, int] = field(default_factory=dict)
    only: dict[str, int] = field(default_factory=dict)

    @property
    def single_source(self) -> int:
        return sum(self.only.values())

    @property
    def single_source_share(self) -> float | None:
        """Share (0-1) of the county's ads that only one source carries; None without ads."""
        return self.single_source / self.total if self.total else None


@dataclass
class Coverage:
    sources: list[str]
    rows: list[MunicipalityCoverage]
    since: date | None
    now: datetime

    def counties(self) -> list[CountyCoverage]:
        """Per county, in code order."""
        counties: dict[str, CountyCoverage] = {}
        for row in self.rows:
            county = counties.setdefault(row.county_code, CountyCoverage(
                row.county_code, codes.counties()[row.county_code].name, 0, dict.fromkeys(self.sources, 0),
                dict.fromkeys(self.sources, 0)))
            county.total += row.total
            for source in self.sources:
                county.active[source] += row.active[source]
                county.only[source] += row.only[source]
        return [counties[code] for code in sorted(counties)]

    def header(self) -> list[str]:
        """Column names of the CSV form."""
        return ["municipality_code", "municipality_name", "county_code", "active_ads_total",
                *(f"active_ads_{s}" for s in self.sources), *(f"only_on_{s}" for s in self.sources),
                *(f"median_delay_hours_{s}" for s in self.sources), "latest_published_at", "likely_gap"]

    def records(self) -> list[list]:
        """Rows of the CSV form (values, not text)."""
        return [[r.code, r.name, r.county_code, r.total, *(r.active[s] for s in self.sources),
                 *(r.only[s] for s in self.sources), *(r.delay_hours[s] for s in self.sources), r.latest,
                 r.likely_gap] for r in self.rows]


def collect(engine: Engine, since: date | None = None, county_codes: tuple[str, ...] = (),
            municipality_codes: tuple[str, ...] = (), now: datetime | None = None) -> Coverage:
    """Coverage now (v_coverage), or of the ads open at any time since the day `since` (00:00 UTC)."""
    now = now or datetime.now(UTC)
    if since is None:
        query = select(v_coverage).subquery()
        params = {}
    else:
        query = (text(coverage_sql(engine.dialect.name, since=True))
                 .bindparams(bindparam("since", type_=UTCDateTime())).columns(*v_coverage.c).subquery())
        params = {"since": midnight(since)}
    statement = select(query).order_by(query.c.municipality_code, query.c.source)
    if county_codes:
        statement = statement.where(query.c.county_code.in_(county_codes))
    if municipality_codes:
        statement = statement.where(query.c.municipality_code.in_(municipality_codes))
    with engine.connect() as connection:
        found = connection.execute(statement, params).all()
    by_code: dict[str, MunicipalityCoverage] = {}
    sources: set[str] = set()
    for r in found:
        sources.add(r.source)
        row = by_code.setdefault(r.municipality_code, MunicipalityCoverage(
            r.municipality_code, r.municipality_name, r.county_code, r.active_ads_total))
        row.active[r.source], row.only[r.source] = r.active_ads, r.only_this_source
        row.delay_hours[r.source] = r.median_delay_hours
        if r.latest_published_at and (row.latest is None or r.latest_published_at > row.latest):
            row.latest = r.latest_published_at
    for row in by_code.values():
        row.likely_gap = row.latest is None or row.latest < now - timedelta(days=GAP_DAYS)
    return Coverage(sorted(sources), list(by_code.values()), since, now)
