"""Counts of ads by municipality, county, occupation, engagement type or ISO week, for a period."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Date, Engine, Integer, cast, func, select

from munijobs.analysts.filters import AdFilters, midnight, where
from munijobs.analysts.views import prepare, v_ads

DIMENSIONS = ("municipality", "county", "occupation", "engagement_type", "week")
UNKNOWN = "(unknown)"
COUNTS = ("ads", "active", "readvertised")
"""The counts of every row: ads, active ads, and ads that re-advertise an earlier ad (v_ads.readvertised_from_ad_id),
a sign of a post that is hard to fill."""
READVERTISED_BY = ("municipality", "occupation")
"""The dimensions whose rows count re-advertised ads too (where hard-to-fill posts show)."""


@dataclass
class Stats:
    """A table of counts: header and rows (a row ends with its ads and active ads, and, by municipality or
    occupation, its re-advertised ads)."""

    by: str
    header: list[str]
    rows: list[list]

    @property
    def total(self) -> int:
        ads = self.header.index("ads")
        return sum(row[ads] for row in self.rows)


def publication_time():
    """When an ad appeared: published_at, or first_seen_at when the source gave no publication time."""
    return func.coalesce(v_ads.c.published_at, v_ads.c.first_seen_at, type_=v_ads.c.published_at.type)


def publication_day(dialect: str):
    """The UTC day of publication_time()."""
    moment = publication_time()
    if dialect == "sqlite":
        return func.substr(moment, 1, 10)
    return cast(func.timezone("UTC", moment), Date)


def period(since: date | None, until: date | None) -> list:
    """Clauses restricting publication_time() to the days since..until (inclusive)."""
    clauses = []
    if since:
        clauses.append(publication_time() >= midnight(since))
    if until:
        clauses.append(publication_time() < midnight(until + timedelta(days=1)))
    return clauses


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def stats(engine: Engine, by: str, filters: AdFilters, since: date | None = None, until: date | None = None) -> Stats:
    """Ads (and active ads) per value of the dimension `by`, among ads published in the period."""
    prepare(engine)
    dialect = engine.dialect.name
    c = v_ads.c
    keys = {"municipality": [c.municipality_code, c.municipality_name], "county": [c.county_code, c.county_name],
            "occupation": [c.occupation_code, c.occupation_name], "engagement_type": [c.engagement_type],
            "week": [publication_day(dialect).label("day")]}[by]
    ads = func.count().label("ads")
    active = func.sum(cast(c.status == "active", Integer)).label("active")
    readvertised = func.sum(cast(c.readvertised_from_ad_id.is_not(None), Integer)).label("readvertised")
    query = (select(*keys, ads, active, readvertised).where(*where(filters, dialect), *period(since, until))
             .group_by(*keys))
    with engine.connect() as connection:
        result = [list(row) for row in connection.execute(query)]
    if by == "week":
        return _weekly(result)
    header = {"municipality": ["municipality_code", "municipality_name"], "county": ["county_code", "county_name"],
              "occupation": ["occupation_code", "occupation_name"], "engagement_type": ["engagement_type"]}[by]
    rows = [[UNKNOWN if value is None else value for value in row[:-3]] + [row[-3], int(row[-2] or 0),
                                                                            int(row[-1] or 0)]
            for row in result]
    rows.sort(key=lambda row: (-row[-3], [str(v) for v in row[:-3]]))
    if by not in READVERTISED_BY:
        rows = [row[:-1] for row in rows]
    return Stats(by, [*header, *(COUNTS if by in READVERTISED_BY else COUNTS[:2])], rows)


def _weekly(result: list[list]) -> Stats:
    """Per-day counts summed into ISO weeks (Monday to Sunday, UTC), weeks without ads included."""
    weeks: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for day, *counts in result:
        day = day if isinstance(day, date) else datetime.strptime(day, "%Y-%m-%d").date()
        monday = day - timedelta(days=day.weekday())
        for n, count in enumerate(counts):
            weeks[monday][n] += int(count or 0)
    rows = []
    if weeks:
        monday, last = min(weeks), max(weeks)
        while monday <= last:
            rows.append([iso_week(monday), monday, *weeks.get(monday, [0, 0, 0])[:2]])
            monday += timedelta(days=7)
    return Stats("week", ["week", "week_start", *COUNTS[:2]], rows)
