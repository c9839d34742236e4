"""Running the nav spider in a subprocess against the fake NAV/Brønnøysund server, and reading what it stored."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from storage.db import get_engine
from storage.models import CrawlRun, Posting
from storage.state import get_state
from tests.fakes.nav_server import FakeNav

ROOT = Path(__file__).resolve().parents[2]
_FIXTURE_NAMESPACE = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")

FAST_SETTINGS = {
    "NAV_FEED_LOOKBACK_DAYS": "36500",
    "AUTOTHROTTLE_START_DELAY": "0.01",
    "AUTOTHROTTLE_MAX_DELAY": "0.5",
    "DOWNLOAD_DELAY": "0",
    "RETRY_BACKOFF_BASE": "0.05",
    "RETRY_BACKOFF_MAX": "5",
    "LOG_LEVEL": "INFO",
}
CONTACT_TRACES = (
    "Kontaktperson",
    "Telefonsen",
    "kari.kontaktperson@leka.example",
    "ola.telefonsen",
    "912 34 567",
    "41 23 45 67",
)
"""Names, e-mails and phones of the fixture's contactList; none may reach the database."""


def ad(key: str) -> str:
    """The uuid of a fixture ad, by its key in tests/files/nav (e.g. "leka-1")."""
    return str(uuid.uuid5(_FIXTURE_NAMESPACE, key))


def crawl_command(fake: FakeNav, **overrides: str) -> list[str]:
    settings = {**FAST_SETTINGS, "NAV_FEED_URL": fake.base_url, "BRREG_API_URL": fake.brreg_url, **overrides}
    return [sys.executable, "-m", "munijobs", "crawl", "nav", *(f"-s{k}={v}" for k, v in settings.items())]


def crawl_env(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}


def crawl(database_url: str, fake: FakeNav, timeout: float = 90, **overrides: str) -> subprocess.CompletedProcess:
    """One crawl of nav in its own process (Twisted's reactor cannot restart)."""
    return subprocess.run(
        crawl_command(fake, **overrides),
        cwd=ROOT,
        env=crawl_env(database_url),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def postings(database_url: str) -> dict[str, Posting]:
    """Stored nav postings by ad uuid."""
    with Session(get_engine(database_url)) as session:
        rows = session.scalars(select(Posting).where(Posting.source == "nav"))
        return {row.source_ad_id: row for row in rows}


def last_run(database_url: str) -> CrawlRun:
    with Session(get_engine(database_url)) as session:
        return session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()


def state(database_url: str, key: str) -> Any:
    return get_state(get_engine(database_url), "nav", key)


def all_text(engine: Engine) -> str:
    """Every table's content as one text, to search for data that must not be there."""
    chunks = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                chunks.append(" ".join(str(value) for value in row))
    return "\n".join(chunks)


def detail_hits(fake: FakeNav, key: str) -> int:
    return fake.hits[f"/api/v1/feedentry/{ad(key)}"]


def feed_requests(fake: FakeNav) -> list[tuple[float, str, dict[str, str]]]:
    return [entry for entry in fake.requests_to("/api/v1/feed") if not entry[1].startswith("/api/v1/feedentry")]
