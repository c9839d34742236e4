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


CLOSED = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def crawl_meanwhile(engine, monkeypatch, crawl) -> None:
    """Run `crawl(session)` in a transaction of its own after renormalise has read a chunk, before it writes it."""
    import storage.renormalise as renormalise

    normalise = renormalise._normalise_all

    def crawl_then_normalise(items):
        with session_scope(engine) as session:
            crawl(session)
        return normalise(items)
    monkeypatch.setattr(renormalise, "_normalise_all", crawl_then_normalise)


def test_renormalise_during_a_crawl_keeps_what_the_crawl_closed(engine, monkeypatch):
    """Status, closed_at and last_seen_at belong to the crawl: a posting it closes while renormalise holds the
    posting in memory stays closed, with its history; the normalised fields are still fixed."""
    fill_with_earlier_version(engine)
    closing = JobPosting(source="nav", source_ad_id="1", status="withdrawn", has_content=False, closed_at=CLOSED)
    crawl_meanwhile(engine, monkeypatch, lambda session: store_batch(session, [closing], now=CLOSED, run_id=7))
    result = renormalise_postings(engine)
    assert result.changed == 2
    with engine.connect() as connection:
        rows = connection.execute(select(Posting.source_ad_id, Posting.status, Posting.closed_at, Posting.last_seen_at,
                                         Posting.last_run_id, Posting.engagement_type).order_by(Posting.id)).all()
        history = connection.execute(text("SELECT field, new_value FROM v_ad_history WHERE field = 'status'")).all()
    assert rows[0] == ("1", "withdrawn", CLOSED, CLOSED, 7, "temporary")
    assert rows[1] == ("2", "active", None, SEEN, None, "temporary")
    assert history == [("status", "withdrawn")]


def test_renormalise_leaves_a_posting_the_crawl_rewrote_meanwhile(engine, monkeypatch):
    """A posting whose content a crawl changed after renormalise read it is not overwritten with the older text."""
    fill_with_earlier_version(engine)
    newer = stale_posting("1")
    newer.title = "Sykepleier, ny utlysning"
    crawl_meanwhile(engine, monkeypatch, lambda session: store_batch(session, [newer], now=CLOSED, run_id=8))
    result = renormalise_postings(engine)
    assert result.changed == 1
    with engine.connect() as connection:
        titles = connection.execute(select(Posting.title, Posting.last_run_id).order_by(Posting.id)).all()
    assert titles == [("Sykepleier, ny utlysning", 8), ("Sykepleier", None)]


def test_renormalise_holds_its_rows_until_it_commits(engine, monkeypatch):
    """The re-read and the write are one transaction that holds the rows: on SQLite BEGIN IMMEDIATE (no other writer
    gets in), on PostgreSQL row locks (a crawl closing the posting waits)."""
    import storage.renormalise as renormalise

    fill_with_earlier_version(engine)
    store = renormalise.store_batch
    refused = []

    def store_then_try_to_close(session, items, **options):
        result = store(session, items, **options)
        other = None
        try:
            if engine.dialect.name == "sqlite":
                import sqlite3

                other = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
                other.execute("BEGIN IMMEDIATE")
            else:
                import psycopg

                other = psycopg.connect(engine.url.set(drivername="postgresql").render_as_string(False))
                other.execute("SET lock_timeout = '200ms'")
                other.execute("UPDATE postings SET status = 'withdrawn' WHERE source_ad_id = '1'")
        except Exception as error:  # the driver's own "locked" error is what is expected
            refused.append(type(error).__name__)
        finally:
            if other is not None:
                other.close()
        return result
    monkeypatch.setattr(renormalise, "store_batch", store_then_try_to_close)
    renormalise_postings(engine)
    assert refused == ["OperationalError"] if engine.dialect.name == "sqlite" else refused == ["LockNotAvailable"]
