"""What an operator, a cron job and a mistyping user meet (issue 14): one line, the right exit, nothing recorded."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from munijobs.settings import KNOWN
from storage.db import ensure_source, get_engine, reading_engine, session_scope, upgrade
from storage.models import CrawlRun
from storage.runs import RunCounts, finish_run, start_run

ROOT = Path(__file__).resolve().parents[1]


def munijobs(*args: str, cwd, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("SCHEDULE_FILE", "DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "munijobs", *args], cwd=cwd, env={**environment, **env},
                          capture_output=True, text=True, timeout=120)


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def run_count(engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(CrawlRun))


# -- -s NAME=VALUE --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pair", "named"), [
    ("NAV_DETAIL_CONCURRENCY=0", "NAV_DETAIL_CONCURRENCY=0 is out of range"),
    ("NAV_DETAIL_CONCURRENCY=four", "not a whole number"),
    ("NAV_DETAIL_CONCURENCY=4", "did you mean NAV_DETAIL_CONCURRENCY"),
    ("NAV_FEED_URL=ftp://example.org", "not an http:// or https:// URL"),
    ("BRREG_API_URL=localhost:9", "not an http:// or https:// URL"),
    ("EMPLOYER_SCOPE=private", "use one of municipal, public, all"),
    ("DOWNLOAD_DELAY=soon", "not a number"),
])
def test_a_refused_setting_is_one_line_exit_2_and_records_no_run(database_url, tmp_path, pair, named):
    engine = upgrade(get_engine(database_url))
    result = munijobs("crawl", "nav", "-s", pair, cwd=tmp_path, DATABASE_URL=database_url)
    assert result.returncode == 2
    assert named in one_line(result)
    assert run_count(engine) == 0


@pytest.mark.parametrize(("name", "value", "named"), [
    ("NAV_FEED_LOOKBACK_DAYS", "-3", "environment variable NAV_FEED_LOOKBACK_DAYS=-3 is out of range"),
    ("CRAWL_COMMAND", "'unbalanced", "is not a command line"),
    ("ALERT_WEBHOOK_URL", "hooks.example.org/x", "is not an http:// or https:// URL"),
])
def test_a_bad_environment_value_is_one_line_exit_2(tmp_path, name, value, named):
    result = munijobs("crawl", "nav", cwd=tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'm.db'}", **{name: value})
    assert result.returncode == 2
    assert named in one_line(result)
    assert not (tmp_path / "m.db").exists()


def test_every_known_setting_has_a_valid_default():
    from munijobs.settings import convert

    for known in KNOWN.values():
        convert(known, known.default)
    assert {"NAV_DETAIL_CONCURRENCY", "EMPLOYER_SCOPE", "NAV_FEED_URL", "DATABASE_URL"} <= set(KNOWN)


# -- the database --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["export", "-o", "out.csv"], ["search", "sykepleier"], ["stats"],
                                     ["report", "-o", "r.html"], ["status"], ["browse", "--no-open"],
                                     ["maintenance"], ["renormalise"]])
def test_reading_commands_refuse_a_database_file_that_does_not_exist(tmp_path, command):
    result = munijobs(*command, cwd=tmp_path, DATABASE_URL="sqlite:///typo.db")
    assert result.returncode == 2
    assert one_line(result).endswith("no database at typo.db: run `munijobs crawl` or `munijobs db upgrade` first")
    assert not (tmp_path / "typo.db").exists()


def test_db_upgrade_still_creates_the_database(tmp_path):
    result = munijobs("db", "upgrade", cwd=tmp_path, DATABASE_URL="sqlite:///new.db")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new.db").is_file()


@pytest.mark.parametrize(("url", "named"), [
    ("demo.db", "for a SQLite file write sqlite:///demo.db"),
    ("mysql://x@localhost/jobs", "unsupported DATABASE_URL"),
    ("postgres://x@localhost/jobs", "postgresql://"),
    ("sqlite:///no/such/dir/m.db", "cannot use the database sqlite:///no/such/dir/m.db"),
    ("postgresql+psycopg://postgres@127.0.0.1:5432/munijobs_no_such_database", "does not exist"),
    ("://", "is not a database URL"),
])
def test_every_bad_database_url_exits_2(tmp_path, url, named):
    result = munijobs("db", "upgrade", cwd=tmp_path, DATABASE_URL=url)
    assert result.returncode == 2, result.stderr
    assert named in one_line(result)


def test_error_messages_name_the_database_of_dash_s(tmp_path):
    result = munijobs("crawl", "nav", "-s", "DATABASE_URL=sqlite:///no/such/dir/m.db", cwd=tmp_path,
                      DATABASE_URL=f"sqlite:///{tmp_path / 'env.db'}")
    assert result.returncode == 2
    line = one_line(result)
    assert "sqlite:///no/such/dir/m.db" in line and "env.db" not in line


def test_a_read_only_sqlite_file_is_read_without_writing(tmp_path):
    path = tmp_path / "shared.db"
    engine = upgrade(get_engine(f"sqlite:///{path}"))
    for source in ("nav", "jobbnorge"):  # every scheduled source has run, so status is healthy
        ensure_source(engine, source)
        finish_run(engine, start_run(engine, source), "ok", RunCounts(items_seen=3))
    engine.dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for side in (tmp_path / "shared.db-wal", tmp_path / "shared.db-shm"):
        side.unlink(missing_ok=True)
    path.chmod(0o444)
    before = path.stat().st_mtime_ns
    reader = reading_engine(f"sqlite:///{path}")
    assert "mode=ro" in str(reader.url)
    assert run_count(reader) == 2
    for command in (["stats"], ["export", "-o", "-"], ["search", "sykepleier"], ["status"]):
        result = munijobs(*command, cwd=tmp_path, DATABASE_URL=f"sqlite:///{path}",
                          SCHEDULE_FILE=str(ROOT / "munijobs.toml"))
        assert "unable to open" not in result.stderr and "readonly" not in result.stderr, result.stderr
        assert result.returncode == 0, result.stderr
    assert path.stat().st_mtime_ns == before
    assert not (tmp_path / "shared.db-wal").exists() or (tmp_path / "shared.db-wal").stat().st_size == 0


# -- status and the schedule -----------------------------------------------------------------------------------------

def test_status_from_another_directory_finds_the_checkouts_schedule(database_url, tmp_path):
    """A source that last ran three days ago is overdue, whatever directory monitoring runs status from."""
    engine = upgrade(get_engine(database_url))
    run_id = start_run(engine, "nav")
    finish_run(engine, run_id, "ok", RunCounts(items_seen=3))
    with session_scope(engine) as session:
        session.get(CrawlRun, run_id).started_at = datetime.now(UTC) - timedelta(days=3)
    elsewhere = tmp_path / "monitoring"
    elsewhere.mkdir()
    result = munijobs("status", cwd=elsewhere, DATABASE_URL=database_url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "overdue" in result.stdout


def test_status_without_a_schedule_is_not_healthy(database_url, tmp_path):
    engine = upgrade(get_engine(database_url))
    run_id = start_run(engine, "nav")
    finish_run(engine, run_id, "ok", RunCounts(items_seen=3))
    result = munijobs("status", cwd=tmp_path, DATABASE_URL=database_url,
                      SCHEDULE_FILE=str(tmp_path / "nowhere.toml"))
    assert result.returncode == 1
    assert "no schedule file" in result.stderr and "health unknown" in result.stderr


def test_an_unknown_source_in_the_schedule_names_file_section_and_known_sources(tmp_path):
    schedule = tmp_path / "munijobs.toml"
    schedule.write_text('[sources.navv]\nevery = "10m"\n')
    result = munijobs("schedule", "--once", cwd=tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'm.db'}")
    assert result.returncode == 2
    line = one_line(result)
    assert str(schedule) in line and "[sources.navv]" in line and "known sources: jobbnorge, nav" in line


@pytest.mark.parametrize(("table", "named"), [('every = "soon"', "[sources.nav] every"),
                                              ('every = "10m"\ntime_limit = "-1h"', "[sources.nav] time_limit")])
def test_a_bad_duration_names_file_and_section(tmp_path, table, named):
    from scheduler import ScheduleError, load_schedule

    schedule = tmp_path / "munijobs.toml"
    schedule.write_text(f"[sources.nav]\n{table}\n")
    with pytest.raises(ScheduleError) as caught:
        load_schedule(schedule, known_sources=["nav"])
    assert str(schedule) in str(caught.value) and named in str(caught.value)


# -- export -o / report -o -------------------------------------------------------------------------------------------

def test_export_never_overwrites_the_database_it_reads(tmp_path):
    upgrade(get_engine(f"sqlite:///{tmp_path / 'm.db'}")).dispose()
    (tmp_path / "link.csv").symlink_to(tmp_path / "m.db")
    before = (tmp_path / "m.db").read_bytes()
    for target in ("m.db", "link.csv", "m.db-wal"):
        result = munijobs("export", "-o", target, cwd=tmp_path, DATABASE_URL="sqlite:///m.db")
        assert result.returncode == 2
        assert "is the database being read" in one_line(result)
    assert (tmp_path / "m.db").read_bytes() == before


@pytest.mark.parametrize("command", [["export", "--format", "jsonl"], ["report"]])
def test_output_follows_a_symlink_instead_of_replacing_it(engine, database_url, tmp_path, command):
    real = tmp_path / "real.out"
    real.write_text("old")
    (tmp_path / "link.out").symlink_to(real)
    result = munijobs(*command, "-o", "link.out", cwd=tmp_path, DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "link.out").is_symlink() and real.read_text() != "old"


@pytest.mark.parametrize("command", [["export"], ["report"]])
def test_a_fifo_target_is_written_not_replaced(engine, database_url, tmp_path, command):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    result = munijobs(*command, "-o", str(fifo), cwd=tmp_path, DATABASE_URL=database_url)
    received, _ = reader.communicate(timeout=60)
    assert result.returncode == 0, result.stderr
    assert fifo.is_fifo(), "the FIFO was replaced by a regular file"
    assert received.startswith(b"ad_id," if command == ["export"] else b"<!DOCTYPE html>")


@pytest.mark.parametrize("command", [["export", "-o"], ["report", "-o"]])
def test_an_unwritable_target_is_one_line_exit_2(engine, database_url, tmp_path, monkeypatch, command):
    """What a read-only file system or a denied directory answers (the tests run as root, so it is simulated)."""
    import errno

    from click.testing import CliRunner

    from munijobs.cli import cli

    def refuse(*_args, **_kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("munijobs.analysts.export.tempfile.mkstemp", refuse)
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, [*command, str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Read-only file system" in lines[0], result.stderr


# -- filter values ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "named"), [
    ([b"export", b"-o", b"-", b"--employer", b"Bod\xf8"], "is not UTF-8 text"),
    ([b"stats", b"--municipality", b"Bod\xf8"], "is not UTF-8 text"),
    ([b"search", b"Bod\xf8"], "is not UTF-8 text"),
    ([b"export", b"-o", b"-", b"--employer", b"x" * 100_000], "--employer is 100,000 characters long"),
    ([b"search", b" ".join([b"ab"] * 220)], "QUERY has 220 words"),
])
def test_bad_filter_values_are_one_line_exit_2(engine, database_url, tmp_path, args, named):
    result = subprocess.run([sys.executable, "-m", "munijobs", *args], cwd=tmp_path, capture_output=True,
                            timeout=120, env={**os.environ, "DATABASE_URL": database_url, "LC_ALL": "C.UTF-8"})
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert len(stderr.strip().splitlines()) == 1 and named in stderr and "Traceback" not in stderr, stderr


# -- quiet, honest output ---------------------------------------------------------------------------------------------

def test_no_remote_control_server_unless_asked_for():
    """Scrapy's remote-control server and Telnet console execute what they are sent: neither starts by default."""
    from scrapy import Spider
    from scrapy.exceptions import NotConfigured
    from scrapy.extensions.remote_control import RemoteControl
    from scrapy.utils.test import get_crawler

    from munijobs.cli import project_settings

    settings = project_settings()
    with pytest.raises(NotConfigured):
        RemoteControl.from_crawler(get_crawler(Spider, {"REMOTE_CONTROL_ENABLED": settings["REMOTE_CONTROL_ENABLED"]}))
    assert not settings.getbool("TELNETCONSOLE_ENABLED")
    assert project_settings({"REMOTE_CONTROL_ENABLED": "1"}).getbool("REMOTE_CONTROL_ENABLED")


