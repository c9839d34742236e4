"""Shared fixtures: fresh databases on SQLite and on a real PostgreSQL server.

PostgreSQL tests use the server named by TEST_DATABASE_URL (default: the local server on 127.0.0.1:5432); each test
gets a database of its own, dropped afterwards. Without a reachable server they are skipped, loudly; with
REQUIRE_POSTGRES=1 (as in CI) they fail instead.

The seed ad (a real third-party ad, so not in this repository) is read from MUNIJOBS_SEED_AD, by default
../shared/examples/seed-ad.txt beside the checkout; the same skip-or-fail rule holds with REQUIRE_SEED_AD=1.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage.db import get_engine, upgrade

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_SKIPPED: list[str] = []
SEED_AD_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "examples" / "seed-ad.txt"
SEED_SKIPPED: list[str] = []


def _pg_admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG_URL


def _pg_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        engine = create_engine(_pg_admin_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any connection problem means: no PostgreSQL here
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the PostgreSQL server, or skip (fail with REQUIRE_POSTGRES=1) when there is none."""
    reason = _pg_unavailable()
    if reason:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but PostgreSQL at {_pg_admin_url()} is unreachable: {reason}")
        PG_SKIPPED.append(reason)
        pytest.skip(f"PostgreSQL unreachable ({reason}): PostgreSQL tests SKIPPED")
    return _pg_admin_url()


def fresh_postgres_database(admin_url: str):
    """Create an empty database on the server; returns (url, drop) where drop() removes it."""
    name = f"munijobs_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """URL of an empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'munijobs-test.db'}"
        return
    admin_url = request.getfixturevalue("postgres_server")
    url, drop = fresh_postgres_database(admin_url)
    yield url
    get_engine(url).dispose()
    drop()


@pytest.fixture
def engine(database_url):
    """An upgraded engine on a fresh database (both dialects)."""
    engine = upgrade(get_engine(database_url))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def seed_ad_text() -> str:
    """The text of the real seed ad, or skip (fail with REQUIRE_SEED_AD=1) when it is not on this machine."""
    path = Path(os.environ.get("MUNIJOBS_SEED_AD") or SEED_AD_DEFAULT)
    if not path.is_file():
        if os.environ.get("REQUIRE_SEED_AD") == "1":
            pytest.fail(f"REQUIRE_SEED_AD=1 but the seed ad is not at {path}")
        SEED_SKIPPED.append(str(path))
        pytest.skip(f"seed ad not found at {path}: set MUNIJOBS_SEED_AD")
    return path.read_text(encoding="utf-8")


def pytest_terminal_summary(terminalreporter):
    if SEED_SKIPPED:
        terminalreporter.write_sep("!", f"seed-ad test SKIPPED: no file at {SEED_SKIPPED[0]}", yellow=True)
        terminalreporter.write_line("Set MUNIJOBS_SEED_AD to the seed ad's path; CI sets REQUIRE_SEED_AD=1.")
    if PG_SKIPPED:
        terminalreporter.write_sep("!", "PostgreSQL tests were SKIPPED: " + PG_SKIPPED[0], red=True, bold=True)
        terminalreporter.write_line("Set TEST_DATABASE_URL to a PostgreSQL server; CI sets REQUIRE_POSTGRES=1.")
