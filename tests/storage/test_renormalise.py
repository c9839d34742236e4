"""`munijobs renormalise` over a database filled by an earlier normaliser: only real changes become history."""

from __future__ import annotations

from datetime import UTC, datetime

from click.testing import CliRunner
from sqlalchemy import select, text

from munijobs.cli import cli
from munijobs.items import JobPosting, WorkLocation
from storage.db import session_scope
from storage.models import Posting
from storage.postings import store_batch
from storage.renormalise import renormalise_postings

SEEN = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
HTML = "<p>Vi har ledig et vikariat som sykepleier.</p><p>Stillingsbrøk: 80 %</p><p>Søknadsfrist: 15.01.2027</p>"


def stale_posting(ad_id: str) -> JobPosting:
    """A posting as an older, worse normaliser left it: raw values right, normalised values wrong or missing."""
    return JobPosting(
        source="nav", source_ad_id=ad_id, title="Sykepleier", employer_name="Bodø kommune",
        description_html=HTML, description_text="Vi har ledig et vikariat som sykepleier.Stillingsbrøk: 80 %",
        engagement_type_raw="Fast", engagement_type="permanent", extent_raw="Heltid", extent="full_time",
        published_at=datetime(2026, 11, 1, tzinfo=UTC),
        work_locations=[WorkLocation(municipality="BODØ", county="NORDLAND")],
    )


def fill_with_earlier_version(engine) -> None:
    with session_scope(engine) as session:
        store_batch(session, [stale_posting("1"), stale_posting("2")], now=SEEN)


def test_renormalise_fixes_stale_fields_and_writes_history_once(engine):
    fill_with_earlier_version(engine)
    result = renormalise_postings(engine)
    assert (result.seen, result.changed) == (2, 2)
    with engine.connect() as connection:
        row = connection.execute(text(
            "SELECT engagement_type, extent, job_percent_max, deadline_date, municipality_code, county_code,"
            " description_text, last_seen_at FROM v_ads ORDER BY ad_id")).mappings().first()
        fields = set(connection.execute(text("SELECT DISTINCT field FROM v_ad_history")).scalars())
    assert row["engagement_type"] == "temporary"
    assert row["extent"] == "part_time" and row["job_percent_max"] == 80
    assert str(row["deadline_date"]) == "2027-01-15"
    assert (row["municipality_code"], row["county_code"]) == ("1804", "18")
    assert "sykepleier.\n" in row["description_text"]
    assert {"engagement_type", "extent", "job_percent_min", "job_percent_max", "deadline_date", "municipality_code",
            "description_text"} <= fields
    assert "title" not in fields and "employer_name" not in fields

    with engine.connect() as connection:
        changes_before = connection.execute(text("SELECT COUNT(*) FROM posting_changes")).scalar()
        last_seen = connection.execute(select(Posting.last_seen_at)).scalars().all()
    again = renormalise_postings(engine)
    assert (again.seen, again.changed, again.fields) == (2, 0, 0)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM posting_changes")).scalar() == changes_before
    assert last_seen == [SEEN, SEEN], "renormalise does not mark postings as seen"


def test_renormalise_command_reports_progress(database_url, monkeypatch):
    from storage.db import get_engine, upgrade

    fill_with_earlier_version(upgrade(get_engine(database_url)))
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["renormalise", "--source", "nav"])
    assert result.exit_code == 0, result.output
    assert "renormalised 2 postings: 2 changed" in result.output


def test_renormalise_in_worker_processes_gives_the_same_result(engine):
    fill_with_earlier_version(engine)
    result = renormalise_postings(engine, workers=2)
    assert (result.seen, result.changed) == (2, 2)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT engagement_type, job_percent_max, municipality_code FROM v_ads ORDER BY ad_id")).all()
    assert rows == [("temporary", 80, "1804"), ("temporary", 80, "1804")]
    assert renormalise_postings(engine, workers=2).changed == 0
