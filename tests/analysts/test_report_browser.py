"""The report in headless Chromium, as a new user sees it with the README's `--weeks 26`: no SVG text outside its
SVG or on top of other text, no date broken over lines, nothing wider than the window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from munijobs import codes
from munijobs.items import JobPosting
from storage.db import ensure_source, session_scope
from storage.models import Ad, Posting
from storage.postings import store_batch
from tests.browser import LAYOUT_PROBLEMS, chromium, svg_text_count  # noqa: F401

UNTIL = date(2026, 6, 28)
WEEKS = 26


def busy_half_year() -> list[JobPosting]:
    """Ads in every county for 26 weeks (up to 60 a week), Finnmark with one temporary ad only ("100 % of 1"), the
    occupations with the longest names, and a share of them at Jobbnorge as well."""
    first_municipality = {}
    for m in codes.municipalities().values():
        first_municipality.setdefault(m.county_code, m.code)
    longest = sorted(codes.occupations().values(), key=lambda o: -len(o.name))[:16]
    start = datetime.combine(monday_of(UNTIL) - timedelta(weeks=WEEKS - 1), datetime.min.time(), UTC)
    items = []
    for n, (county, municipality) in enumerate(sorted(first_municipality.items())):
        weekly = 1 if county == "56" else 1 + n % 5
        for week in range(WEEKS if county != "56" else 1):
            for k in range(weekly + (week % 3)):
                number = len(items)
                occupation = longest[number % len(longest)]
                items.append(JobPosting(
                    source="nav", source_ad_id=f"n{number}", title=f"Stilling {number} som {occupation.name}",
                    employer_name=f"{codes.municipalities()[municipality].short_name} kommune",
                    municipality_code=municipality, county_code=county, occupation_code=occupation.code,
                    occupation_name=occupation.name, engagement_type="temporary" if k % 2 == 0 else "permanent",
                    published_at=start + timedelta(weeks=week, hours=8 + k), deadline_date=UNTIL + timedelta(days=k),
                    deadline_kind="date", url=f"https://example.no/nav/n{number}", description_html="<p>x</p>"))
    return items


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


@pytest.fixture
def busy_database(tmp_path):
    from storage.db import get_engine, upgrade

    url = f"sqlite:///{tmp_path / 'busy.db'}"
    engine = upgrade(get_engine(url))
    ensure_source(engine, "jobbnorge")
    items = busy_half_year()
    twins = [JobPosting(**{**vars(item), "source": "jobbnorge", "source_ad_id": f"j{item.source_ad_id}",
                           "url": item.url.replace("/nav/n", "/jobbnorge/j")}) for item in items[::3]]
    with session_scope(engine) as session:
        store_batch(session, items + twins, now=datetime.combine(UNTIL, datetime.min.time(), UTC))
    with session_scope(engine) as session:
        ids = dict(session.execute(select(Posting.source_ad_id, Posting.id)).all())
        ads = dict(session.execute(select(Posting.source_ad_id, Posting.ad_id)).all())
        for twin in twins[::2]:
            nav_id = twin.source_ad_id[1:]
            session.execute(update(Posting).where(Posting.id == ids[twin.source_ad_id]).values(ad_id=ads[nav_id]))
            session.execute(delete(Ad).where(Ad.id == ads[twin.source_ad_id]))
    return url


def test_report_layout_in_chromium(chromium, busy_database, tmp_path, monkeypatch):  # noqa: F811
    from click.testing import CliRunner

    from munijobs.cli import cli

    monkeypatch.setenv("DATABASE_URL", busy_database)
    target = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "-o", str(target), "--weeks", str(WEEKS), "--until", str(UNTIL)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    page = target.read_text(encoding="utf-8")
    assert "Finnmark - Finnmárku - Finmarkku" in page and "100 % of 1" in page
    chromium.get(target.as_uri())
    assert svg_text_count(chromium) > 60
    assert chromium.execute_script(LAYOUT_PROBLEMS) == []
    labels = chromium.execute_script(
        "return [...document.querySelectorAll('svg')[0].querySelectorAll('text')].map(t => t.textContent)")
    assert "W26" in labels and sum(label.startswith("W") for label in labels) >= WEEKS // 3
    legend = chromium.execute_script("return [...document.querySelectorAll('ul.legend li')].map(li => li.innerText)")
    assert "Finnmark - Finnmárku - Finmarkku" in legend


def test_narrow_window_keeps_charts_inside(chromium, busy_database, tmp_path, monkeypatch):  # noqa: F811
    from munijobs.analysts.filters import AdFilters
    from munijobs.analysts.report import collect, render
    from storage.db import get_engine

    target = tmp_path / "report.html"
    target.write_text(render(collect(get_engine(busy_database), AdFilters(), weeks=WEEKS, until=UNTIL)),
                      encoding="utf-8")
    chromium.set_window_size(700, 900)
    try:
        chromium.get(target.as_uri())
        problems = chromium.execute_script(LAYOUT_PROBLEMS)
    finally:
        chromium.set_window_size(1280, 1000)
    assert [p for p in problems if not p.startswith("page wider")] == []
