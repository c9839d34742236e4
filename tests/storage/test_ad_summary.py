"""Each ad's summary on `ads` (migration 0009) stays what a GROUP BY over its postings gives, whatever writes them.

The reference is the SQL v_ads used before 0009 (0002's AD_STATUS, 0007's sorted SOURCES), run from scratch.
"""

from __future__ import annotations

import importlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text

from storage.db import alembic_config, ensure_source, get_engine, session_scope, upgrade
from storage.postings import store_batch
from tests.conftest import fresh_postgres_database
from tests.dedup.pairs import load_pairs, to_item

VIEWS_0002 = importlib.import_module("storage.migrations.versions.0002_analyst_views")
VIEWS_0007 = importlib.import_module("storage.migrations.versions.0007_dedup")
MIGRATION = importlib.import_module("storage.migrations.versions.0009_ad_summary")
SUMMARY = "status, first_seen_at, last_seen_at, closed_at, sources, posting_count"
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def from_scratch(connection) -> dict[int, tuple]:
    """Every ad's summary computed from all postings, as v_ads did before migration 0009."""
    dialect = connection.dialect.name
    ad_status = VIEWS_0002.AD_STATUS.format(sources=VIEWS_0002.SOURCES_AGG[dialect])
    rows = connection.execute(text(
        f"SELECT s.ad_id, s.status, s.first_seen_at, s.last_seen_at, s.closed_at, src.sources, s.posting_count"
        f"  FROM ({ad_status}) s JOIN ({VIEWS_0007.SOURCES[dialect]}) src ON src.ad_id = s.ad_id"))
    return {row[0]: tuple(row[1:]) for row in rows}


def stored(connection) -> dict[int, tuple]:
    """The summary on `ads` of the ads that have postings; the others must be empty."""
    rows = connection.execute(text(f"SELECT id, {SUMMARY} FROM ads")).all()
    empty = [row for row in rows if row.posting_count == 0]
    assert all(tuple(row[1:6]) == (None,) * 5 for row in empty)
    return {row[0]: tuple(row[1:]) for row in rows if row.posting_count}


def assert_in_step(engine) -> None:
    with engine.connect() as connection:
        expected = from_scratch(connection)
        assert expected  # the check compares something
        assert stored(connection) == expected


def execute(engine, statement: str, **params) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), params)


def add_ad(engine, ad_id: int) -> None:
    """An ad whose primary posting is number ad_id * 10."""
    execute(engine, "INSERT INTO ads (id, primary_posting_id, created_at) VALUES (:id, :id * 10, :t)", id=ad_id,
            t=T0.replace(tzinfo=None))


def add_posting(engine, posting_id: int, ad_id: int | None, source: str = "nav", status: str = "active",
                hours: int = 0, closed: int | None = None) -> None:
    moment = T0 + timedelta(hours=hours)
    execute(engine, "INSERT INTO postings (id, source, source_ad_id, ad_id, status, first_seen_at, last_seen_at,"
                    " closed_at) VALUES (:id, :source, :sid, :ad, :status, :first, :last, :closed)",
            id=posting_id, source=source, sid=f"s{posting_id}", ad=ad_id, status=status, first=moment,
            last=moment + timedelta(hours=1), closed=None if closed is None else T0 + timedelta(hours=closed))


@pytest.fixture
def db(engine):
    ensure_source(engine, "jobbnorge")
    for ad_id in (1, 2, 3):
        add_ad(engine, ad_id)
    add_posting(engine, 10, 1, "nav")
    add_posting(engine, 11, 1, "jobbnorge", hours=2)
    add_posting(engine, 20, 2, "jobbnorge", status="expired", hours=1, closed=30)
    add_posting(engine, 30, None, "nav")
    return engine


def test_inserts_fill_the_summary(db):
    assert_in_step(db)
    with db.connect() as connection:
        assert connection.execute(text("SELECT sources, posting_count, status FROM ads WHERE id = 1")).one() == (
            "jobbnorge,nav", 2, "active")
        assert connection.execute(text("SELECT posting_count, status FROM ads WHERE id = 3")).one() == (0, None)


