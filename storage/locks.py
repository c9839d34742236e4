"""One crawl of a source at a time (and one maintenance pass), across processes and machines sharing the database.

Every lock has a lease row in `crawl_locks` (holder, run, expiry) that the holder renews while it works. Beside it the
operating system or the database holds a lock that dies with its holder, so a rerun right after a SIGKILL starts at
once:

* PostgreSQL: a session-level advisory lock on a connection of its own. When the server restarts, that session ends
  and the lock is free; the holder notices on its next new connection (or heartbeat), re-takes the lock, or loses it
  and writes nothing more.
* SQLite: an exclusive `flock` on a file beside the database (``<database>.<name>.lock``, kept between runs), which
  the kernel releases with the process. A lease row of a holder on another host is kept until it expires (a shared
  file system need not pass such locks between hosts).

A lease left by a dead holder is taken over, and the run it belonged to is closed as failed ("killed").
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache

from filelock import FileLock
from sqlalchemy import Connection, Engine, create_engine, event, or_, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from storage.db import advisory_key, dialect_insert, file_lock, session_scope, sqlite_lock_file
from storage.models import CrawlLock
from storage.runs import fail_run

logger = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(minutes=5)
MAINTENANCE = "_maintenance"
"""Lock name of `munijobs maintenance` and `munijobs renormalise`: they rewrite postings, one pass at a time."""
MAINTENANCE_TTL = timedelta(hours=6)
"""Lease of a maintenance pass, which renews nothing (the OS or advisory lock is what keeps a second one out)."""
KILLED = "the crawl process ({holder}) was killed or died before it recorded its outcome; its lock was taken over"


class Held(RuntimeError):
    """Another live process holds the lock."""


class LockLost(RuntimeError):
    """The holder lost its lock (e.g. PostgreSQL restarted and another process took it): it must not write."""


def holder_id() -> str:
    """Who holds a lock: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@cache
def _lock_engine(url: str) -> Engine:
    """Connections that hold advisory locks: not pooled, so a closed one is really gone (and its locks with it)."""
    return create_engine(url, poolclass=NullPool)


@dataclass
class CrawlLease:
    """A held lock; release it when the work ends."""

    engine: Engine
    source: str
    holder: str
    ttl: timedelta
    taken_over_run: int | None = None
    """The run of a dead holder whose lease this one took over (marked failed)."""
    taken_over_holder: str | None = None
    lost: bool = False
    """True once the lock is known lost: the holder must stop before it writes again."""
    _pg_connection: Connection | None = field(default=None, repr=False)
    _file_lock: FileLock | None = field(default=None, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def renew(self) -> bool:
        """Push the expiry forward; False when the lease was lost (someone took it over)."""
        now = datetime.now(UTC)
        with session_scope(self.engine) as session:
            result = session.execute(update(CrawlLock).where(
                CrawlLock.source == self.source, CrawlLock.holder == self.holder).values(expires_at=now + self.ttl))
            return result.rowcount == 1

    def verify(self) -> bool:
        """PostgreSQL: check the session holding the advisory lock; when it is gone (server restart) re-take the lock,
        or mark the lease lost. Always True on SQLite, where the kernel holds the lock for the life of the process."""
        if self._pg_connection is None:
            return not self.lost
        with self._guard:
            if self.lost:
                return False
            try:
                self._pg_connection.execute(text("SELECT 1"))
                self._pg_connection.commit()
                return True
            except DBAPIError:
                self._pg_connection.invalidate()
                self._pg_connection.close()
            connection = _lock_engine(_url(self.engine)).connect()
            got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(self.source)}).scalar()
            holder = connection.execute(select(CrawlLock.holder).where(CrawlLock.source == self.source)).scalar()
            connection.commit()
            if got and holder == self.holder:
                self._pg_connection = connection
                logger.warning("%s: the database session holding the lock ended (server restart?); lock re-taken",
                               self.source)
                return True
            _close_advisory(connection, self.source)
            self._pg_connection = None
            self.lost = True
            logger.error("%s: the database session holding the lock ended and %s has it now: stopping",
                         self.source, holder or "another process")
            return False

    def _on_connect(self, _dbapi_connection, _record) -> None:
        """A new database connection (after a restart, say): the lock must still be ours before anything is written."""
        if not self.verify():
            raise LockLost(f"lost the {self.source} lock to another process: not writing")

    def attach_run(self, run_id: int) -> None:
        with session_scope(self.engine) as session:
            session.execute(update(CrawlLock).where(
                CrawlLock.source == self.source, CrawlLock.holder == self.holder).values(run_id=run_id))

    def release(self) -> None:
        """Drop the lease row and the advisory or file lock; a lost database connection is logged, never raised."""
        if event.contains(self.engine, "connect", self._on_connect):
            event.remove(self.engine, "connect", self._on_connect)
        try:
            with session_scope(self.engine) as session:
                session.execute(CrawlLock.__table__.delete().where(
                    CrawlLock.source == self.source, CrawlLock.holder == self.holder))
        except DBAPIError as exc:
            logger.error("%s: could not drop the lease row (it expires by itself): %s", self.source, exc)
        if self._pg_connection is not None:
            _close_advisory(self._pg_connection, self.source)
            self._pg_connection = None
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _close_advisory(connection: Connection, source: str) -> None:
    """Unlock and close the connection that holds the advisory lock."""
    try:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(source)})
        connection.commit()
    except DBAPIError as exc:
        logger.warning("%s: advisory unlock failed (%s); invalidating the connection releases it", source, exc)
        connection.invalidate()
    finally:
        connection.close()


