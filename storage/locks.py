"""One crawl of a source at a time, across processes and machines sharing the database.

Every database gets a lease row in `crawl_locks` (holder, run, expiry) that the holder renews while it crawls; a lease
left by a killed process expires and is taken over, and the run it belonged to is marked failed. On PostgreSQL a
session-level advisory lock is held as well, so the database itself releases it the moment the holder dies.
"""

from __future__ import annotations

import logging
import os
import socket
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.exc import DBAPIError

from storage.db import dialect_insert, session_scope
from storage.models import CrawlLock
from storage.runs import fail_run

logger = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(minutes=5)


def holder_id() -> str:
    """Who holds a lock: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def advisory_key(source: str) -> int:
    """A stable 31-bit key for pg_advisory_lock, derived from the source name."""
    return zlib.crc32(f"munijobs:{source}".encode()) & 0x7FFFFFFF


@dataclass
class CrawlLease:
    """A held lock; release it when the crawl ends."""

    engine: Engine
    source: str
    holder: str
    ttl: timedelta
    taken_over_run: int | None = None
    """The run of a dead holder whose lease this one took over (marked failed)."""
    _pg_connection: Connection | None = field(default=None, repr=False)

    def renew(self) -> bool:
        """Push the expiry forward; False when the lease was lost (someone took it over)."""
        now = datetime.now(UTC)
        with session_scope(self.engine) as session:
            result = session.execute(update(CrawlLock).where(
                CrawlLock.source == self.source, CrawlLock.holder == self.holder).values(expires_at=now + self.ttl))
            return result.rowcount == 1

    def attach_run(self, run_id: int) -> None:
        with session_scope(self.engine) as session:
            session.execute(update(CrawlLock).where(
                CrawlLock.source == self.source, CrawlLock.holder == self.holder).values(run_id=run_id))

    def release(self) -> None:
        """Drop the lease row and the advisory lock; a lost database connection is logged, never raised."""
        try:
            with session_scope(self.engine) as session:
                session.execute(CrawlLock.__table__.delete().where(
                    CrawlLock.source == self.source, CrawlLock.holder == self.holder))
        except DBAPIError as exc:
            logger.error("%s: could not drop the lease row (it expires by itself): %s", self.source, exc)
        if self._pg_connection is not None:
            _close_advisory(self._pg_connection, self.source)
            self._pg_connection = None


def _close_advisory(connection: Connection, source: str) -> None:
    """Unlock and close the connection that holds the advisory lock (closing alone would return it to the pool)."""
    try:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(source)})
        connection.commit()
    except DBAPIError as exc:
        logger.warning("%s: advisory unlock failed (%s); invalidating the connection releases it", source, exc)
        connection.invalidate()
    finally:
        connection.close()


def acquire(engine: Engine, source: str, ttl: timedelta = DEFAULT_TTL, holder: str | None = None) -> CrawlLease | None:
    """Take the crawl lock of a source, or return None when a live holder has it."""
    holder = holder or holder_id()
    pg_connection = None
    if engine.dialect.name == "postgresql":
        pg_connection = engine.connect()
        got = pg_connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(source)}).scalar()
        pg_connection.commit()
        if not got:
            pg_connection.close()
            return None
    try:
        lease = _take_lease(engine, source, holder, ttl, force=pg_connection is not None)
    except BaseException:
        if pg_connection is not None:
            _close_advisory(pg_connection, source)
        raise
    if lease is None:
        if pg_connection is not None:
            _close_advisory(pg_connection, source)
        return None
    lease._pg_connection = pg_connection
    if lease.taken_over_run is not None:
        fail_run(engine, lease.taken_over_run, "crawl process died: its lock expired and was taken over")
        logger.warning("%s: took over the expired lock of run %s (marked failed)", source, lease.taken_over_run)
    return lease


def _take_lease(engine: Engine, source: str, holder: str, ttl: timedelta, force: bool) -> CrawlLease | None:
    """Insert the lease row, or take over an expired one (or any, when the advisory lock proves the holder dead)."""
    now = datetime.now(UTC)
    values = {"source": source, "holder": holder, "run_id": None, "acquired_at": now, "expires_at": now + ttl}
    with session_scope(engine) as session:
        inserted = session.execute(dialect_insert(session)(CrawlLock).values(values).on_conflict_do_nothing())
        if inserted.rowcount == 1:
            return CrawlLease(engine, source, holder, ttl)
        previous = session.execute(select(CrawlLock.holder, CrawlLock.run_id).where(CrawlLock.source == source)).first()
        condition = [CrawlLock.source == source]
        if not force:
            condition.append(CrawlLock.expires_at < now)
        taken = session.execute(update(CrawlLock).where(*condition).values(values))
        if taken.rowcount != 1:
            return None
        run = previous.run_id if previous and previous.holder != holder else None
        return CrawlLease(engine, source, holder, ttl, taken_over_run=run)



