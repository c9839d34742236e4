"""The scheduler (scheduler.py) with a fake crawl command: outcomes, time limit, --once, cadence, the schedule file."""

from __future__ import annotations

import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from scrapy.settings import Settings
from sqlalchemy import select
from sqlalchemy.orm import Session

from munijobs.constants import RunStatus
from scheduler import JobSpec, Outcome, Runner, ScheduleError, build_scheduler, load_schedule, parse_duration, run_once
from storage.db import get_engine, session_scope, upgrade
from storage.locks import acquire
from storage.models import Alert, CrawlRun
from storage.state import get_state
from tests.conftest import fresh_postgres_database

ROOT = Path(__file__).resolve().parents[1]
FAKE_CRAWL = Path(__file__).parent / "fakes" / "fake_crawl.py"
OSLO = ZoneInfo("Europe/Oslo")


def make_settings(**overrides) -> Settings:
    settings = Settings()
    settings.setmodule("munijobs.settings", priority="project")
    settings.setdict({"CRAWL_COMMAND": [sys.executable, str(FAKE_CRAWL)], **overrides}, priority="cmdline")
    return settings


def write_schedule(path: Path, sources: dict[str, str], maintenance: str | None = None) -> Path:
    lines = ['[scheduler]\ntimezone = "Europe/Oslo"\nmisfire_grace_time = "30m"\n']
    lines += [f"[sources.{name}]\n{spec}\n" for name, spec in sources.items()]
    if maintenance:
        lines.append(f"[maintenance]\n{maintenance}\n")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def events(log: Path, event: str | None = None) -> list[dict]:
    if not log.exists():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return [r for r in rows if event is None or r["event"] == event]


def wait_for(condition, timeout: float = 20, message: str = "condition never held") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def runs(engine) -> list[CrawlRun]:
    with session_scope(engine) as session:
        return list(session.scalars(select(CrawlRun).order_by(CrawlRun.id)))


def add_run(engine, source: str, started: datetime) -> None:
    with session_scope(engine) as session:
        session.add(CrawlRun(source=source, started_at=started, finished_at=started, status=RunStatus.OK,
                             items_seen=5))


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'scheduler.db'}"
    engine = upgrade(get_engine(url))
    yield url, engine
    engine.dispose()


@pytest.fixture
def make_runner(db, tmp_path):
    url, engine = db

    def make(sources: dict[str, str], maintenance: str | None = None, settings: dict | None = None, **env) -> Runner:
        schedule = load_schedule(write_schedule(tmp_path / "munijobs.toml", sources, maintenance))
        overrides = {"DATABASE_URL": url, "FAKE_CRAWL_LOG": str(tmp_path / "crawls.log"), **env}
        return Runner(make_settings(**(settings or {})), schedule, engine, overrides)

    return make


# -- the schedule file -----------------------------------------------------------------------------------------------

def test_the_default_schedule_file_loads():
    schedule = load_schedule(ROOT / "munijobs.toml")
    assert schedule.sources["nav"].interval == timedelta(minutes=10)
    assert schedule.misfire_grace == timedelta(minutes=30) and schedule.maintenance.cron


@pytest.mark.parametrize(("text", "error"), [
    ('[sources.nav]\nevery = "10m"\ncron = "0 * * * *"\n', "exactly one of"),
    ("[sources.nav]\n", "exactly one of"),
    ('[sources.nav]\nevery = "ten minutes"\n', "not a duration"),
    ('[sources.nav]\nevery = "-5m"\n', "not a positive duration"),
    ('[sources.nav]\ncron = "61 * * * *"\n', "invalid cron"),
    ('[sources.nav]\nevery = "1h"\nstart = 1\n', "unknown keys"),
    ('[scheduler]\ntimezone = "Mars/Olympus"\n[sources.nav]\nevery = "1h"\n', "unknown time zone"),
    ('[scheduler]\n', "nothing to schedule"),
    ("[sources.nav\n", "schedule file"),
])
def test_schedule_file_errors(tmp_path, text, error):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScheduleError, match=error):
        load_schedule(path)
    with pytest.raises(ScheduleError, match="not found"):
        load_schedule(tmp_path / "missing.toml")


def test_parse_duration():
    assert [parse_duration(v) for v in ("90s", "10m", "1.5h", "1d", 30)] == [
        timedelta(seconds=90), timedelta(minutes=10), timedelta(minutes=90), timedelta(days=1), timedelta(seconds=30)]


def test_first_run_keeps_the_cadence():
    now = datetime(2026, 3, 10, 12, 0, tzinfo=OSLO)
    every = JobSpec("nav", interval=timedelta(minutes=10))
    assert every.first_run(None, now, OSLO) == now, "never run: run now"
    assert every.first_run(now - timedelta(minutes=4), now, OSLO) == now + timedelta(minutes=6), "just ran: wait"
    assert every.first_run(now - timedelta(hours=5), now, OSLO) == now, "overdue: run once, now"
    daily = JobSpec("maintenance", cron="30 4 * * *")
    assert daily.first_run(datetime(2026, 3, 10, 4, 30, 5, tzinfo=OSLO), now, OSLO) == \
        datetime(2026, 3, 11, 4, 30, tzinfo=OSLO)
    assert daily.first_run(datetime(2026, 3, 9, 4, 30, 5, tzinfo=OSLO), now, OSLO) == now, "missed while down"