def test_status_changes_and_closes_are_followed(db):
    execute(db, "UPDATE postings SET status = 'expired', closed_at = :t WHERE id = 10", t=T0 + timedelta(days=2))
    assert_in_step(db)
    execute(db, "UPDATE postings SET status = 'withdrawn', closed_at = :t WHERE id = 11", t=T0 + timedelta(days=3))
    assert_in_step(db)
    with db.connect() as connection:
        assert connection.execute(text("SELECT status FROM ads WHERE id = 1")).scalar_one() == "expired"
    execute(db, "UPDATE postings SET status = 'active', closed_at = NULL WHERE id = 10")
    execute(db, "UPDATE postings SET last_seen_at = :t, first_seen_at = :t WHERE id = 20", t=T0 + timedelta(days=9))
    assert_in_step(db)


def test_moves_between_ads_recompute_both_ads(db):
    execute(db, "UPDATE postings SET ad_id = 2 WHERE id = 11")
    assert_in_step(db)
    execute(db, "UPDATE postings SET ad_id = 3 WHERE ad_id IN (1, 2)")  # a merge of two ads into a third
    assert_in_step(db)
    with db.connect() as connection:
        assert connection.execute(text("SELECT posting_count, status FROM ads WHERE id = 1")).one() == (0, None)
    execute(db, "UPDATE postings SET ad_id = 1 WHERE id = 30")
    execute(db, "UPDATE postings SET ad_id = NULL WHERE id = 20")
    assert_in_step(db)


def test_source_changes_and_deletes_are_followed(db):
    execute(db, "UPDATE postings SET source = 'nav' WHERE id = 11")
    assert_in_step(db)
    execute(db, "DELETE FROM postings WHERE id = 10")
    assert_in_step(db)
    execute(db, "DELETE FROM postings WHERE ad_id = 2")
    assert_in_step(db)
    with db.connect() as connection:
        assert connection.execute(text("SELECT posting_count, sources FROM ads WHERE id = 2")).one() == (0, None)


def test_v_ads_reads_the_same_as_before_the_migration(db):
    dialect = db.dialect.name
    before = MIGRATION._v_ads_0007(dialect).replace("CREATE VIEW v_ads AS", "")
    with db.connect() as connection:
        old = connection.execute(text(f"SELECT * FROM ({before}) v ORDER BY ad_id")).all()
        new = connection.execute(text("SELECT * FROM v_ads ORDER BY ad_id")).all()
        assert list(connection.execute(text("SELECT * FROM v_ads WHERE 1 = 0")).keys()) == list(
            connection.execute(text(f"SELECT * FROM ({before}) v WHERE 1 = 0")).keys())
    assert [row.ad_id for row in new] == [1, 2]
    assert new == old


