"""Crawl runs: one row per run of one spider, opened at start and closed with its outcome and counts."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from munijobs.constants import RunStatus
from storage.db import session_scope
from storage.models import CrawlRun


@dataclass
class RunCounts:
    """Counters a run accumulates."""

    items_seen: int = 0
    items_new: int = 0
    items_updated: int = 0
    items_closed: int = 0
    items_dropped: int = 0
    errors: int = 0


def start_run(engine: Engine, source: str) -> int:
    """Open a run in status `running`; returns its id."""
    with session_scope(engine) as session:
        run = CrawlRun(source=source, started_at=datetime.now(UTC), status=RunStatus.RUNNING,
                       host=socket.gethostname(), pid=os.getpid())
        session.add(run)
        session.flush()
        return run.id


def finish_run(engine: Engine, run_id: int, status: RunStatus, counts: RunCounts, message: str | None = None,
               stats: dict[str, Any] | None = None) -> None:
    """Close a run with its outcome."""
    with session_scope(engine) as session:
        run = session.get(CrawlRun, run_id)
        run.status = str(status)
        run.finished_at = datetime.now(UTC)
        run.message = message
        run.stats = stats
        for name, value in vars(counts).items():
            setattr(run, name, value)


def fail_run(engine: Engine, run_id: int, message: str) -> None:
    """Mark a run failed without touching its counts (e.g. a crawl killed by the scheduler)."""
    with session_scope(engine) as session:
        run = session.get(CrawlRun, run_id)
        if run is not None and run.status == RunStatus.RUNNING:
            run.status = str(RunStatus.FAILED)
            run.finished_at = datetime.now(UTC)
            run.message = message


def get_run(engine: Engine, run_id: int) -> CrawlRun | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(CrawlRun, run_id)


def last_runs(engine: Engine) -> dict[str, CrawlRun]:
    """The latest run of every source that has run."""
    with Session(engine, expire_on_commit=False) as session:
        latest = select(CrawlRun.source, func.max(CrawlRun.id).label("id")).group_by(CrawlRun.source).subquery()
        query = select(CrawlRun).join(latest, CrawlRun.id == latest.c.id).order_by(CrawlRun.source)
        return {run.source: run for run in session.scalars(query)}
