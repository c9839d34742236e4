"""The scheduler: crawls each source on its schedule (SCHEDULE_FILE, default munijobs.toml) and runs daily maintenance.

One long-lived process (`munijobs schedule`, or the `munijobs-scheduler` console script), or one pass from cron or a
systemd timer (`--once`). Each crawl runs `CRAWL_COMMAND SOURCE` as a subprocess, since Scrapy's reactor cannot restart
inside one process; the crawl takes the source's lock in the database itself, so crawls never overlap, not even from
two schedulers on two machines. Jobs live in a MemoryJobStore: the cadence after a restart comes from crawl_runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from munijobs.constants import RunStatus
from munijobs.extensions import rotating_log
from munijobs.health import evaluate_run
from spiders._brreg import refresh_stale_units
from storage.db import ensure_schema, get_engine, session_scope
from storage.locks import Held
from storage.maintenance import run_maintenance
from storage.models import CrawlRun
from storage.runs import fail_run, get_run
from storage.state import get_state, set_state

logger = logging.getLogger("munijobs.scheduler")

EXIT_FAILED = 1
EXIT_LOCKED = 3
"""Exit code of `munijobs crawl` when another crawl of the source holds its lock."""
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_TIMEZONE = "Europe/Oslo"
DEFAULT_MISFIRE_GRACE = "30m"
ONCE_SLACK = timedelta(seconds=60)
"""With --once a source counts as due this early (at most a tenth of its interval): cron starts are not exact."""
POLL_SECONDS = 0.2
STATE_KEY = ("_scheduler", "maintenance_started_at")
"""crawl_state row holding when maintenance last started."""


class ScheduleError(ValueError):
    """The schedule file is missing or invalid."""


class Outcome:
    """What one scheduled job came to."""

    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    LOCKED = "locked"
    SKIPPED = "skipped"


def parse_duration(value: object) -> timedelta:
    """A positive duration from '90s', '10m', '1h', '1d' or a number of seconds."""
    text = str(value).strip().lower()
    unit = UNITS.get(text[-1:], 0)
    try:
        seconds = float(text[:-1] if unit else text) * (unit or 1)
    except ValueError:
        raise ScheduleError(f"{value!r} is not a duration like 90s, 10m, 1h or 1d") from None
    if isinstance(value, bool) or seconds <= 0:
        raise ScheduleError(f"{value!r} is not a positive duration")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class JobSpec:
    """When one job runs: every `interval`, or at the times of a crontab line (in the schedule's time zone)."""

    name: str
    interval: timedelta | None = None
    cron: str | None = None
    time_limit: timedelta | None = None

    def trigger(self, tz: ZoneInfo, start: datetime | None = None):
        if self.interval is not None:
            return IntervalTrigger(seconds=self.interval.total_seconds(), start_date=start, timezone=tz)
        return CronTrigger.from_crontab(self.cron, timezone=tz)

    def describe(self) -> str:
        return f"every {self.interval}" if self.interval is not None else f"cron '{self.cron}'"

    def due(self, last_started: datetime | None, tz: ZoneInfo) -> datetime | None:
        """When the job is next due after a run that started at `last_started`; None when it never ran."""
        if last_started is None:
            return None
        if self.interval is not None:
            return last_started.astimezone(tz) + self.interval
        return self.trigger(tz).get_next_fire_time(None, last_started.astimezone(tz))

    def first_run(self, last_started: datetime | None, now: datetime, tz: ZoneInfo) -> datetime:
        """First run after a (re)start: now when overdue or never run, else when it is next due."""
        due = self.due(last_started, tz)
        return now if due is None or due <= now else due


@dataclass(frozen=True)
class Schedule:
    """The parsed schedule file."""

    timezone: ZoneInfo
    misfire_grace: timedelta
    sources: dict[str, JobSpec]
    maintenance: JobSpec | None


def _duration(table: Mapping, key: str, where: str) -> timedelta:
    try:
        return parse_duration(table[key])
    except ScheduleError as exc:
        raise ScheduleError(f"[{where}] {key}: {exc}") from None


def _job_spec(name: str, table: Mapping, where: str) -> JobSpec:
    if not isinstance(table, Mapping):
        raise ScheduleError(f"[{where}]: must be a table with every = \"10m\" or cron = \"0 * * * *\"")
    unknown = set(table) - {"every", "cron", "time_limit"}
    if unknown:
        raise ScheduleError(f"[{where}]: unknown keys {sorted(unknown)}; use every, cron or time_limit")
    if ("every" in table) == ("cron" in table):
        raise ScheduleError(f"[{where}]: give exactly one of every = \"10m\" or cron = \"0 * * * *\"")
    limit = _duration(table, "time_limit", where) if "time_limit" in table else None
    interval = _duration(table, "every", where) if "every" in table else None
    if interval is not None:
        return JobSpec(name, interval=interval, time_limit=limit)
    try:
        CronTrigger.from_crontab(table["cron"])
    except (ValueError, TypeError, AttributeError) as exc:
        raise ScheduleError(f"[{where}]: invalid cron {table['cron']!r}: {exc}") from None
    return JobSpec(name, cron=table["cron"], time_limit=limit)


def find_schedule(value: str | Path) -> Path:
    """The schedule file of setting SCHEDULE_FILE: an absolute path as it is; a relative one (the default
    munijobs.toml) in the current directory, else beside the closest scrapy.cfg, else in the checkout or deployment
    munijobs runs from, so that monitoring finds it from any directory. ScheduleError when there is none."""
    from scrapy.utils.conf import closest_scrapy_cfg

    path = Path(value).expanduser()
    if path.is_absolute():
        if not path.is_file():
            raise ScheduleError(f"no schedule file at {path} (setting SCHEDULE_FILE)")
        return path
    places = [Path.cwd()]
    if closest_scrapy_cfg():
        places.append(Path(closest_scrapy_cfg()).parent)
    places.append(Path(__file__).resolve().parent)
    places = list(dict.fromkeys(places))
    for place in places:
        if (place / path).is_file():
            return place / path
    raise ScheduleError(f"no schedule file {value} in {', '.join(map(str, places))} (setting SCHEDULE_FILE)")


def load_schedule(path: str | Path, known_sources: list[str] | None = None) -> Schedule:
    """Read and check the schedule file; with `known_sources`, a [sources.NAME] of another name is an error."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScheduleError(f"schedule file {path} not found (setting SCHEDULE_FILE)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ScheduleError(f"schedule file {path}: {exc}") from None
    options = data.get("scheduler", {})
    try:
        tz = ZoneInfo(options.get("timezone", DEFAULT_TIMEZONE))
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ScheduleError(f"{path}: unknown time zone: {exc}") from None
    tables = data.get("sources", {})
    unknown = sorted(set(tables) - set(known_sources)) if known_sources is not None and isinstance(tables, dict) else []
    if unknown:
        raise ScheduleError(f"{path} [sources.{unknown[0]}]: unknown source {unknown[0]!r};"
                            f" known sources: {', '.join(known_sources) or 'none'}")
    try:
        sources = {name: _job_spec(name, table, f"sources.{name}") for name, table in tables.items()}
        maintenance = _job_spec("maintenance", data["maintenance"], "maintenance") if "maintenance" in data else None
        grace = parse_duration(options.get("misfire_grace_time", DEFAULT_MISFIRE_GRACE))
    except ScheduleError as exc:
        raise ScheduleError(f"{path} {exc}") from None
    except AttributeError:
        raise ScheduleError(f"{path}: [sources] must hold [sources.NAME] tables") from None
    if not sources:
        raise ScheduleError(f"{path}: no [sources.NAME] tables: nothing to schedule")
    return Schedule(tz, grace, sources, maintenance)


def local_and_utc(moment: datetime, tz: ZoneInfo) -> str:
    """A time as the scheduler prints it: in the schedule's zone, named, and in UTC."""
    local = moment.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S %Z} ({moment.astimezone(UTC):%H:%M} UTC)"


