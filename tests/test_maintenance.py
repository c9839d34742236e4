"""Daily maintenance (storage/maintenance.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from munijobs.constants import PostingStatus, RunStatus
from spiders._brreg import BrregUnavailable, refresh_stale_units
from storage.db import session_scope
from storage.locks import MAINTENANCE, Held, holding
from storage.maintenance import run_maintenance
from storage.models import Alert, CrawlRun, Employer, Posting, PostingChange

NOW = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
"""00:30 on 11 March in Norway: a deadline of 10 March has passed there."""


def posting(ad_id: str, **values) -> Posting:
    seen = NOW - timedelta(days=3)
    return Posting(source="nav", source_ad_id=ad_id, status=values.pop("status", PostingStatus.ACTIVE),
                   first_seen_at=seen, last_seen_at=seen, title=ad_id, **values)


def test_maintenance_expires_refreshes_and_prunes(engine):
    with session_scope(engine) as session:
        session.add_all([
            posting("deadline-passed", deadline_kind="date", deadline_date=date(2026, 3, 10)),
            posting("expired", expires_at=NOW - timedelta(hours=2), deadline_kind="asap"),
            posting("deadline-ahead", deadline_kind="date", deadline_date=date(2026, 3, 11),
                    expires_at=NOW + timedelta(days=1)),
            posting("withdrawn", status=PostingStatus.WITHDRAWN, deadline_kind="date", deadline_date=date(2026, 1, 1)),
            posting("rolling", deadline_kind="rolling"),
            Employer(orgnr="900000001", name="Old", fetched_at=datetime.now(UTC) - timedelta(days=31)),
            Employer(orgnr="900000003", name="Old, register down", fetched_at=datetime.now(UTC) - timedelta(days=40)),
            Employer(orgnr="900000002", name="Fresh", fetched_at=datetime.now(UTC) - timedelta(days=29)),
        ])
        old = NOW - timedelta(days=100)
        session.add_all([
            CrawlRun(source="nav", started_at=old, finished_at=old, status=RunStatus.OK),
            CrawlRun(source="nav", started_at=old, status=RunStatus.RUNNING),
            CrawlRun(source="nav", started_at=NOW - timedelta(days=1), finished_at=NOW, status=RunStatus.OK),
            CrawlRun(source="jobbnorge", started_at=old, finished_at=old, status=RunStatus.FAILED),
            Alert(source="nav", rule="failing", message="old, resolved", created_at=old, resolved_at=old),
            Alert(source="nav", rule="no_items", message="old, still open", created_at=old),
            Alert(source="nav", rule="few_items", message="recent", created_at=NOW, resolved_at=NOW),
        ])

    asked: list[str] = []

    async def brreg(url: str):
        asked.append(url)
        if url.endswith("900000003"):
            raise BrregUnavailable("register down")
        return 200, {"organisasjonsnummer": "900000001", "navn": "NEW NAME", "organisasjonsform": {"kode": "KOMM"}}

    def refresh():
        return refresh_stale_units(engine, "http://127.0.0.1:9/brreg", "munijobs-test", fetch=brreg)

    result = run_maintenance(engine, now=NOW, refresh_employers=refresh)

    assert (result.expired, result.employers_refreshed, result.employers_failed) == (2, 1, 1)
    assert (result.runs_pruned, result.alerts_pruned) == (1, 1)
    assert asked == ["http://127.0.0.1:9/brreg/enheter/900000001", "http://127.0.0.1:9/brreg/enheter/900000003"]
    with session_scope(engine) as session:
        postings = {p.source_ad_id: p for p in session.scalars(select(Posting))}
        assert {k for k, p in postings.items() if p.status == PostingStatus.EXPIRED} == {"deadline-passed", "expired"}
        assert postings["deadline-passed"].closed_at == NOW
        assert postings["expired"].closed_at == NOW - timedelta(hours=2)
        assert postings["withdrawn"].status == PostingStatus.WITHDRAWN and postings["withdrawn"].closed_at is None
        changes = {(c.posting_id, c.field): (c.old_value, c.new_value) for c in session.scalars(select(PostingChange))}
        assert changes[(postings["expired"].id, "status")] == ("active", "expired")
        assert changes[(postings["expired"].id, "closed_at")] == (None, (NOW - timedelta(hours=2)).isoformat())
        assert len(changes) == 4
        employers = {e.orgnr: e for e in session.scalars(select(Employer))}
        assert set(employers) == {"900000001", "900000002", "900000003"}, "employer entries are never lost"
        assert (employers["900000001"].name, employers["900000001"].org_form) == ("NEW NAME", "KOMM")
        assert employers["900000003"].name == "Old, register down"
        runs = session.execute(select(CrawlRun.source, CrawlRun.status)).all()
        assert sorted(runs) == [("jobbnorge", "failed"), ("nav", "ok"), ("nav", "running")], \
            "recent, running and each source's latest run stay"
        assert {a.message for a in session.scalars(select(Alert))} == {"old, still open", "recent"}

    asked.clear()
    again = run_maintenance(engine, now=NOW, refresh_employers=refresh)
    assert (again.expired, again.employers_refreshed, again.runs_pruned, again.alerts_pruned) == (0, 0, 0, 0)
    assert again.employers_failed == 1 and asked == ["http://127.0.0.1:9/brreg/enheter/900000003"]
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(PostingChange)) == 4
        assert session.scalar(select(func.count()).select_from(Posting)) == 5, "ad data is never deleted"


def test_two_maintenance_passes_at_once_expire_each_posting_once(engine):
    """The daily job plus a manual run: the second finds the lock held; one history row per expired posting."""
    with session_scope(engine) as session:
        session.add(posting("deadline-passed", deadline_kind="date", deadline_date=date(2026, 3, 10)))
    started, release = threading.Event(), threading.Event()
    outcomes = []

    def slow_refresh():
        started.set()
        release.wait(10)
        return 0, 0

    first = threading.Thread(target=lambda: outcomes.append(run_maintenance(engine, NOW, slow_refresh)))
    first.start()
    assert started.wait(10)
    with pytest.raises(Held):
        run_maintenance(engine, NOW)
    release.set()
    first.join()
    assert outcomes[0].expired == 1
    with session_scope(engine) as session:
        changes = session.scalar(select(func.count()).select_from(PostingChange).where(PostingChange.field == "status"))
    assert changes == 1


@pytest.mark.parametrize("command", [["maintenance"], ["renormalise"]])
def test_maintenance_and_renormalise_exit_3_while_the_lock_is_held(engine, database_url, tmp_path, command):
    with holding(engine, MAINTENANCE):
        result = subprocess.run([sys.executable, "-m", "munijobs", *command], cwd=tmp_path, capture_output=True,
                                text=True, timeout=120, env={**os.environ, "DATABASE_URL": database_url})
    assert result.returncode == 3, result.stderr
    assert "already running" in result.stderr and "Traceback" not in result.stderr
