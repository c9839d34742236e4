"""munijobs coverage: the hand-counted figures of v_coverage pivoted per municipality (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time

import pytest
from click.testing import CliRunner

from munijobs.analysts.coverage import collect
from munijobs.analysts.report import render_coverage
from tests.analysts import coverage_data as data
from tests.browser import LAYOUT_PROBLEMS, chromium  # noqa: F401

NOW = datetime.combine(data.TODAY, time(12), data.T0.tzinfo)


@pytest.fixture
def coverage_db(engine, monkeypatch):
    data.build(engine)
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    return engine


def run(*args: str):
    from munijobs.cli import cli

    return CliRunner().invoke(cli, ["coverage", *args], catch_exceptions=False)


def csv_rows(result) -> dict[str, dict]:
    assert result.exit_code == 0, result.output
    return {row["municipality_code"]: row for row in csv.DictReader(io.StringIO(result.stdout))}


def expected_row(code: str, expected: dict) -> dict:
    """The CSV cells a municipality should have, from the hand-counted (active, only, total, median) figures."""
    nav, jobbnorge = expected[(code, "nav")], expected[(code, "jobbnorge")]
    hours = {s: "" if v[3] is None else str(v[3]) for s, v in (("nav", nav), ("jobbnorge", jobbnorge))}
    return {"active_ads_total": str(nav[2]), "active_ads_nav": str(nav[0]), "active_ads_jobbnorge": str(jobbnorge[0]),
            "only_on_nav": str(nav[1]), "only_on_jobbnorge": str(jobbnorge[1]),
            "median_delay_hours_nav": hours["nav"], "median_delay_hours_jobbnorge": hours["jobbnorge"]}


def test_csv_has_the_hand_counted_figures(coverage_db):
    rows = csv_rows(run("--format", "csv"))
    assert len(rows) == 357
    assert list(next(iter(rows.values()))) == [
        "municipality_code", "municipality_name", "county_code", "active_ads_total", "active_ads_jobbnorge",
        "active_ads_nav", "only_on_jobbnorge", "only_on_nav", "median_delay_hours_jobbnorge",
        "median_delay_hours_nav", "latest_published_at", "likely_gap"]
    for code in ("5001", "4601", "1804", "0301", "3201", "1508"):
        assert {k: rows[code][k] for k in expected_row(code, data.EXPECTED)} == expected_row(code, data.EXPECTED)
    assert rows["5001"]["latest_published_at"] == "2026-02-27 12:00"
    assert rows["5001"]["municipality_name"] == "Trondheim - Tråante"


def test_since_and_county(coverage_db):
    rows = csv_rows(run("--format", "csv", "--since", data.SINCE.date().isoformat(), "--county", "Trøndelag"))
    assert {r["county_code"] for r in rows.values()} == {"50"} and len(rows) == 38
    assert {k: rows["5001"][k] for k in expected_row("5001", data.EXPECTED_SINCE)} == expected_row(
        "5001", data.EXPECTED_SINCE)


def test_likely_gap_after_30_days_without_an_ad(coverage_db):
    result = {r.code: r for r in collect(coverage_db, now=NOW).rows}
    assert not result["5001"].likely_gap and not result["4601"].likely_gap and not result["1508"].likely_gap
    assert result["1804"].likely_gap and result["3201"].likely_gap
    assert result["1804"].latest.date().isoformat() == "2026-01-10"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_table_and_html(coverage_db, tmp_path):
    table = run("--county", "50")
    assert table.exit_code == 0 and "Trondheim" in table.stdout and "only on nav" in table.stdout
    assert "likely gap" in table.stdout and "Bergen" not in table.stdout
    target = tmp_path / "coverage.html"
    result = run("--format", "html", "-o", str(target))
    assert result.exit_code == 0 and "coverage: wrote" in result.stderr
    page = target.read_text(encoding="utf-8")
    # run after March 2026, so even the newest fixture ad is older than 30 days: every row is a likely gap
    assert "<script" not in page and "Trøndelag - Trööndelage" in page and page.count('<tr class=gap>') == 357


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_html_page_layout_in_chromium(coverage_db, chromium, tmp_path):  # noqa: F811
    target = tmp_path / "coverage.html"
    target.write_text(render_coverage(collect(coverage_db, now=NOW)), encoding="utf-8")
    chromium.get(target.as_uri())
    assert chromium.execute_script(LAYOUT_PROBLEMS) == []
    assert chromium.execute_script("return document.querySelectorAll('tr.gap').length") == 357 - 4


def test_bad_input(run_without_database, tmp_path):
    for args, named in ((["--since", "31.01.2026"], "'31.01.2026'"), (["--county", "Narnia"], "'Narnia'"),
                        (["--format", "pdf"], "'pdf'"), (["-o", str(tmp_path / "no" / "c.csv")], "does not exist")):
        result = run_without_database("coverage", *args)
        assert result.exit_code == 2 and named in result.stderr and len(result.stderr.strip().splitlines()) == 1
