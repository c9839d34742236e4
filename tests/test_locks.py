"""The crawl lock (storage/locks.py) on SQLite and PostgreSQL: one holder at a time, takeover of dead holders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from munijobs.constants import RunStatus
from storage.db import get_engine, session_scope, upgrade
from storage.locks import LockLost, acquire
from storage.models import CrawlLock
from storage.runs import get_run, start_run
from tests.conftest import fresh_postgres_database

FAKE_CRAWL = Path(__file__).parent / "fakes" / "fake_crawl.py"


def lease_row(engine, source="nav") -> CrawlLock | None:
    with session_scope(engine) as session:
        return session.scalars(select(CrawlLock).where(CrawlLock.source == source)).first()


def die(lease) -> None:
    """Simulate a holder that died: its PostgreSQL session ends or the kernel drops its file lock; the row stays."""
    if lease._pg_connection is not None:
        lease._pg_connection.invalidate()
        lease._pg_connection = None
    if lease._file_lock is not None:
        lease._file_lock.release()
        lease._file_lock = None


def test_one_holder_at_a_time(engine):
    first = acquire(engine, "nav", holder="host-a:1", ttl=timedelta(minutes=5))
    assert first is not None
    assert acquire(engine, "nav", holder="host-b:2") is None, "a live lease is not taken over"
    assert acquire(engine, "jobbnorge", holder="host-b:2") is not None, "other sources are not blocked"
    first.release()
    assert lease_row(engine) is None
    second = acquire(engine, "nav", holder="host-b:2")
    assert second is not None and second.taken_over_run is None
    second.release()


def test_concurrent_acquire_has_one_winner(engine):
    barrier = threading.Barrier(6)
    leases = []

    def contender(n: int) -> None:
        barrier.wait()
        leases.append(acquire(engine, "nav", holder=f"host:{n}"))

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [lease for lease in leases if lease is not None]
    assert len(winners) == 1
    assert lease_row(engine).holder == winners[0].holder
    winners[0].release()


def test_stale_lease_is_taken_over_and_its_run_failed(engine):
    dead = acquire(engine, "nav", holder="host-a:1", ttl=timedelta(seconds=-1))
    run_id = start_run(engine, "nav")
    dead.attach_run(run_id)
    die(dead)
    heir = acquire(engine, "nav", holder="host-b:2")
    assert heir is not None and heir.taken_over_run == run_id
    run = get_run(engine, run_id)
    assert run.status == RunStatus.FAILED and "taken over" in run.message
    assert lease_row(engine).holder == "host-b:2" and lease_row(engine).run_id is None
    assert not dead.renew(), "the dead holder learns it lost the lock"
    heir.release()


def test_renew_pushes_expiry(engine):
    lease = acquire(engine, "nav", holder="host-a:1", ttl=timedelta(seconds=30))
    before = lease_row(engine).expires_at
    lease.ttl = timedelta(hours=1)
    assert lease.renew()
    after = lease_row(engine).expires_at
    assert after - before > timedelta(minutes=50)
    assert after > datetime.now(UTC) + timedelta(minutes=59)
    lease.release()
    assert not lease.renew(), "a released lease cannot be renewed"


def test_killed_holder_process_frees_the_lock_at_once(database_url, tmp_path):
    """SIGKILL leaves the lease row, but a rerun starts right away: the kernel or the server freed the lock."""
    engine = upgrade(get_engine(database_url))
    env = {**os.environ, "DATABASE_URL": database_url, "FAKE_CRAWL_SECONDS": "60",
           "FAKE_CRAWL_LOG": str(tmp_path / "log"), "CRAWL_LOCK_TTL": "300"}
    holder = subprocess.Popen([sys.executable, str(FAKE_CRAWL), "nav"], env=env)
    try:
        deadline = time.monotonic() + 20
        while lease_row(engine) is None or lease_row(engine).run_id is None:
            assert time.monotonic() < deadline and holder.poll() is None, "the holder never took the lock"
            time.sleep(0.05)
        run_id = lease_row(engine).run_id
        assert acquire(engine, "nav") is None, "a live holder keeps the lock"
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert lease_row(engine).expires_at > datetime.now(UTC) + timedelta(minutes=4), "the lease has not expired"
        deadline = time.monotonic() + 10
        while (heir := acquire(engine, "nav")) is None:
            assert time.monotonic() < deadline, "the lock of a killed process was not freed"
            time.sleep(0.05)
        assert heir.taken_over_run == run_id
        run = get_run(engine, run_id)
        assert run.status == RunStatus.FAILED and "killed" in run.message
        heir.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_live_holder_on_another_host_keeps_its_lease(engine):
    """A file lock proves nothing about another host: its unexpired lease row is kept."""
    with session_scope(engine) as session:
        now = datetime.now(UTC)
        session.add(CrawlLock(source="nav", holder="elsewhere.example:42", run_id=None, acquired_at=now,
                              expires_at=now + timedelta(minutes=5)))
    lease = acquire(engine, "nav")
    if engine.dialect.name == "postgresql":
        assert lease is not None, "on PostgreSQL the free advisory lock proves the holder gone, wherever it ran"
        lease.release()
    else:
        assert lease is None
        assert lease_row(engine).holder == "elsewhere.example:42"


def terminate_sessions(url: str) -> None:
    """What a PostgreSQL restart does to a client: every session of the database ends (its advisory locks too)."""
    admin = create_engine(url, poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    admin.dispose()


@pytest.fixture
def pg_engine(postgres_server):
    """(url, upgraded engine) of a fresh PostgreSQL database."""
    url, drop = fresh_postgres_database(postgres_server)
    engine = upgrade(get_engine(url))
    yield url, engine
    engine.dispose()
    drop()


@pytest.mark.postgres
def test_after_a_server_restart_the_holder_retakes_its_lock(pg_engine):
    url, engine = pg_engine
    lease = acquire(engine, "nav", holder="host-a:1")
    terminate_sessions(url)
    with engine.connect() as connection:  # the next write reconnects: the lock is re-taken first
        connection.execute(text("SELECT 1"))
    assert not lease.lost
    assert acquire(engine, "nav", holder="host-b:2") is None, "the re-taken lock keeps a second crawl out"
    lease.release()


@pytest.mark.postgres
def test_after_a_server_restart_a_holder_whose_lock_was_taken_writes_nothing(pg_engine):
    url, engine = pg_engine
    first = acquire(engine, "nav", holder="host-a:1")
    terminate_sessions(url)
    other = create_engine(url, poolclass=NullPool)
    second = acquire(other, "nav", holder="host-b:2")
    assert second is not None, "after the restart the advisory lock was free"
    with pytest.raises(LockLost), engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert first.lost and not first.verify()
    assert lease_row(other).holder == "host-b:2"
    second.release()
    first.release()
    other.dispose()
