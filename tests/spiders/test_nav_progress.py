"""A slow NAV and time-limited runs: every run stores what it fetched, and the next goes on where it stopped."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from scrapy.settings import Settings
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler import Runner, load_schedule
from storage.db import get_engine
from storage.models import CrawlRun, Posting
from tests.fakes.nav_server import FakeNav, Scenario, page_item_id
from tests.spiders.nav_harness import ROOT, crawl, crawl_command, crawl_env, postings, state

ADS = 24
DELAY = 0.4
"""Seconds each detail answers late; with 2 in flight about 5 details a second."""
TIME_LIMIT = 2.5
"""Seconds a limited run may read details before it is stopped as the scheduler does (SIGTERM)."""
SLOW = {"NAV_DETAIL_CONCURRENCY": "2", "LOGSTATS_INTERVAL": "1"}
TOWNS = ("Leka", "Ulvik", "Træna", "Røst", "Utsira", "Kvitsøy")


def _ad_uuid(number: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"munijobs-test/slow-nav/{number}"))


def slow_scenario() -> Scenario:
    """ADS municipal ads on ONE feed page (NAV's page of 1000), every detail answered DELAY seconds late."""
    entries, details = [], {}
    start = datetime.fromisoformat("2026-10-01T08:00:00+02:00")
    for number in range(ADS):
        ad_id, town = _ad_uuid(number), TOWNS[number % len(TOWNS)]
        changed = (start + timedelta(minutes=7 * number)).isoformat()
        title = f"Assistent i {'SFO' if number % 2 else 'barnehage'} nr. {number}"
        entries.append({"uuid": ad_id, "status": "ACTIVE", "title": title, "businessName": f"{town} kommune",
                        "municipal": town.upper(), "sistEndret": changed})
        details[ad_id] = {changed: {
            "uuid": ad_id, "published": changed, "expires": "2027-01-15T00:00:00+01:00", "updated": changed,
            "title": title, "jobtitle": title,
            "description": f"<p>{town} kommune søker assistent. Kontakt enhetsleder på 77 12 34 {number:02d}.</p>",
            "workLocations": [{"country": "NORGE", "city": town.upper(), "municipal": town.upper(),
                               "postalCode": "8000", "county": "NORDLAND", "address": "Rådhusveien 1"}],
            "contactList": [],
            "employer": {"name": f"{town} kommune", "orgnr": None, "description": "", "homepage": ""},
            "sourceurl": f"https://{town.lower()}.example/jobb/{number}", "applicationDue": "10.01.2027",
            "engagementtype": "Fast", "extent": "Deltid", "positioncount": "1", "sector": "Offentlig",
            "link": f"https://arbeidsplassen.nav.no/stillinger/stilling/{ad_id}",
        }}
    return Scenario(entries=entries, details=details, page_size=1000, detail_delay=DELAY)


@pytest.fixture
def fake():
    with FakeNav(slow_scenario()) as server:
        yield server


def detail_hits(fake: FakeNav) -> dict[str, int]:
    return {path.rsplit("/", 1)[1]: count for path, count in fake.hits.items() if "/feedentry/" in path}


def limited_run(database_url: str, fake: FakeNav, log: Path, grace: float = 20) -> float:
    """A crawl stopped like the scheduler does at its time limit (SIGTERM); returns seconds it took to stop."""
    with log.open("w") as stderr:
        process = subprocess.Popen(crawl_command(fake, **SLOW), cwd=ROOT, env=crawl_env(database_url),
                                   stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        try:
            deadline = time.monotonic() + 90  # the crawl process starts slowly on a busy machine
            while not detail_hits(fake) and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            assert detail_hits(fake), "the crawl never asked for a detail"
            time.sleep(TIME_LIMIT)
            process.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            process.wait(timeout=grace)  # stops by itself within the grace: no SIGKILL needed
            return time.monotonic() - stopping
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def runs(database_url: str) -> list[CrawlRun]:
    with Session(get_engine(database_url)) as session:
        return list(session.scalars(select(CrawlRun).where(CrawlRun.source == "nav").order_by(CrawlRun.id)))


def test_time_limited_runs_always_store_and_together_store_every_ad_once(database_url, fake, tmp_path):
    everything = {_ad_uuid(number) for number in range(ADS)}
    took = limited_run(database_url, fake, tmp_path / "run1.log")
    first = set(postings(database_url))
    assert 0 < len(first) < ADS, "the first run stores what it fetched before its time limit"
    assert took < 10, "the crawl stops promptly, not after the page"
    assert state(database_url, "cursor") == page_item_id(0), "the cursor stays on the unfinished page"
    progress = state(database_url, "page_progress")
    assert progress["page"] == page_item_id(0)
    assert first <= set(progress["done"]) < everything
    log = (tmp_path / "run1.log").read_text()
    assert "details/min" in log and "in flight" in log and "entries done" in log

    fetched_before = detail_hits(fake)
    fake.reset_counts()
    limited_run(database_url, fake, tmp_path / "run2.log")
    second = set(postings(database_url))
    assert first < second, "the second run goes on and stores more"
    assert not set(detail_hits(fake)) & set(progress["done"]), "done entries are not fetched again"
    assert set(state(database_url, "page_progress")["done"]) >= second

    fetched_second = detail_hits(fake)
    fake.reset_counts()
    result = crawl(database_url, fake, timeout=120, **SLOW)
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(postings(database_url)) == everything
    assert state(database_url, "page_progress") == {}
    assert not set(detail_hits(fake)) & second
    new = [run.items_new for run in runs(database_url)]
    assert sum(new) == ADS and all(count > 0 for count in new), new
    assert sum(run.items_updated for run in runs(database_url)) == 0
    total_fetches = sum(fetched_before.values()) + sum(fetched_second.values()) + sum(detail_hits(fake).values())
    assert total_fetches <= ADS + 2 * int(SLOW["NAV_DETAIL_CONCURRENCY"]), "only details in flight at a stop repeat"
    with Session(get_engine(database_url)) as session:
        rows = session.scalar(select(func.count()).select_from(Posting).where(Posting.source == "nav"))
    assert rows == ADS


def test_a_run_killed_mid_page_keeps_its_last_checkpoint(database_url, fake, tmp_path):
    """SIGKILL (no chance to clean up): what was stored at the last checkpoint (every 5 s) stays, consistent."""
    fake.scenario.detail_delay = 0.6
    process = subprocess.Popen(crawl_command(fake, NAV_DETAIL_CONCURRENCY="1"), cwd=ROOT, env=crawl_env(database_url),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not detail_hits(fake) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert detail_hits(fake), "the crawl never asked for a detail"
        time.sleep(7)  # past the first checkpoint, before the page's end (24 details of 0.6 s one at a time)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    kept = set(postings(database_url))
    progress = state(database_url, "page_progress")
    assert kept and progress["page"] == page_item_id(0) and kept <= set(progress["done"])
    assert len(kept) < ADS and state(database_url, "cursor") == page_item_id(0)

    time.sleep(0.5)
    fake.scenario.detail_delay = 0
    fake.reset_counts()
    result = crawl(database_url, fake)
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(postings(database_url)) == {_ad_uuid(number) for number in range(ADS)}
    assert not set(detail_hits(fake)) & set(progress["done"])


@pytest.mark.parametrize(("delay", "limit"), [(2.0, "10s"), (15.0, "40s")])
def test_scheduled_runs_with_a_time_limit_make_progress(database_url, fake, tmp_path, caplog, delay, limit):
    """The scheduler itself (SIGTERM at `time_limit`): each run stores new ads and moves the checkpoint, also when
    every detail takes 15 s as NAV's do (2 in flight: the page needs 180 s, a run gets 40)."""
    fake.scenario.detail_delay = delay
    schedule_file = tmp_path / "munijobs.toml"
    schedule_file.write_text('[scheduler]\ntimezone = "Europe/Oslo"\n\n[sources.nav]\nevery = "1h"\n'
                             f'time_limit = "{limit}"\n', encoding="utf-8")
    python, *rest = crawl_command(fake, **SLOW)  # python -m munijobs crawl nav -s...: the source goes last
    command = [python, "-m", "munijobs", "crawl", *(option for option in rest if option.startswith("-s"))]
    settings = Settings()
    settings.setmodule("munijobs.settings", priority="project")
    settings.setdict({"CRAWL_COMMAND": command, "CRAWL_KILL_GRACE_SECONDS": 20}, priority="cmdline")
    engine = get_engine(database_url)
    runner = Runner(settings, load_schedule(schedule_file), engine, crawl_env(database_url))
    done_before: set[str] = set()
    stored_before: set[str] = set()
    with caplog.at_level(logging.INFO, logger="scheduler"):
        for _ in range(2):
            assert runner.crawl("nav") == "partial", "a stopped run that made progress is no failure"
            stored, progress = set(postings(database_url)), state(database_url, "page_progress")
            assert stored_before < stored, "every limited run stores new ads"
            assert done_before < set(progress["done"]), "and moves its checkpoint"
            assert state(database_url, "cursor") == page_item_id(0)
            stored_before, done_before = stored, set(progress["done"])
    assert "stopping the crawl" in caplog.text and "did not stop within" not in caplog.text
    fake.scenario.detail_delay = 0
    result = crawl(database_url, fake)
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(postings(database_url)) == {_ad_uuid(number) for number in range(ADS)}
    assert sum(run.items_new for run in runs(database_url)) == ADS