def test_the_store_path_and_dedup_merges_and_splits_keep_it(engine):
    ensure_source(engine, "jobbnorge")
    pairs = load_pairs()
    linked = next(p for p in pairs if p["case"] == "linked_nav_jobbnorge")
    duplicate, other = (next(p for p in pairs if p["case"] == case) for case in ("nav_nav_duplicate", "unrelated"))
    a, b, c, d = (to_item(item) for item in (linked["a"], linked["b"], duplicate["a"], duplicate["b"]))
    for hours, items in enumerate(([a, c], [b, d])):  # merges: b into a's ad, d into c's
        with session_scope(engine) as session:
            store_batch(session, items, now=T0 + timedelta(hours=hours))
        assert_in_step(engine)
    with engine.connect() as connection:
        assert sorted(connection.execute(text("SELECT sources, posting_count FROM v_ads")).all()) == [
            ("jobbnorge,nav", 2), ("nav", 2)]
    changed = to_item({**duplicate["b"], **{k: other["a"][k] for k in ("title", "job_title", "description_html",
                                                                        "job_percent_raw", "engagement_type_raw")}})
    with session_scope(engine) as session:
        store_batch(session, [changed], now=T0 + timedelta(hours=2))  # split off again
    assert_in_step(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM v_ads")).scalar_one() == 3


def test_downgrade_and_upgrade_again(db):
    config = alembic_config(db)
    command.downgrade(config, "0008")
    with db.connect() as connection:
        columns = list(connection.execute(text("SELECT * FROM ads WHERE 1 = 0")).keys())
        assert "posting_count" not in columns
        assert connection.execute(text("SELECT posting_count FROM v_ads WHERE ad_id = 1")).scalar_one() == 2
    add_posting(db, 40, 2)
    command.upgrade(config, "head")
    assert_in_step(db)


@pytest.fixture
def pg_engine(postgres_server):
    url, drop = fresh_postgres_database(postgres_server)
    engine = upgrade(get_engine(url))
    yield engine
    engine.dispose()
    drop()


def run_together(*threads: threading.Thread) -> None:
    """Start the threads (two concurrent transactions) and wait for both."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def two_ads_at_two_sources(engine):
    """Ads 1 and 2, each with a NAV posting (10, 11) and a Jobbnorge posting (21, 20)."""
    ensure_source(engine, "jobbnorge")
    for ad_id in (1, 2):
        add_ad(engine, ad_id)
    add_posting(engine, 10, 1, "nav")
    add_posting(engine, 11, 2, "nav")
    add_posting(engine, 20, 2, "jobbnorge")
    add_posting(engine, 21, 1, "jobbnorge")
    return engine


@pytest.mark.postgres
def test_concurrent_stores_of_the_same_ads_neither_deadlock_nor_lose_an_update(pg_engine):
    """Two transactions (a NAV and a Jobbnorge store) write postings of the same two ads in opposite orders: the
    second waits for the first, then recomputes from the postings as committed."""
    engine = two_ads_at_two_sources(pg_engine)
    first_wrote, errors = threading.Event(), []

    def nav() -> None:
        with engine.begin() as connection:
            connection.execute(text("UPDATE postings SET status = 'expired', closed_at = :t WHERE id IN (10, 11)"),
                               {"t": T0 + timedelta(days=1)})
            first_wrote.set()
            connection.execute(text("SELECT pg_sleep(0.5)"))

    def jobbnorge() -> None:
        first_wrote.wait(5)
        try:
            with engine.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '10s'"))
                connection.execute(text("UPDATE postings SET status = 'withdrawn', closed_at = :t"
                                        " WHERE id IN (20, 21)"), {"t": T0 + timedelta(days=2)})
        except Exception as exc:  # reported below, by the test's own assertion
            errors.append(exc)

    run_together(threading.Thread(target=nav), threading.Thread(target=jobbnorge))
    assert errors == []
    assert_in_step(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT status, closed_at FROM ads ORDER BY id")).all() == [
            ("expired", T0 + timedelta(days=2))] * 2


def test_autogenerate_sees_no_difference_from_the_models(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage import ad_summary, search_index
    from storage.models import Base

    def include(*args) -> bool:
        return search_index.include_object(*args) and ad_summary.include_object(*args)

    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"include_object": include}),
                                Base.metadata)
    assert [d for d in diff if any(name in repr(d) for name in ("ads", ad_summary.PENDING, "ix_postings_id_ad_id"))
            ] == []


@pytest.mark.postgres
def test_stores_writing_the_same_ads_in_opposite_orders_over_several_statements_do_not_deadlock(pg_engine):
    """Each transaction first writes a posting of ad 1 (NAV) or ad 2 (Jobbnorge), waits for the other, then one of
    the other ad: the summaries are locked at COMMIT in id order, so one waits for the other and none fails."""
    engine = two_ads_at_two_sources(pg_engine)
    both_wrote, errors = threading.Barrier(2, timeout=10), []

    def store(first: int, second: int, status: str, day: int) -> None:
        try:
            with engine.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '10s'"))
                update = text("UPDATE postings SET status = :s, closed_at = :t WHERE id = :id")
                connection.execute(update, {"s": status, "t": T0 + timedelta(days=day), "id": first})
                both_wrote.wait()
                connection.execute(update, {"s": status, "t": T0 + timedelta(days=day), "id": second})
        except Exception as exc:  # reported below, by the test's own assertion
            errors.append(exc)

    run_together(threading.Thread(target=store, args=(10, 11, "expired", 1)),
                 threading.Thread(target=store, args=(20, 21, "withdrawn", 2)))
    assert errors == []
    assert_in_step(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT status, closed_at FROM ads ORDER BY id")).all() == [
            ("expired", T0 + timedelta(days=2))] * 2
