"""The upsert path on SQLite and PostgreSQL: idempotent, history only on change, atomic batches, status events."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text

from munijobs.constants import PostingStatus
from munijobs.items import JobPosting, WorkLocation
from storage.db import session_scope
from storage.models import Ad, Posting, PostingChange, PostingRaw
from storage.models import WorkLocation as WorkLocationRow
from storage.postings import source_versions, store_batch, stored_expiry

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def posting(ad_id: str, **changes) -> JobPosting:
    values = dict(
        source="nav", source_ad_id=ad_id, title=f"Sykepleier {ad_id}", employer_name="Trondheim kommune",
        employer_orgnr="974350347", url=f"https://example.no/ad/{ad_id}", description_html="<p>Hei</p>",
        description_text="Hei", deadline_raw="15.01.2027", deadline_date=date(2027, 1, 15), deadline_kind="date",
        engagement_type="permanent", job_percent_min=80.0, job_percent_max=100.0, positions=2,
        municipality_code="5001", county_code="50", published_at=T0, source_modified_at=T0,
        expires_at=datetime(2027, 1, 15, tzinfo=UTC),
        work_locations=[WorkLocation(municipality="TRONDHEIM", postal_code="7004", municipality_code="5001",
                                     county_code="50")],
    )
    values.update(changes)
    return JobPosting(**values)


def store(engine, items, now):
    with session_scope(engine) as session:
        return store_batch(session, items, run_id=None, now=now)


def count(engine, model) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar()


def snapshot(engine) -> dict:
    """Every content-bearing table, without the seen markers a re-crawl is allowed to move."""
    with engine.connect() as connection:
        postings = [tuple(r) for r in connection.execute(
            select(Posting).order_by(Posting.id)).mappings().all()
            for r in [{k: v for k, v in r.items() if k not in ("last_seen_at", "last_run_id")}]]
        return {
            "postings": postings,
            "changes": connection.execute(select(func.count()).select_from(PostingChange)).scalar(),
            "ads": connection.execute(select(Ad.id, Ad.primary_posting_id).order_by(Ad.id)).all(),
            "locations": connection.execute(select(WorkLocationRow).order_by(WorkLocationRow.id)).all(),
            "raw": connection.execute(select(PostingRaw.posting_id, PostingRaw.description_html)).all(),
        }


def test_new_postings_become_ads(engine):
    result = store(engine, [posting("a"), posting("b")], T0)
    assert (result.new, result.updated, result.unchanged) == (2, 0, 0)
    assert count(engine, Posting) == 2
    assert count(engine, Ad) == 2
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT ad_id, title, municipality_name, county_name, sources, posting_count,"
                                       " status FROM v_ads ORDER BY title")).all()
    assert [tuple(r)[1:] for r in rows] == [
        ("Sykepleier a", "Trondheim - Tråante", "Trøndelag - Trööndelage", "nav", 1, "active"),
        ("Sykepleier b", "Trondheim - Tråante", "Trøndelag - Trööndelage", "nav", 1, "active"),
    ]


def test_re_upsert_of_same_items_changes_nothing(engine):
    store(engine, [posting("a"), posting("b")], T0)
    before = snapshot(engine)
    result = store(engine, [posting("a"), posting("b")], T1)
    assert (result.new, result.updated, result.unchanged) == (0, 0, 2)
    assert snapshot(engine) == before
    with engine.connect() as connection:
        seen = connection.execute(select(Posting.first_seen_at, Posting.last_seen_at)).all()
    assert all(first == T0 and last == T1 for first, last in seen)


def test_a_change_writes_one_history_row_per_changed_field(engine):
    store(engine, [posting("a")], T0)
    result = store(engine, [posting("a", title="Sykepleier natt", job_percent_max=80.0, source_modified_at=T1)], T1)
    assert result.updated == 1
    with engine.connect() as connection:
        history = connection.execute(text(
            "SELECT field, old_value, new_value, changed_at FROM v_ad_history ORDER BY field")).all()
    assert [tuple(h[:3]) for h in history] == [("job_percent_max", "100", "80"), ("title", "Sykepleier a",
                                                                                "Sykepleier natt")]
    assert count(engine, Posting) == 1
    assert source_versions(engine, "nav", ["a", "zzz"]) == {"a": T1}


def test_location_change_is_history_and_replaces_locations(engine):
    store(engine, [posting("a")], T0)
    moved = [WorkLocation(municipality="OSLO", municipality_code="0301", county_code="03")]
    store(engine, [posting("a", work_locations=moved, municipality_code="0301", county_code="03")], T1)
    with engine.connect() as connection:
        fields = {r[0] for r in connection.execute(text("SELECT field FROM v_ad_history"))}
        locations = connection.execute(select(WorkLocationRow.municipality)).scalars().all()
    assert fields == {"work_locations", "municipality_code", "county_code"}
    assert locations == ["OSLO"]


def test_an_update_writes_what_differs_and_keeps_what_does_not(engine):
    store(engine, [posting("a"), posting("b")], T0)
    with engine.connect() as connection:
        locations_before = connection.execute(select(WorkLocationRow.id, WorkLocationRow.posting_id)
                                              .order_by(WorkLocationRow.id)).all()
    result = store(engine, [posting("a", title="Sykepleier natt", positions=3), posting("b")], T1)
    assert (result.updated, result.unchanged) == (1, 1)
    with engine.connect() as connection:
        a = connection.execute(select(Posting).where(Posting.source_ad_id == "a")).one()
        history = connection.execute(text("SELECT field, old_value, new_value FROM v_ad_history ORDER BY field")).all()
        locations_after = connection.execute(select(WorkLocationRow.id, WorkLocationRow.posting_id)
                                             .order_by(WorkLocationRow.id)).all()
    assert (a.title, a.positions, a.employer_name, a.municipality_code) == ("Sykepleier natt", 3,
                                                                            "Trondheim kommune", "5001")
    assert (a.first_seen_at, a.last_seen_at) == (T0, T1)
    assert [tuple(r) for r in history] == [("positions", "2", "3"), ("title", "Sykepleier a", "Sykepleier natt")]
    assert locations_after == locations_before
    assert store(engine, [posting("a", title="Sykepleier natt", positions=3)], T1).unchanged == 1


def test_duplicate_keys_in_one_batch_keep_the_last(engine):
    result = store(engine, [posting("a", title="first"), posting("a", title="second")], T0)
    assert result.new == 1
    with engine.connect() as connection:
        assert connection.execute(select(Posting.title)).scalar() == "second"


def test_status_event_closes_and_keeps_content(engine):
    store(engine, [posting("a")], T0)
    event = JobPosting(source="nav", source_ad_id="a", status=PostingStatus.WITHDRAWN, has_content=False,
                       closed_at=T1)
    unknown = JobPosting(source="nav", source_ad_id="never-stored", status=PostingStatus.EXPIRED, has_content=False)
    result = store(engine, [event, unknown], T1)
    assert (result.closed, result.ignored_events) == (1, 1)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT status, closed_at, title, description_text FROM v_ads")).one()
        history = connection.execute(text("SELECT field, old_value, new_value FROM v_ad_history ORDER BY field")).all()
    assert row.status == "withdrawn" and row.title == "Sykepleier a" and row.description_text == "Hei"
    assert row.closed_at is not None
    assert [tuple(h) for h in history] == [("closed_at", None, T1.isoformat()), ("status", "active", "withdrawn")]
    assert count(engine, Posting) == 1
    assert stored_expiry(engine, "nav", ["a"]) == {"a": datetime(2027, 1, 15, tzinfo=UTC)}


def test_a_crash_in_the_middle_of_a_batch_leaves_the_previous_state(engine, monkeypatch):
    store(engine, [posting("a")], T0)
    before = snapshot(engine)

    import storage.postings as postings_module

    def crash(*_args, **_kwargs):
        raise RuntimeError("simulated crash after the postings were written")

    monkeypatch.setattr(postings_module, "_create_ads", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        store(engine, [posting("a", title="changed"), posting("b")], T1)
    assert snapshot(engine) == before
    assert count(engine, Posting) == 1


def test_views_return_the_documented_columns(engine):
    expected = {
        "v_ads": ["ad_id", "title", "employer_name", "employer_orgnr", "employer_parent_orgnr", "employer_org_form",
                  "municipality_code", "municipality_name", "county_code", "county_name", "occupation_code",
                  "occupation_name", "engagement_type", "extent", "job_percent_min", "job_percent_max", "positions",
                  "published_at", "deadline_date", "deadline_kind", "deadline_text", "start_date", "start_text",
                  "status", "first_seen_at", "last_seen_at", "closed_at", "url", "application_url",
                  "description_text", "language", "sources", "posting_count"],
        "v_postings": ["ad_id", "source", "source_ad_id", "url", "status", "first_seen_at", "last_seen_at"],
        "v_ad_history": ["ad_id", "changed_at", "field", "old_value", "new_value"],
        "v_crawl_runs": ["run_id", "source", "started_at", "finished_at", "status", "items_seen", "items_new",
                         "items_updated", "items_closed", "errors"],
    }
    store(engine, [posting("a")], T0)
    for view, columns in expected.items():
        with engine.connect() as connection:
            keys = list(connection.execute(text(f"SELECT * FROM {view}")).keys())
        assert keys[: len(columns)] == columns, view


def test_a_closed_posting_keeps_its_first_closing_status(engine):
    store(engine, [posting("a")], T0)
    store(engine, [JobPosting(source="nav", source_ad_id="a", status=PostingStatus.EXPIRED, has_content=False,
                              closed_at=T0)], T0)
    later = JobPosting(source="nav", source_ad_id="a", status=PostingStatus.WITHDRAWN, has_content=False, closed_at=T1)
    result = store(engine, [later], T1)
    assert (result.closed, result.unchanged) == (0, 1)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT status FROM v_ads")).scalar() == "expired"
        assert connection.execute(text("SELECT COUNT(*) FROM v_ad_history WHERE field = 'status'")).scalar() == 1


def test_a_new_change_marker_alone_is_no_update(engine):
    store(engine, [posting("a")], T0)
    result = store(engine, [posting("a", source_modified_at=T1)], T1)
    assert (result.updated, result.unchanged) == (0, 1)
    assert source_versions(engine, "nav", ["a"]) == {"a": T1}
    assert count(engine, PostingChange) == 0
