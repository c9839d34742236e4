"""Source health: after each run compare it with the source's own history and raise or resolve alerts.

Rules (each one alert per source while it holds):

* ``no_items``: a source that usually yields items yielded none;
* ``few_items``: items seen fell below half the median of its last 10 successful runs;
* ``low_coverage``: fewer than 90 % of postings have a title, employer, municipality or deadline;
* ``failing``: the last 3 runs failed;
* ``source_broken``: most details of a page answered 404 at once (stat ``details_gone_burst``): nothing was closed;
* ``reconciliation``: after the run a posting the source showed is not stored, or one it closed is still active
  (stats ``reconcile_*``, storage/reconcile.py); judged only on runs that reconciled, resolved by the next clean one.

An alert is written to the ``alerts`` table and logged at ERROR when it opens, logged again while later runs confirm
it, and resolved by the first run where its rule no longer holds. Opening and resolving are also POSTed as JSON to
``ALERT_WEBHOOK_URL`` when set; a post that fails is kept and posted again after the next run. Evaluating a run
twice (by ``munijobs crawl`` and by the scheduler) changes nothing.
"""

from __future__ import annotations

import json
import logging
import socket
import statistics
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from munijobs.constants import RunStatus
from storage.db import session_scope
from storage.models import Alert, CrawlRun
from storage.state import get_state, set_state

logger = logging.getLogger(__name__)

HISTORY_RUNS = 10
MIN_HISTORY = 3
"""Successful earlier runs needed before the item-count rules judge a run."""
COVERAGE_FIELDS = {"title": "title", "employer_name": "employer", "municipality_code": "municipality",
                   "deadline_kind": "deadline"}
COVERAGE_MIN = 0.9
FAILURES_IN_A_ROW = 3
WEBHOOK_TIMEOUT = 10
SUCCESS = (RunStatus.OK, RunStatus.PARTIAL)
PENDING_KEY = ("_alerts", "webhook_pending")
"""crawl_state row holding the webhook posts that failed, re-posted after the next run of any source."""


def check_items(run: CrawlRun, history: list[CrawlRun]) -> dict[str, str | None]:
    """The item-count rules: {rule: message when it fires, None when it holds no more}; empty when not judged."""
    if run.status not in SUCCESS or len(history) < MIN_HISTORY:
        return {}
    counts = [r.items_seen for r in history]
    median = statistics.median(counts)
    yielding = sum(1 for c in counts if c > 0)
    result: dict[str, str | None] = {"no_items": None, "few_items": None}
    if run.items_seen == 0 and yielding * 2 > len(counts):
        result["no_items"] = f"yielded no items; {yielding} of its last {len(counts)} successful runs yielded some"
    elif 0 < run.items_seen < median / 2:
        result["few_items"] = (f"yielded {run.items_seen} items, below half the median ({median:g}) "
                               f"of its last {len(counts)} successful runs")
    return result


def check_coverage(run: CrawlRun) -> dict[str, str | None]:
    """The coverage rule, from the run's `coverage/*` stats; empty when the run had no postings to judge."""
    stats = run.stats or {}
    postings = stats.get("coverage/postings", 0)
    if run.status not in SUCCESS or not postings:
        return {}
    low = [f"{label} {stats.get(f'coverage/{name}', 0) / postings:.0%}" for name, label in COVERAGE_FIELDS.items()
           if stats.get(f"coverage/{name}", 0) / postings < COVERAGE_MIN]
    message = f"field coverage below {COVERAGE_MIN:.0%} of {postings} postings: {', '.join(low)}" if low else None
    return {"low_coverage": message}


def check_failures(latest: list[CrawlRun]) -> dict[str, str | None]:
    """The failing rule over the latest finished runs, newest first."""
    failed = len(latest) >= FAILURES_IN_A_ROW and all(r.status == RunStatus.FAILED for r in latest)
    reason = f" (last: {latest[0].message})" if failed and latest[0].message else ""
    return {"failing": f"the last {FAILURES_IN_A_ROW} runs failed{reason}" if failed else None}


def check_answers(run: CrawlRun) -> dict[str, str | None]:
    """The source_broken rule: the spider saw a burst of 404s where the ads cannot all be gone."""
    if run.status not in SUCCESS:
        return {}
    gone = (run.stats or {}).get("details_gone_burst", 0)
    return {"source_broken": f"{gone} details answered 404/410 in bursts; kept pending, nothing closed" if gone
            else None}


def check_reconciliation(run: CrawlRun) -> dict[str, str | None]:
    """The reconciliation rule, from the run's `reconcile_*` stats; empty when the run did not reconcile."""
    stats = run.stats or {}
    if run.status not in SUCCESS or "reconcile_listed" not in stats:
        return {}
    def ids(kind: str) -> str:
        shown = stats.get(f"reconcile_{kind}_ids", [])
        return ", ".join(shown) + (", ..." if stats[f"reconcile_{kind}"] > len(shown) else "")

    problems = []
    if stats.get("reconcile_missing"):
        problems.append(f"{stats['reconcile_missing']} of {stats['reconcile_listed']} postings the source showed are"
                        f" not stored active ({ids('missing')})")
    if stats.get("reconcile_unclosed"):
        problems.append(f"{stats['reconcile_unclosed']} postings closed by the source are still active"
                        f" ({ids('unclosed')})")
    return {"reconciliation": "; ".join(problems) or None}


@dataclass
class AlertEvent:
    """An alert that opened or resolved, for the log and the webhook."""

    source: str
    rule: str
    message: str
    run_id: int
    state: str

    def payload(self) -> dict:
        text = f"munijobs {self.state}: {self.source}: {self.rule}: {self.message} (run {self.run_id})"
        return {"source": self.source, "rule": self.rule, "message": self.message, "run_id": self.run_id,
                "state": self.state, "host": socket.gethostname(), "text": text}


