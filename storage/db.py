"""Engine creation, schema upgrades and reference data. Knows nothing of Scrapy.

``DATABASE_URL`` unset means ``sqlite:///munijobs.db`` (WAL mode, foreign keys on, a busy timeout);
PostgreSQL is ``postgresql+psycopg://user@host/db``.
"""

from __future__ import annotations

import os
import re
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from filelock import FileLock, Timeout
from sqlalchemy import URL, Engine, create_engine, event, func, make_url, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from munijobs import codes
from storage.models import County, Municipality, Occupation, Source

DEFAULT_DATABASE_URL = "sqlite:///munijobs.db"
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000

SOURCES = {
    "nav": ("NAV pam-stilling-feed (arbeidsplassen.nav.no)", "https://pam-stilling-feed.nav.no"),
    "jobbnorge": ("Jobbnorge public API", "https://publicapi.jobbnorge.no"),
}
"""Known sources: spider name -> (title, default base URL)."""


def database_url(url: str | None = None) -> str:
    """The database URL to use: the argument, else DATABASE_URL, else the SQLite default."""
    return url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


class UnsupportedDatabase(ValueError):
    """DATABASE_URL names a database munijobs does not support."""


IN_USE: list[str] = []
"""The URL (password hidden) of the database this process opened last, for error messages."""


class DatabaseMissing(ValueError):
    """A reading command was pointed at a SQLite file that does not exist (a mistyped path, say)."""


def parse_database_url(url: str | None = None) -> URL:
    """The parsed DATABASE_URL; UnsupportedDatabase (one line, with a hint) when it is not a database URL."""
    text = database_url(url)
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError):
        hint = f"for a SQLite file write sqlite:///{text}" if "://" not in text else \
            "write sqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
        raise UnsupportedDatabase(f"DATABASE_URL {_hidden(text)!r} is not a database URL: {hint}") from None
    if parsed.drivername in ("postgres", "postgres+psycopg"):
        raise UnsupportedDatabase(f"unsupported DATABASE_URL {parsed.render_as_string(hide_password=True)!r}: "
                                  "PostgreSQL URLs start with postgresql:// or postgresql+psycopg://")
    return parsed


def _hidden(text: str) -> str:
    """An unparsable URL as it may be shown: the part between '://' and '@' (a password, maybe) masked."""
    scheme, sep, rest = text.partition("://")
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}" if sep and "@" in rest else text


def get_engine(url: str | None = None) -> Engine:
    """One engine per database URL for the life of the process (None: DATABASE_URL as it is now, or the default).

    `postgresql://` URLs use the psycopg (3) driver; anything but SQLite and PostgreSQL is refused.
    """
    parsed = parse_database_url(url)
    IN_USE[:] = [parsed.render_as_string(hide_password=True)]
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise UnsupportedDatabase(f"unsupported DATABASE_URL {parsed.render_as_string(hide_password=True)!r}: "
                                  "use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB")
    return _engine(parsed.render_as_string(hide_password=False))


def sqlite_file(engine: Engine) -> Path | None:
    """The file of a SQLite database (also of a `file:` URI, as the read-only engine has); None for PostgreSQL and
    in-memory databases."""
    from urllib.parse import unquote

    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if database and database.startswith("file:"):
        database = unquote(database.removeprefix("file:").partition("?")[0])
    if not database or database == ":memory:":
        return None
    return Path(database)


def _read_only(path: Path) -> bool:
    """True when this process should not (or cannot) write the database file or the WAL files beside it."""
    stat = path.stat()
    return not (stat.st_mode & 0o222) or not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK)


def reading_engine(url: str | None = None) -> Engine:
    """The engine of a reading command: refuses a SQLite file that does not exist (DatabaseMissing) instead of
    creating an empty one, and opens a file it may not write read-only (mode=ro, no WAL writes, no upgrade)."""
    engine = get_engine(url)
    path = sqlite_file(engine)
    if path is None:
        return ensure_schema(engine)
    if not path.is_file():
        raise DatabaseMissing(f"no database at {path}: run `munijobs crawl` or `munijobs db upgrade` first")
    if not _read_only(path):
        return ensure_schema(engine)
    return _read_only_engine(str(path.resolve()))


@cache
def _read_only_engine(path: str) -> Engine:
    from urllib.parse import quote

    engine = create_engine(f"sqlite:///file:{quote(path)}?mode=ro&uri=true")
    event.listen(engine, "connect", _read_only_pragmas)
    return engine


def _read_only_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


@cache
def _engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commits on success, rolls back on error, always closes."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


UPSERT_CHUNK = 500
"""Rows per INSERT statement (keeps SQLite under its limit of bound variables)."""