def test_restarted_scheduler_keeps_cadence(make_runner, db):
    _, engine = db
    now = datetime.now(UTC)
    add_run(engine, "nav", now - timedelta(minutes=4))
    add_run(engine, "jobbnorge", now - timedelta(hours=3))
    runner = make_runner({"nav": 'every = "10m"', "jobbnorge": 'every = "1h"', "newcomer": 'cron = "0 6 * * *"'},
                         maintenance='cron = "30 4 * * *"')
    scheduler = build_scheduler(runner)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"nav", "jobbnorge", "newcomer", "maintenance"}
    nav_due = now - timedelta(minutes=4) + timedelta(minutes=10)
    assert abs(jobs["nav"].next_run_time - nav_due) < timedelta(seconds=1), "just ran: not rerun"
    for overdue in ("jobbnorge", "newcomer", "maintenance"):
        assert abs(jobs[overdue].next_run_time - now) < timedelta(seconds=5), f"{overdue} overdue: runs once now"
    for job in jobs.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 1800)
    assert type(scheduler._jobstores["default"]).__name__ == "MemoryJobStore"


# -- running crawls --------------------------------------------------------------------------------------------------

def test_crawl_outcomes(make_runner, db):
    _, engine = db
    runner = make_runner({"nav": 'every = "1h"', "jobbnorge": 'every = "1h"'}, FAKE_CRAWL_STATUS_JOBBNORGE="failed")
    assert runner.crawl("nav") == Outcome.OK
    assert runner.crawl("jobbnorge") == Outcome.FAILED
    lease = acquire(engine, "nav", holder="elsewhere:1")
    assert runner.crawl("nav") == Outcome.LOCKED, "a crawl held elsewhere is not duplicated"
    lease.release()
    assert [(r.source, r.status) for r in runs(engine)] == [("nav", "ok"), ("jobbnorge", "failed")]


def test_crash_is_recorded_as_failed(make_runner, db):
    _, engine = db
    runner = make_runner({"nav": 'every = "1h"'}, FAKE_CRAWL_STATUS="crash")
    assert runner.crawl("nav") == Outcome.FAILED
    [run] = runs(engine)
    assert run.status == RunStatus.FAILED and "exited with code 2 without recording its outcome" in run.message


@pytest.mark.parametrize(("items", "status"), [("0", RunStatus.FAILED), ("5", RunStatus.PARTIAL)])
def test_time_limit_stops_the_crawl(make_runner, db, items, status):
    """A run stopped at its time limit is partial when it got postings (the next one goes on), else failed."""
    _, engine = db
    runner = make_runner({"nav": 'every = "1h"\ntime_limit = "0.5s"'}, FAKE_CRAWL_SECONDS="60",
                         FAKE_CRAWL_ITEMS=items)
    assert runner.crawl("nav") == status
    [run] = runs(engine)
    assert run.status == status and run.finished_at is not None
    assert run.message.startswith("stopped by the scheduler at the time limit of 0.5 s")
    assert ("after progress" in run.message) == (status == RunStatus.PARTIAL)


@pytest.mark.parametrize(("items", "status", "alerts"), [("5", RunStatus.PARTIAL, []), ("0", RunStatus.FAILED,
                                                                                    ["failing"])])
def test_only_time_limited_runs_without_progress_raise_the_failing_alert(make_runner, db, items, status, alerts):
    """A first NAV run spans many limited runs: while they yield postings, that is no failure."""
    _, engine = db
    runner = make_runner({"nav": 'every = "1h"\ntime_limit = "0.3s"'}, FAKE_CRAWL_SECONDS="60",
                         FAKE_CRAWL_ITEMS=items)
    assert [runner.crawl("nav") for _ in range(3)] == [status] * 3
    with Session(engine) as session:
        assert session.scalars(select(Alert.rule).where(Alert.rule == "failing")).all() == alerts


@pytest.mark.parametrize(("seconds", "on_term", "status", "message"), [
    ("1", "finish", RunStatus.OK, None),
    ("60", "ignore", RunStatus.FAILED, "stopped by the scheduler at shutdown"),
])
def test_shutdown_lets_a_crawl_finish_within_the_grace(make_runner, db, tmp_path, seconds, on_term, status, message):
    _, engine = db
    grace = 30 if status == RunStatus.OK else 0.2
    runner = make_runner({"nav": 'every = "1h"'}, settings={"SHUTDOWN_GRACE_SECONDS": grace,
                                                             "CRAWL_KILL_GRACE_SECONDS": 0.2},
                         FAKE_CRAWL_SECONDS=seconds, FAKE_CRAWL_ON_TERM=on_term)
    outcomes = []
    thread = threading.Thread(target=lambda: outcomes.append(runner.crawl("nav")))
    thread.start()
    wait_for(lambda: events(tmp_path / "crawls.log", "start"), message="the crawl never started")
    runner.request_stop()
    thread.join(timeout=30)
    assert outcomes == [status]
    [run] = runs(engine)
    assert (run.status, run.message) == (status, message)
    assert runner.crawl("nav") == Outcome.SKIPPED, "nothing new starts after a stop"