def evaluate_run(engine: Engine, run_id: int, settings=None) -> list[Alert]:
    """Judge a finished run against its source's history; returns the source's open alerts afterwards."""
    with session_scope(engine) as session:
        run = session.get(CrawlRun, run_id)
        if run is None or run.status == RunStatus.RUNNING:
            return []
        earlier = select(CrawlRun).where(CrawlRun.source == run.source, CrawlRun.id < run.id)
        history = list(session.scalars(earlier.where(CrawlRun.status.in_([str(s) for s in SUCCESS]))
                                       .order_by(CrawlRun.id.desc()).limit(HISTORY_RUNS)))
        latest = [run, *session.scalars(earlier.where(CrawlRun.status != RunStatus.RUNNING)
                                        .order_by(CrawlRun.id.desc()).limit(FAILURES_IN_A_ROW - 1))]
        verdicts = (check_items(run, history) | check_coverage(run) | check_failures(latest) | check_answers(run)
                    | check_reconciliation(run))
        events = _apply(session, run, verdicts)
        open_alerts = open_alerts_of(session, run.source)
    url = settings.get("ALERT_WEBHOOK_URL") if settings is not None else None
    if url:
        deliver(engine, url, [event.payload() for event in events])
    return open_alerts


def deliver(engine: Engine, url: str, payloads: list[dict]) -> None:
    """POST the alerts not delivered before (kept in crawl_state), then these; keep whatever fails for the next run."""
    pending = [*get_state(engine, *PENDING_KEY, default=[]), *payloads]
    if not pending:
        return
    undelivered = [payload for payload in pending if not post_webhook(url, payload)]
    if undelivered:
        logger.error("alert webhook: %d alerts kept to be posted again after the next run", len(undelivered))
    set_state(engine, *PENDING_KEY, undelivered)


def _apply(session: Session, run: CrawlRun, verdicts: dict[str, str | None]) -> list[AlertEvent]:
    """Open, confirm or resolve alerts by the verdicts; an alert already judged at this run is left alone."""
    now = datetime.now(UTC)
    current = {a.rule: a for a in open_alerts_of(session, run.source)}
    events = []
    for rule, message in verdicts.items():
        alert = current.get(rule)
        if alert is not None and (alert.run_id or 0) >= run.id:
            continue
        if message is None and alert is not None:
            alert.resolved_at, alert.run_id = now, run.id
            events.append(AlertEvent(run.source, rule, alert.message, run.id, "resolved"))
            logger.info("%s: health: %s resolved by run %s", run.source, rule, run.id)
        elif message is not None and alert is None:
            session.add(Alert(source=run.source, run_id=run.id, rule=rule, message=message, created_at=now))
            events.append(AlertEvent(run.source, rule, message, run.id, "open"))
            logger.error("%s: ALERT %s: %s (run %s)", run.source, rule, message, run.id)
        elif message is not None:
            alert.message, alert.run_id = message, run.id
            logger.error("%s: ALERT %s still holds since %s: %s (run %s)", run.source, rule,
                         f"{alert.created_at:%Y-%m-%d %H:%M}", message, run.id)
    session.flush()
    return events


def open_alerts_of(session: Session, source: str | None = None) -> list[Alert]:
    """Unresolved alerts, oldest first; of one source or of all."""
    query = select(Alert).where(Alert.resolved_at.is_(None)).order_by(Alert.id)
    if source is not None:
        query = query.where(Alert.source == source)
    return list(session.scalars(query))


def open_alerts(engine: Engine) -> dict[str, list[Alert]]:
    """Unresolved alerts by source."""
    result: dict[str, list[Alert]] = {}
    with Session(engine, expire_on_commit=False) as session:
        for alert in open_alerts_of(session):
            result.setdefault(alert.source, []).append(alert)
    return result


def post_webhook(url: str, payload: dict) -> bool:
    """POST the payload as JSON; a failure is logged with the host only (such URLs carry secrets), never raised.
    True when the server accepted it."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "munijobs-health"})
    host = urllib.parse.urlsplit(url).hostname or "(no host)"
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:
            if 200 <= response.status < 300:
                return True
            reason = f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        reason = str(getattr(exc, "reason", None) or exc).replace(url, host)
    logger.error("alert webhook to %s failed: %s", host, reason)
    return False


def source_problems(last_run: CrawlRun | None, alerts: list[Alert], due: datetime | None, late_after: timedelta,
                    now: datetime, scheduled: bool = False) -> list[str]:
    """Why a source is unhealthy (empty when healthy): open alerts, a failed last run, or a run stuck or overdue.

    `due` is when the schedule wants the next run; a run is overdue or stuck when `late_after` has passed.
    """
    problems = [a.rule for a in alerts]
    if last_run is None:
        return [*problems, "never run"] if scheduled else problems
    if last_run.status == RunStatus.FAILED:
        problems.append("last run failed")
    if last_run.status == RunStatus.RUNNING:
        if now - last_run.started_at > late_after:
            problems.append("run stuck")
    elif due is not None and now - due > late_after:
        problems.append("overdue")
    return problems


def quarantine_summary(counts: dict[str, int]) -> str:
    """The `munijobs status` line on the quarantine: ads that could not be stored, by source."""
    total = sum(counts.values())
    if not total:
        return "quarantine: empty"
    by_source = ", ".join(f"{source} {count}" for source, count in sorted(counts.items()))
    return (f"quarantine: {total} ad{'s' if total != 1 else ''} could not be stored ({by_source});"
            " see table quarantine (docs/data.md)")