def _os_lock(engine: Engine, source: str) -> tuple[bool, Connection | None, FileLock | None]:
    """(free, advisory connection, file lock): the lock that dies with its holder, taken when free."""
    if engine.dialect.name == "postgresql":
        connection = _lock_engine(_url(engine)).connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(source)}).scalar()
        connection.commit()
        if not got:
            connection.close()
            return False, None, None
        return True, connection, None
    path = sqlite_lock_file(engine, source)
    if path is None:
        return True, None, None
    try:
        lock = file_lock(path)
    except OSError as exc:  # read-only directory or no flock here: the lease row alone decides
        logger.warning("%s: no lock file %s (%s): relying on the lease row", source, path, exc)
        return True, None, None
    return lock is not None, None, lock


def acquire(engine: Engine, source: str, ttl: timedelta = DEFAULT_TTL, holder: str | None = None) -> CrawlLease | None:
    """Take the lock of a source (or of MAINTENANCE), or return None when a live holder has it."""
    holder = holder or holder_id()
    free, pg_connection, lock = _os_lock(engine, source)
    if not free:
        return None

    def let_go() -> None:
        if pg_connection is not None:
            _close_advisory(pg_connection, source)
        if lock is not None:
            lock.release()

    try:
        lease = _take_lease(engine, source, holder, ttl, proven_dead=pg_connection is not None or lock is not None,
                            any_host=pg_connection is not None)
    except BaseException:
        let_go()
        raise
    if lease is None:
        let_go()
        return None
    lease._pg_connection, lease._file_lock = pg_connection, lock
    if pg_connection is not None:
        event.listen(engine, "connect", lease._on_connect)
    if lease.taken_over_run is not None:
        fail_run(engine, lease.taken_over_run, KILLED.format(holder=lease.taken_over_holder))
        logger.warning("%s: took over the lock of run %s, whose process is gone (marked failed)", source,
                       lease.taken_over_run)
    return lease


def _take_lease(engine: Engine, source: str, holder: str, ttl: timedelta, proven_dead: bool,
                any_host: bool) -> CrawlLease | None:
    """Insert the lease row, or take over an expired one, or one whose holder the OS lock proves dead.

    The advisory lock proves it for holders anywhere (`any_host`); a file lock only for holders on this host.
    """
    now = datetime.now(UTC)
    values = {"source": source, "holder": holder, "run_id": None, "acquired_at": now, "expires_at": now + ttl}
    with session_scope(engine) as session:
        inserted = session.execute(dialect_insert(session)(CrawlLock).values(values).on_conflict_do_nothing())
        if inserted.rowcount == 1:
            return CrawlLease(engine, source, holder, ttl)
        previous = session.execute(select(CrawlLock.holder, CrawlLock.run_id).where(CrawlLock.source == source)).first()
        condition = [CrawlLock.source == source]
        if not any_host:
            dead = [CrawlLock.expires_at < now]
            if proven_dead:
                dead.append(CrawlLock.holder.startswith(f"{socket.gethostname()}:", autoescape=True))
            condition.append(or_(*dead))
        taken = session.execute(update(CrawlLock).where(*condition).values(values))
        if taken.rowcount != 1:
            return None
        run = previous.run_id if previous and previous.holder != holder else None
        return CrawlLease(engine, source, holder, ttl, taken_over_run=run,
                          taken_over_holder=previous.holder if previous else None)


@contextmanager
def holding(engine: Engine, name: str, ttl: timedelta = MAINTENANCE_TTL) -> Iterator[CrawlLease]:
    """Hold the lock `name` for the block; raises Held at once when another process has it."""
    lease = acquire(engine, name, ttl=ttl)
    if lease is None:
        raise Held(f"{name.strip('_')} is already running in another process")
    try:
        yield lease
    finally:
        lease.release()