def last_started(engine: Engine) -> dict[str, datetime]:
    """When each source's latest run started, whatever its outcome and whoever started it."""
    with Session(engine) as session:
        query = select(CrawlRun.source, func.max(CrawlRun.started_at)).group_by(CrawlRun.source)
        return dict(session.execute(query).all())


def maintenance_started(engine: Engine) -> datetime | None:
    value = get_state(engine, *STATE_KEY)
    return datetime.fromisoformat(value) if value else None


def find_run(engine: Engine, source: str, pid: int, since: datetime) -> CrawlRun | None:
    """The run a crawl process of this host recorded (crawl_runs keeps host and pid)."""
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(select(CrawlRun).where(
            CrawlRun.source == source, CrawlRun.host == socket.gethostname(), CrawlRun.pid == pid,
            CrawlRun.started_at >= since - timedelta(seconds=5)).order_by(CrawlRun.id.desc()).limit(1)).first()


def note_on_run(engine: Engine, run_id: int, note: str, time_limited: bool = False) -> None:
    """Prefix a finished run's message with what the scheduler did to it.

    A run stopped at its time limit that failed only for being stopped (no error of its own) and yielded postings
    made progress: it kept what it stored and the next run goes on from its checkpoint, so it is `partial`, not
    `failed` (a first NAV run takes many limited runs, which must not raise the 3-failures alert).
    """
    with session_scope(engine) as session:
        run = session.get(CrawlRun, run_id)
        stopped_only = (run.status == RunStatus.FAILED and run.message is None
                        and (run.stats or {}).get("finish_reason") == "shutdown")
        if time_limited and stopped_only and run.items_seen:
            run.status = str(RunStatus.PARTIAL)
            note += ", after progress (the next run goes on from its checkpoint)"
        run.message = f"{note}; {run.message}" if run.message else note