def test_an_unreachable_source_is_clear_lines_without_a_traceback(database_url, tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = munijobs("crawl", "nav", "-s", f"NAV_FEED_URL=http://127.0.0.1:{port}", "-s", "RETRY_TIMES=0",
                      cwd=tmp_path, DATABASE_URL=database_url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("munijobs: nav: run 1 failed")


def test_ci_takes_the_seed_ad_from_shared_beside_the_checkout():
    script = (ROOT / ".ci" / "run").read_text()
    assert "/work/shared" not in script
    assert '$(cd .. && pwd)/shared/examples/seed-ad.txt' in script


def test_scheduler_log_names_the_time_zone_and_agrees_with_status(database_url, tmp_path):
    """`schedule --once` says when a source is next due, with its zone; status shows the same moment in UTC."""
    engine = upgrade(get_engine(database_url))
    run_id = start_run(engine, "nav")
    finish_run(engine, run_id, "ok", RunCounts(items_seen=3))
    with session_scope(engine) as session:
        started = session.get(CrawlRun, run_id).started_at
    (tmp_path / "munijobs.toml").write_text('[scheduler]\ntimezone = "Europe/Oslo"\n[sources.nav]\nevery = "6h"\n')
    once = munijobs("schedule", "--once", cwd=tmp_path, DATABASE_URL=database_url)
    assert once.returncode == 0, once.stderr
    due = started + timedelta(hours=6)
    oslo = due.astimezone(ZoneInfo("Europe/Oslo"))
    assert f"nav: not due until {oslo:%Y-%m-%d %H:%M:%S %Z} ({due.astimezone(UTC):%H:%M} UTC)" in once.stderr
    stamp = once.stderr.splitlines()[0].split(" [")[0]
    assert stamp[-5] in "+-" and stamp[-4:].isdigit(), f"log time without its zone: {stamp!r}"
    status = munijobs("status", cwd=tmp_path, DATABASE_URL=database_url)
    assert f"{due.astimezone(UTC):%Y-%m-%d %H:%M}" in status.stdout
