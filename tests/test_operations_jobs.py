"""Jobs that meet (issue 10): first commands on a new database racing the migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from storage.db import current_revision, get_engine, migration_lock, upgrade


def test_concurrent_first_upgrades_of_an_empty_database_all_succeed(database_url):
    engine = get_engine(database_url)
    barrier, errors = threading.Barrier(4), []

    def first_command():
        barrier.wait()
        try:
            upgrade(engine)
        except Exception as exc:  # the race shows as IntegrityError or "table ads already exists"
            errors.append(exc)

    threads = [threading.Thread(target=first_command) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(engine) is not None


def test_a_second_process_waits_for_the_migration_then_proceeds(database_url, tmp_path):
    engine = get_engine(database_url)
    upgrade(engine)
    with migration_lock(engine):
        waiting = subprocess.Popen([sys.executable, "-m", "munijobs", "db", "upgrade"], cwd=tmp_path, text=True,
                                   env={**os.environ, "DATABASE_URL": database_url}, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        try:
            waiting.wait(timeout=6)
            raise AssertionError("the upgrade did not wait for the one in progress")
        except subprocess.TimeoutExpired:
            pass
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert "is at revision" in out


def test_scheduled_maintenance_is_skipped_while_another_pass_holds_the_lock(engine):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from scrapy.settings import Settings

    from scheduler import Outcome, Runner, Schedule
    from storage.locks import MAINTENANCE, holding

    schedule = Schedule(ZoneInfo("Europe/Oslo"), timedelta(minutes=30), {}, None)
    runner = Runner(Settings({"CRAWL_COMMAND": "true", "BRREG_API_URL": "http://127.0.0.1:9"}), schedule, engine)
    with holding(engine, MAINTENANCE):
        assert runner.maintain() == Outcome.LOCKED
