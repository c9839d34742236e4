"""munijobs stats on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date

from munijobs.analysts.filters import AdFilters
from munijobs.analysts.stats import stats


def as_dict(result) -> dict:
    """{keys: (ads, active)} of a result."""
    ads = result.header.index("ads")
    return {tuple(row[:ads]): tuple(row[ads:ads + 2]) for row in result.rows}


def test_by_each_dimension(ads_engine):
    county = as_dict(stats(ads_engine, "county", AdFilters()))
    assert county[("50", "Trøndelag - Trööndelage")] == (2, 2) and county[("03", "Oslo")] == (1, 0)
    assert stats(ads_engine, "county", AdFilters()).total == 8
    municipality = as_dict(stats(ads_engine, "municipality", AdFilters(county_codes=("18",))))
    assert municipality == {("1804", "Bodø"): (1, 1), ("1818", "Herøy"): (1, 0)}
    occupation = as_dict(stats(ads_engine, "occupation", AdFilters()))
    assert occupation[("(unknown)", "(unknown)")] == (1, 1) and occupation[("2223", "Sykepleiere")] == (1, 1)
    engagement = as_dict(stats(ads_engine, "engagement_type", AdFilters()))
    assert engagement[("permanent",)] == (3, 3) and engagement[("seasonal",)] == (1, 0)


def test_weeks_and_period(ads_engine):
    weeks = stats(ads_engine, "week", AdFilters())
    assert [row[0] for row in weeks.rows] == ["2025-W51", "2025-W52", "2026-W01", "2026-W02", "2026-W03", "2026-W04"]
    assert weeks.rows[3] == ["2026-W02", date(2026, 1, 5), 3, 2]
    assert weeks.total == 8
    period = stats(ads_engine, "week", AdFilters(), since=date(2026, 1, 12), until=date(2026, 1, 20))
    assert [(row[0], row[2]) for row in period.rows] == [("2026-W03", 1), ("2026-W04", 1)]


def test_command(run):
    table = run("stats", "--by", "county")
    assert table.exit_code == 0 and "Trøndelag" in table.stdout and "total" in table.stdout
    rows = list(csv.reader(io.StringIO(run("stats", "--by", "engagement_type", "--format", "csv").stdout)))
    assert rows[0] == ["engagement_type", "ads", "active"] and ["permanent", "3", "3"] in rows
    weekly = run("stats", "--by", "week", "--format", "csv", "--since", "2026-01-19", "--municipality", "Trondheim")
    assert weekly.stdout.splitlines() == ["week,week_start,ads,active", "2026-W04,2026-01-19,1,1"]


def test_command_bad_input(run_without_database):
    for args, named in ((["--by", "month"], "'month'"), (["--since", "2026-02-30"], "'2026-02-30'"),
                        (["--since", "2026-02-01", "--until", "2026-01-01"], "2026-02-01"),
                        (["--format", "xlsx"], "'xlsx'"), (["--occupation", "astronaut"], "'astronaut'")):
        result = run_without_database("stats", *args)
        assert result.exit_code == 2 and named in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_readvertised_ads_are_counted_per_municipality_and_occupation(ads_engine):
    from sqlalchemy import text

    with ads_engine.begin() as connection:
        first, again = connection.execute(text(
            "SELECT ad_id FROM v_ads WHERE county_code = '50' ORDER BY ad_id")).scalars().all()[:2]
        connection.execute(text("UPDATE ads SET readvertised_from_ad_id = :first WHERE id = :again"),
                           {"first": first, "again": again})
        code, occupation = connection.execute(text(
            "SELECT municipality_code, occupation_code FROM v_ads WHERE ad_id = :again"), {"again": again}).one()
    by_municipality = stats(ads_engine, "municipality", AdFilters())
    assert by_municipality.header[-3:] == ["ads", "active", "readvertised"]
    counted = {row[0]: row[-1] for row in by_municipality.rows}
    assert counted[code] == 1 and sum(counted.values()) == 1
    by_occupation = {row[0]: row[-1] for row in stats(ads_engine, "occupation", AdFilters()).rows}
    assert by_occupation[occupation or "(unknown)"] == 1 and sum(by_occupation.values()) == 1