def test_once_runs_due_sources_in_order_and_reports_failures(make_runner, db, tmp_path):
    _, engine = db
    add_run(engine, "jobbnorge", datetime.now(UTC) - timedelta(minutes=5))
    sources = {"nav": 'every = "1h"', "jobbnorge": 'every = "1h"', "extra": 'every = "1h"'}
    assert run_once(make_runner(sources, maintenance='cron = "30 4 * * *"')) == 0
    assert [e["source"] for e in events(tmp_path / "crawls.log", "start")] == ["nav", "extra"]
    assert get_state(engine, "_scheduler", "maintenance_started_at"), "maintenance never ran: due"

    assert run_once(make_runner(sources, maintenance='cron = "30 4 * * *"')) == 0
    assert len(events(tmp_path / "crawls.log", "start")) == 2, "nothing is due right after a pass"


def test_scheduler_runs_jobs_and_stops_cleanly(make_runner, db, tmp_path):
    _, engine = db
    runner = make_runner({"nav": 'every = "1s"'}, FAKE_CRAWL_SECONDS="0.2")
    runner.scheduler = build_scheduler(runner)
    thread = threading.Thread(target=runner.scheduler.start)
    thread.start()
    try:
        wait_for(lambda: len(events(tmp_path / "crawls.log", "end")) >= 2, message="the job did not repeat")
    finally:
        runner.request_stop()
        thread.join(timeout=20)
        runner.wait_idle()
    assert not thread.is_alive()
    spans = sorted((e["time"], e["event"]) for e in events(tmp_path / "crawls.log"))
    assert all(a[1] != b[1] for a, b in itertools.pairwise(spans)), "runs never overlap"
    assert {r.status for r in runs(engine)} == {RunStatus.OK}


def test_crawl_command_from_a_string_setting(db):
    from scheduler import crawl_command

    assert crawl_command(make_settings(CRAWL_COMMAND=f"{shlex.quote(sys.executable)} -m munijobs crawl")) == [
        sys.executable, "-m", "munijobs", "crawl"]


# -- the scheduler as a process --------------------------------------------------------------------------------------

def scheduler_process(tmp_path: Path, url: str, schedule: Path, *args: str, **env) -> subprocess.Popen:
    environment = {**os.environ, "SCRAPY_SETTINGS_MODULE": "munijobs.settings", "DATABASE_URL": url,
                   "SCHEDULE_FILE": str(schedule), "CRAWL_COMMAND": shlex.join([sys.executable, str(FAKE_CRAWL)]),
                   "FAKE_CRAWL_LOG": str(tmp_path / "crawls.log"), "LOG_DIR": str(tmp_path / "logs"), **env}
    return subprocess.Popen([sys.executable, "-m", "munijobs", "schedule", *args], cwd=tmp_path, env=environment,
                            stderr=subprocess.PIPE, text=True)


def test_once_exits_non_zero_when_a_source_failed(db, tmp_path):
    url, _ = db
    schedule = write_schedule(tmp_path / "munijobs.toml", {"nav": 'every = "10m"'})
    process = scheduler_process(tmp_path, url, schedule, "--once", FAKE_CRAWL_STATUS="failed")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert [e["status"] for e in events(tmp_path / "crawls.log", "end")] == ["failed"]
    assert "failed: nav" in (tmp_path / "logs" / "scheduler.log").read_text()


@pytest.mark.postgres
def test_two_schedulers_never_crawl_one_source_at_once(postgres_server, tmp_path):
    url, drop = fresh_postgres_database(postgres_server)
    engine = upgrade(get_engine(url))
    schedule = write_schedule(tmp_path / "munijobs.toml", {"nav": 'every = "1s"'})
    processes = [scheduler_process(tmp_path, url, schedule, FAKE_CRAWL_SECONDS="0.8") for _ in range(2)]
    try:
        wait_for(lambda: len(events(tmp_path / "crawls.log", "end")) >= 2, timeout=40,
                 message="the schedulers did not crawl")
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            _, stderr = process.communicate(timeout=30)
            assert process.returncode == 0, stderr
            assert "shutting down" in stderr and "scheduler stopped" in stderr
        spans = sorted((e["time"], e["event"]) for e in events(tmp_path / "crawls.log") if e["event"] != "locked")
        assert all(a[1] != b[1] for a, b in itertools.pairwise(spans)), "two crawls of nav overlapped"
        done = runs(engine)
        assert len(done) >= 2 and all(r.status != RunStatus.RUNNING for r in done)
        assert all(a.finished_at <= b.started_at for a, b in itertools.pairwise(done))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
        engine.dispose()
        drop()