def dialect_insert(session: Session):
    """The `insert` of the session's dialect, which has on_conflict_do_update/_do_nothing (SQLite, PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    module = {"sqlite": sqlite, "postgresql": postgresql}.get(dialect)
    if module is None:
        raise UnsupportedDatabase(f"unsupported database dialect {dialect!r}: use SQLite or PostgreSQL")
    return module.insert


def upsert(session: Session, model: type, rows: Sequence[dict[str, Any]], keys: tuple[str, ...]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE of many rows, in chunks; every other given column is overwritten."""
    insert = dialect_insert(session)
    for start in range(0, len(rows), UPSERT_CHUNK):
        statement = insert(model).values(list(rows[start : start + UPSERT_CHUNK]))
        updates = {column: statement.excluded[column] for column in rows[0] if column not in keys}
        session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=updates))


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


MIGRATION_WAIT_SECONDS = 300.0
"""How long a command waits for another process that is upgrading the same database."""


class MigrationLocked(RuntimeError):
    """Another process has been upgrading the database for longer than MIGRATION_WAIT_SECONDS."""


def advisory_key(name: str) -> int:
    """A stable 31-bit key for pg_advisory_lock, derived from a lock name."""
    return zlib.crc32(f"munijobs:{name}".encode()) & 0x7FFFFFFF


def sqlite_lock_file(engine: Engine, name: str) -> Path | None:
    """The lock file of `name` beside a SQLite database file; None for PostgreSQL and in-memory databases."""
    database = sqlite_file(engine)
    if database is None:
        return None
    path = database.resolve()
    return path.with_name(f"{path.name}.{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.lock")


def file_lock(path: Path, timeout: float = 0) -> FileLock | None:
    """An exclusive flock on `path` (the kernel drops it with the process), waiting up to `timeout` seconds; None when
    another holder kept it. Raises OSError when the lock file cannot be made (read-only directory, no flock)."""
    if not path.parent.is_dir():  # FileLock would create the directories of a mistyped database path
        raise FileNotFoundError(f"no directory {path.parent}")
    lock = FileLock(path, timeout=timeout, thread_local=False, fallback_to_soft=False, preserve_lock_file=True)
    try:
        lock.acquire()
    except Timeout:
        return None
    return lock


@contextmanager
def migration_lock(engine: Engine, wait: float = MIGRATION_WAIT_SECONDS) -> Iterator[None]:
    """Serialise schema upgrades of one database: an advisory lock on PostgreSQL, a file lock on SQLite.

    The loser waits, then finds the schema upgraded; after `wait` seconds it raises MigrationLocked.
    """
    locked = MigrationLocked(f"another process has been upgrading the database for over {wait:g} s")
    if engine.dialect.name == "postgresql":
        key = advisory_key("_migrations")
        with engine.connect() as connection:
            deadline = time.monotonic() + wait
            while not connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                connection.commit()
                if time.monotonic() > deadline:
                    raise locked
                time.sleep(0.1)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()
        return
    path = sqlite_lock_file(engine, "_migrations")
    try:
        lock = file_lock(path, timeout=wait) if path is not None else None
    except OSError:  # a read-only directory: nobody can upgrade this database from here anyway
        lock = None
    else:
        if path is not None and lock is None:
            raise locked
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def upgrade(engine: Engine | None = None) -> Engine:
    """Apply all migrations, then load the reference tables and sources (idempotent). Returns the engine.

    Concurrent upgrades of one database (two first commands on a new one) run one after the other.
    """
    engine = engine or get_engine()
    with migration_lock(engine):
        with engine.begin() as connection:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        load_reference_data(engine)
    return engine


_UPGRADED: set[str] = set()


def ensure_schema(engine: Engine) -> Engine:
    """Upgrade the database once per process (every command that needs the schema calls this first)."""
    key = engine.url.render_as_string(hide_password=False)
    if key not in _UPGRADED:
        upgrade(engine)
        _UPGRADED.add(key)
    return engine


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def load_reference_data(engine: Engine) -> None:
    """Insert or refresh counties, municipalities, STYRK-08 occupations and the known sources."""
    with session_scope(engine) as session:
        loaded = (session.scalar(select(func.count()).select_from(Municipality)),
                  session.scalar(select(func.count()).select_from(Occupation)),
                  set(session.scalars(select(Source.name))))
        if loaded[:2] == (len(codes.municipalities()), len(codes.occupations())) and set(SOURCES) <= loaded[2]:
            return
        for county in codes.counties().values():
            session.merge(County(code=county.code, name=county.name))
        session.flush()
        for m in codes.municipalities().values():
            session.merge(Municipality(code=m.code, name=m.name, county_code=m.county_code))
        for o in codes.occupations().values():
            session.merge(Occupation(code=o.code, name=o.name, category_l1=o.category_l1, category_l2=o.category_l2))
        known = set(session.scalars(select(Source.name)))
        for name, (title, base_url) in SOURCES.items():
            if name not in known:
                session.add(Source(name=name, title=title, base_url=base_url))


def ensure_source(engine: Engine, name: str) -> None:
    """Register a source that is not in SOURCES (e.g. a test spider)."""
    with session_scope(engine) as session:
        if session.get(Source, name) is None:
            session.add(Source(name=name, title=name, base_url=None))