def crawl_command(settings) -> list[str]:
    """CRAWL_COMMAND as an argument list (a string setting is split like a shell would)."""
    command = settings.get("CRAWL_COMMAND")
    return shlex.split(command) if isinstance(command, str) else list(command)


class Runner:
    """Runs the jobs: crawls as subprocesses under a time limit, maintenance in-process, and stops them cleanly."""

    def __init__(self, settings, schedule: Schedule, engine: Engine, overrides: Mapping[str, str] | None = None):
        self.settings = settings
        self.schedule = schedule
        self.engine = engine
        self.command = crawl_command(settings)
        self.env = {"SCRAPY_SETTINGS_MODULE": "munijobs.settings", **os.environ, **(overrides or {})}
        self.stopping = threading.Event()
        self.stop_by: float | None = None
        """Monotonic time at which running crawls are stopped during a shutdown."""
        self.scheduler: BlockingScheduler | None = None
        self._idle = threading.Condition()
        self._active = 0

    def request_stop(self, signum: int = signal.SIGTERM, _frame=None) -> None:
        """Signal handler: schedule nothing more, give running crawls the grace period; a second signal ends it now."""
        name = signal.Signals(signum).name
        if self.stopping.is_set():
            logger.warning("%s again: stopping running crawls now", name)
            self.stop_by = time.monotonic()
            return
        grace = self.settings.getfloat("SHUTDOWN_GRACE_SECONDS")
        logger.info("%s: shutting down; running crawls get %g s to finish", name, grace)
        self.stop_by = time.monotonic() + grace
        self.stopping.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def wait_idle(self) -> None:
        """Block until no crawl is running."""
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0)

    def crawl(self, source: str) -> str:
        """One crawl of the source in a subprocess; records what happened and judges the source's health."""
        with self._idle:
            if self.stopping.is_set():
                return Outcome.SKIPPED
            self._active += 1
        try:
            return self._crawl(source)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _crawl(self, source: str) -> str:
        spec = self.schedule.sources.get(source)
        limit = self.settings.getfloat("CRAWL_TIME_LIMIT")
        if spec is not None and spec.time_limit is not None:
            limit = spec.time_limit.total_seconds()
        since, started = datetime.now(UTC), time.monotonic()
        process = subprocess.Popen([*self.command, source], env=self.env, start_new_session=True)
        logger.info("%s: crawl started (pid %d, time limit %g s)", source, process.pid, limit)
        stopped = self._wait(process, source, started + limit, f"the time limit of {limit:g} s")
        took = time.monotonic() - started
        run = find_run(self.engine, source, process.pid, since)
        code = process.returncode
        if run is None:
            if code == EXIT_LOCKED:
                logger.info("%s: another crawl of it holds the lock; skipped", source)
                return Outcome.LOCKED
            log = logger.info if code == 0 else logger.error
            log("%s: crawl exited with code %s after %.1f s without recording a run", source, code, took)
            return Outcome.OK if code == 0 else Outcome.FAILED
        if run.status == RunStatus.RUNNING:
            fail_run(self.engine, run.id, f"stopped by the scheduler at {stopped}" if stopped
                     else f"the crawl process exited with code {code} without recording its outcome")
        elif stopped:
            note_on_run(self.engine, run.id, f"stopped by the scheduler at {stopped}",
                        time_limited=stopped != "shutdown")
        run = get_run(self.engine, run.id)
        log = logger.error if run.status == RunStatus.FAILED else logger.info
        log("%s: run %s %s after %.1f s (exit %s): seen %d, new %d, updated %d, closed %d, errors %d%s", source, run.id,
            run.status, took, code, run.items_seen, run.items_new, run.items_updated, run.items_closed, run.errors,
            f": {run.message}" if run.message else "")
        for alert in evaluate_run(self.engine, run.id, self.settings):
            logger.error("%s: unhealthy: %s: %s", source, alert.rule, alert.message)
        return run.status

    def _wait(self, process: subprocess.Popen, source: str, deadline: float, limit: str) -> str | None:
        """Wait for the crawl to end; stop it at its time limit or when the shutdown grace is over. Returns why."""
        while True:
            now = time.monotonic()
            stop_by = self.stop_by
            if stop_by is not None and now >= stop_by:
                reason = "shutdown"
            elif now >= deadline:
                reason = limit
            else:
                try:
                    process.wait(timeout=min(POLL_SECONDS, deadline - now))
                    return None
                except subprocess.TimeoutExpired:
                    continue
            self._stop(process, source, reason)
            return reason

    def _stop(self, process: subprocess.Popen, source: str, reason: str) -> None:
        """SIGTERM the crawl (Scrapy then closes the spider cleanly); SIGKILL it when it does not end in time."""
        grace = self.settings.getfloat("CRAWL_KILL_GRACE_SECONDS")
        logger.warning("%s: stopping the crawl (pid %d) at %s", source, process.pid, reason)
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            logger.error("%s: the crawl did not stop within %g s of SIGTERM: killing it", source, grace)
            _signal_group(process, signal.SIGKILL)
            process.wait()

    def maintain(self) -> str:
        """The daily maintenance pass, in this process."""
        if self.stopping.is_set():
            return Outcome.SKIPPED
        set_state(self.engine, *STATE_KEY, datetime.now(UTC).isoformat())
        try:
            result = run_maintenance(self.engine, refresh_employers=lambda: refresh_stale_units(
                self.engine, self.settings.get("BRREG_API_URL"), self.settings.get("USER_AGENT")))
        except Held as exc:
            logger.info("maintenance: %s; skipped", exc)
            return Outcome.LOCKED
        logger.info("maintenance: %d postings expired, %d employers refreshed (%d failed), %d runs and %d alerts"
                    " pruned", result.expired, result.employers_refreshed, result.employers_failed,
                    result.runs_pruned, result.alerts_pruned)
        return Outcome.OK


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    """Signal the crawl's process group (it runs in a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def build_scheduler(runner: Runner) -> BlockingScheduler:
    """One job per source plus maintenance; first runs keep the cadence recorded in crawl_runs."""
    schedule, tz = runner.schedule, runner.schedule.timezone
    scheduler = BlockingScheduler(
        timezone=tz, jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=len(schedule.sources) + 1)})
    now = datetime.now(tz)
    last = last_started(runner.engine)
    jobs = [(spec, last.get(name), runner.crawl, [name]) for name, spec in schedule.sources.items()]
    if schedule.maintenance is not None:
        jobs.append((schedule.maintenance, maintenance_started(runner.engine), runner.maintain, []))
    for spec, previous, job, args in jobs:
        first = spec.first_run(previous, now, tz)
        scheduler.add_job(job, spec.trigger(tz, start=first), args=args, id=spec.name, name=spec.name,
                          next_run_time=first, coalesce=True, max_instances=1,
                          misfire_grace_time=int(schedule.misfire_grace.total_seconds()))
        logger.info("%s: %s, last run %s, next run %s", spec.name, spec.describe(),
                    local_and_utc(previous, tz) if previous else "never", local_and_utc(first, tz))
    return scheduler


def run_forever(runner: Runner) -> int:
    """Run the schedule until SIGTERM/SIGINT, then wait for running crawls; returns the exit code."""
    scheduler = runner.scheduler = build_scheduler(runner)
    if not runner.stopping.is_set():
        scheduler.start()
    runner.wait_idle()
    logger.info("scheduler stopped")
    return 0


def run_once(runner: Runner) -> int:
    """Run every due source once, in the order of the schedule file, then maintenance when due; 1 if any failed."""
    schedule, tz = runner.schedule, runner.schedule.timezone
    now = datetime.now(tz)
    last = last_started(runner.engine)
    failed = []
    for name, spec in schedule.sources.items():
        slack = min(ONCE_SLACK, spec.interval / 10) if spec.interval is not None else timedelta(0)
        first = spec.first_run(last.get(name), now + slack, tz)
        if first > now + slack:
            logger.info("%s: not due until %s", name, local_and_utc(first, tz))
        elif runner.stopping.is_set():
            logger.warning("%s: not run: shutting down", name)
        elif _guarded(name, runner.crawl, name) == Outcome.FAILED:
            failed.append(name)
    maintenance = schedule.maintenance
    due = maintenance is not None and maintenance.first_run(maintenance_started(runner.engine), now, tz) <= now
    if due and _guarded("maintenance", runner.maintain) == Outcome.FAILED:
        failed.append("maintenance")
    if failed:
        logger.error("failed: %s", ", ".join(failed))
    return EXIT_FAILED if failed or runner.stopping.is_set() else 0


def _guarded(name: str, func, *args) -> str:
    """Run a job for --once; an exception fails that job, not the whole pass."""
    try:
        return func(*args)
    except Exception:  # a broken job (e.g. the database went away) must not stop the other sources
        logger.exception("%s: the job raised an exception", name)
        return Outcome.FAILED


def configure_logging(settings) -> None:
    """Scheduler log to stderr and, with LOG_DIR set, to LOG_DIR/scheduler.log (rotating)."""
    date_format = settings.get("LOG_DATEFORMAT")
    if "%z" not in date_format and "%Z" not in date_format:
        date_format += "%z"
    formatter = logging.Formatter(settings.get("LOG_FORMAT"), date_format)
    root = logging.getLogger()
    root.setLevel(settings.get("LOG_LEVEL"))
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(formatter)
    root.addHandler(stderr)
    if settings.get("LOG_DIR"):
        rotating_log(settings.get("LOG_DIR"), "scheduler", formatter)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def run(settings, overrides: Mapping[str, str] | None = None, once: bool = False) -> int:
    """Load the schedule and run it (forever, or one pass with `once`); returns the exit code."""
    from scrapy.spiderloader import SpiderLoader

    path = find_schedule(settings.get("SCHEDULE_FILE"))
    schedule = load_schedule(path, known_sources=sorted(SpiderLoader.from_settings(settings).list()))
    engine = ensure_schema(get_engine(settings.get("DATABASE_URL")))
    runner = Runner(settings, schedule, engine, overrides)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, runner.request_stop)
    logger.info("scheduler %s on %s: %d sources from %s (times in %s)", "pass" if once else "started",
                socket.gethostname(), len(schedule.sources), path, schedule.timezone.key)
    return run_once(runner) if once else run_forever(runner)


def main() -> None:
    """Console script `munijobs-scheduler`: the same as `munijobs schedule`."""
    from munijobs.cli import schedule

    schedule(prog_name="munijobs-scheduler")

