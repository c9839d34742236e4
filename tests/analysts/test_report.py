"""munijobs report: one self-contained, escaped HTML page (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

from munijobs.analysts.filters import AdFilters
from munijobs.analysts.report import collect, link, render


class Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_report_content(ads_engine):
    data = collect(ads_engine, AdFilters(), weeks=8, until=date(2026, 1, 31))
    assert data.total == 8 and data.statuses == {"active": 6, "expired": 1, "withdrawn": 1} and data.postings == 8
    assert sum(data.weekly.values()) == 8 and data.weeks[0] == date(2025, 12, 8)
    assert data.weekly[("Trøndelag - Trööndelage", date(2026, 1, 19))] == 1
    assert ("2223", "Sykepleiere", 1) in data.occupations
    assert ("Trøndelag - Trööndelage", 1, 2) in data.temporary
    assert data.newest[0]["title"].startswith("Rådgiver")
    assert {r["source"]: r["status"] for r in data.runs} == {"jobbnorge": "failed", "nav": "partial"}
    assert [a["message"] for a in data.alerts] == ["errors in run <2>"]
    counties = {c.code: c for c in data.coverage.counties()}
    assert (counties["50"].total, counties["50"].active, counties["50"].only) == (
        2, {"jobbnorge": 0, "nav": 2}, {"jobbnorge": 0, "nav": 2})
    assert counties["03"].total == 0 and counties["50"].single_source_share == 1.0 and len(counties) == 15
    filtered = collect(ads_engine, AdFilters(county_codes=("50",)), weeks=8, until=date(2026, 1, 31))
    assert filtered.total == 2 and [c.code for c in filtered.coverage.counties()] == ["50"]


def test_report_html_is_self_contained_and_escaped(run, tmp_path):
    target = tmp_path / "report.html"
    result = run("report", "-o", str(target), "--until", "2026-01-31", "--weeks", "8")
    assert result.exit_code == 0, result.output
    page = target.read_text(encoding="utf-8")
    parser = Elements()
    parser.feed(page)
    tags = {tag for tag, _ in parser.tags}
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    assert not any("src" in attrs for _, attrs in parser.tags)
    assert {attrs["href"] for tag, attrs in parser.tags if tag == "a"} <= {
        f"https://example.no/{s}/{n}" for s in ("nav", "jobbnorge") for n in range(1, 9)}
    assert "Rådgiver &lt;script&gt;alert(1)&lt;/script&gt; &amp; økonomi" in page
    assert "errors in run &lt;2&gt;" in page and "resolved one" not in page
    assert page.count("<svg") == 4 and len(re.findall(r"<rect ", page)) > 10
    for heading in ("Totals", "Ads per week by county", "Top occupations", "Share of temporary positions",
                    "Coverage of the sources", "Newest ads", "Source health", "Open alerts"):
        assert heading in page


def test_only_web_links():
    assert link("x", "javascript:alert(1)") == "x"
    assert link("<b>", "https://a.no/?q=1&r=\"2\"") == '<a href="https://a.no/?q=1&amp;r=&quot;2&quot;" ' \
        'rel="noopener noreferrer">&lt;b&gt;</a>'


def test_empty_database_renders(engine):
    page = render(collect(engine, AdFilters()))
    assert "No crawl has run yet" in page and "No open alerts" in page


def test_bad_input(run_without_database, tmp_path):
    for args, named in ((["--until", "31.01.2026"], "'31.01.2026'"), (["--weeks", "0"], "0"),
                        (["--county", "Narnia"], "'Narnia'")):
        result = run_without_database("report", "-o", str(tmp_path / "r.html"), *args)
        assert result.exit_code == 2 and named in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_report_counts_readvertised_positions(ads_engine):
    from sqlalchemy import text

    assert "No re-advertised positions." in render(collect(ads_engine, AdFilters(), until=date(2026, 1, 31)))
    with ads_engine.begin() as connection:
        first, again = connection.execute(text(
            "SELECT ad_id FROM v_ads WHERE occupation_code = '2223' OR county_code = '50' ORDER BY ad_id")
        ).scalars().all()[:2]
        connection.execute(text("UPDATE ads SET readvertised_from_ad_id = :first WHERE id = :again"),
                           {"first": first, "again": again})
        code, name = connection.execute(text(
            "SELECT municipality_code, municipality_name FROM v_ads WHERE ad_id = :again"), {"again": again}).one()
        there = connection.execute(text("SELECT COUNT(*) FROM v_ads WHERE municipality_code = :code"),
                                   {"code": code}).scalar_one()
        occupation = connection.execute(text("SELECT occupation_code FROM v_ads WHERE ad_id = :again"),
                                        {"again": again}).scalar_one()
    data = collect(ads_engine, AdFilters(), until=date(2026, 1, 31))
    assert data.readvertised["municipality"] == [(f"{code} {name}", 1, there)]
    assert [again for _, again, _ in data.readvertised["occupation"]] == ([1] if occupation else [])
    html = render(data)
    assert "Re-advertised positions" in html and "By municipality" in html and "1 of " in html
