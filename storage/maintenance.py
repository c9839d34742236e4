"""Daily maintenance: expire postings past their deadline or expiry, refresh stale employers, prune run history.

Never deletes ad data: postings, their history and raw text are only ever updated here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, delete, func, or_, select, update

from munijobs.constants import DeadlineKind, PostingStatus, RunStatus
from storage.db import session_scope
from storage.locks import MAINTENANCE, holding
from storage.models import Alert, CrawlRun, Posting
from storage.postings import closing_changes, write_history

HISTORY_KEEP = timedelta(days=90)
LOCAL_TIME = ZoneInfo("Europe/Oslo")
"""Deadlines are local dates: an ad with deadline D expires when D has passed in Norway."""


@dataclass
class MaintenanceResult:
    """What one maintenance pass did."""

    expired: int = 0
    employers_refreshed: int = 0
    employers_failed: int = 0
    runs_pruned: int = 0
    alerts_pruned: int = 0


def expire_postings(engine: Engine, now: datetime | None = None) -> int:
    """Mark active postings whose deadline date or expiry has passed as expired, with history rows; returns count."""
    now = now or datetime.now(UTC)
    today = now.astimezone(LOCAL_TIME).date()
    passed = or_(Posting.expires_at <= now,
                 and_(Posting.deadline_kind == DeadlineKind.DATE, Posting.deadline_date < today))
    with session_scope(engine) as session:
        rows = session.execute(select(Posting.id, Posting.status, Posting.closed_at, Posting.expires_at).where(
            Posting.status == PostingStatus.ACTIVE, passed)).all()
        updates, history = [], []
        for posting_id, status, old_closed, expires_at in rows:
            closed_at = expires_at if expires_at is not None and expires_at <= now else now
            updates.append({"id": posting_id, "status": str(PostingStatus.EXPIRED), "closed_at": closed_at})
            history.extend(closing_changes(posting_id, status, old_closed, str(PostingStatus.EXPIRED), closed_at))
        if updates:
            session.execute(update(Posting), updates)
            write_history(session, history, now, run_id=None)
    return len(updates)


def prune_history(engine: Engine, now: datetime | None = None, keep: timedelta = HISTORY_KEEP) -> tuple[int, int]:
    """Delete finished crawl runs and resolved alerts older than `keep`; each source's latest run stays.

    Returns (runs deleted, alerts deleted).
    """
    cutoff = (now or datetime.now(UTC)) - keep
    with session_scope(engine) as session:
        latest = select(func.max(CrawlRun.id)).group_by(CrawlRun.source)
        runs = session.execute(delete(CrawlRun).where(
            CrawlRun.started_at < cutoff, CrawlRun.status != RunStatus.RUNNING, CrawlRun.id.not_in(latest)))
        alerts = session.execute(delete(Alert).where(Alert.resolved_at.is_not(None), Alert.resolved_at < cutoff))
        return runs.rowcount, alerts.rowcount


def run_maintenance(engine: Engine, now: datetime | None = None,
                    refresh_employers: Callable[[], tuple[int, int]] | None = None) -> MaintenanceResult:
    """All maintenance tasks, each in its own transaction.

    `refresh_employers` re-fetches stale Brønnøysund entries and returns (refreshed, failed); storage itself makes no
    network calls, so the caller supplies it (spiders._brreg.refresh_stale_units).
    Holds the maintenance lock (shared with renormalise): raises storage.locks.Held when another pass is running.
    """
    now = now or datetime.now(UTC)
    with holding(engine, MAINTENANCE):
        result = MaintenanceResult(expired=expire_postings(engine, now))
        if refresh_employers is not None:
            result.employers_refreshed, result.employers_failed = refresh_employers()
        result.runs_pruned, result.alerts_pruned = prune_history(engine, now)
    return result
