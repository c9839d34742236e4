"""Reconciliation (storage/reconcile.py, the `reconciliation` health rule): the database holds what a run showed.

The comparison on both databases, the store pipeline recording it, and subprocess crawls of Jobbnorge and NAV against
the local fakes: a clean run reconciles with no alert; a posting the store loses (into the quarantine, or deleted
before the check) raises the alert; the next clean run resolves it.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from munijobs.constants import PostingStatus, RunStatus
from munijobs.health import check_reconciliation, evaluate_run
from munijobs.items import JobPosting, WorkLocation
from storage.db import get_engine, session_scope
from storage.models import Alert, CrawlRun, Posting
from storage.postings import store_batch
from storage.reconcile import Expected, reconcile
from tests.fakes.jobbnorge_server import FakeJobbnorge, Scenario
from tests.fakes.losing_pipeline import LOSE, pipelines_losing
from tests.fakes.nav_server import FakeNav
from tests.fakes.nav_server import Scenario as NavScenario
from tests.pipelines.pipeline_harness import Pipelines
from tests.spiders.nav_harness import FAST_SETTINGS, ROOT, ad, crawl_command, crawl_env, last_run

NOW = datetime(2026, 11, 2, 8, tzinfo=UTC)


def posting(ad_id: str, source: str = "jobbnorge", **values) -> JobPosting:
    defaults = {"title": f"Sykepleier {ad_id}", "employer_name": "Trondheim kommune",
                "description_html": "<p>Trondheim kommune søker sykepleier.</p>",
                "work_locations": [WorkLocation(municipality="TRONDHEIM", postal_code="7010")]}
    return JobPosting(source=source, source_ad_id=ad_id, **{**defaults, **values})


def store(engine, *items: JobPosting) -> None:
    with session_scope(engine) as session:
        store_batch(session, items, now=NOW)


def alerts(database_url: str, source: str) -> list[Alert]:
    with Session(get_engine(database_url)) as session:
        return list(session.scalars(select(Alert).where(Alert.source == source, Alert.rule == "reconciliation")
                                    .order_by(Alert.id)))


# -- the comparison ------------------------------------------------------------------------------------------------

def test_reconcile_counts_stored_expired_missing_unclosed_and_pending(engine):
    store(engine, posting("a"), posting("b"), posting("e"), posting("x"), posting("a", source="nav"))
    store(engine, posting("b", status=PostingStatus.EXPIRED, has_content=False))
    expected = Expected(open={"a", "b", "c", "d"}, closed={"e", "f"}, pending={"d", "f"}, out_of_scope=3)
    result = reconcile(engine, "jobbnorge", expected)
    assert (result.listed, result.stored, result.expired, result.missing) == (3, 1, 1, ("c",))
    assert (result.closed, result.unclosed, result.pending, result.out_of_scope) == (1, ("e",), 2, 3)
    assert not result.clean
    assert result.stats()["reconcile_missing_ids"] == ["c"]

    expected.snapshot = frozenset({"a", "b", "c", "d"})  # a complete list: x is stored active but no longer listed
    assert reconcile(engine, "jobbnorge", expected).unclosed == ("e", "x")


def test_a_change_log_reconciles_on_the_last_word_of_each_ad():
    expected = Expected()
    expected.saw([posting("a"), posting("b"), posting("a", status=PostingStatus.WITHDRAWN, has_content=False)])
    expected.saw([posting("b", status=PostingStatus.EXPIRED, has_content=False), posting("b")])
    assert (expected.open, expected.closed) == ({"b"}, {"a"})


def test_the_store_pipeline_records_the_figures_and_a_deleted_posting_is_missing(database_url):
    pipes = Pipelines(database_url)
    pipes.crawler.spider.reconciliation = Expected(open={"n1", "n2", "n3"}, pending={"n4"})
    pipes.feed(posting("n1", source="nav"), posting("n2", source="nav"), posting("n3", source="nav"))
    pipes.store.close_spider()
    with session_scope(get_engine(database_url)) as session:  # lost between the run and the check
        session.execute(delete(Posting).where(Posting.source_ad_id == "n2"))
    pipes.store.spider_closed(pipes.crawler.spider, "finished")
    run = last_run(database_url)
    assert run.status == RunStatus.OK
    assert {k: v for k, v in run.stats.items() if k.startswith("reconcile_")} == {
        "reconcile_listed": 3, "reconcile_stored": 2, "reconcile_expired": 0, "reconcile_missing": 1,
        "reconcile_closed": 0, "reconcile_unclosed": 0, "reconcile_pending": 1, "reconcile_out_of_scope": 0,
        "reconcile_missing_ids": ["n2"], "reconcile_unclosed_ids": []}
    [alert] = [a for a in evaluate_run(get_engine(database_url), run.id) if a.rule == "reconciliation"]
    assert alert.message == "1 of 3 postings the source showed are not stored active (n2)"


def test_a_failed_run_is_not_reconciled(database_url):
    pipes = Pipelines(database_url)
    pipes.crawler.spider.reconciliation = Expected(open={"n1"})
    pipes.crawler.spider.failure = "feed unreachable"
    pipes.close()
    assert not any(key.startswith("reconcile_") for key in last_run(database_url).stats)


# -- the health rule -----------------------------------------------------------------------------------------------

def run(status: RunStatus = RunStatus.OK, **stats) -> CrawlRun:
    return CrawlRun(source="jobbnorge", started_at=NOW, status=str(status), items_seen=1, stats=stats)


def test_the_rule_fires_on_missing_or_unclosed_and_judges_only_reconciled_runs():
    clean = {"reconcile_listed": 5, "reconcile_missing": 0, "reconcile_unclosed": 0}
    assert check_reconciliation(run(**clean)) == {"reconciliation": None}
    message = check_reconciliation(run(**{**clean, "reconcile_missing": 1, "reconcile_missing_ids": ["310005"],
                                          "reconcile_unclosed": 1, "reconcile_unclosed_ids": ["310004"]}))
    assert message["reconciliation"] == ("1 of 5 postings the source showed are not stored active (310005); 1 postings"
                                         " closed by the source are still active (310004)")
    many = check_reconciliation(run(**{**clean, "reconcile_missing": 3, "reconcile_missing_ids": ["1", "2"]}))
    assert many["reconciliation"] == "3 of 5 postings the source showed are not stored active (1, 2, ...)"
    assert check_reconciliation(run()) == {}
    assert check_reconciliation(run(RunStatus.FAILED, **{**clean, "reconcile_missing": 1})) == {}


# -- Jobbnorge crawls ----------------------------------------------------------------------------------------------

@pytest.fixture
def jobbnorge():
    with FakeJobbnorge(Scenario.from_files()) as server:
        yield server


def crawl_jobbnorge(database_url: str, fake: FakeJobbnorge, lose: str = "") -> RunStatus:
    settings = {**FAST_SETTINGS, "JOBBNORGE_API_URL": fake.base_url, "JOBBNORGE_DETAIL_URL": fake.base_url,
                "BRREG_API_URL": fake.brreg_url}
    if lose:
        settings["ITEM_PIPELINES"] = pipelines_losing()
    command = [sys.executable, "-m", "munijobs", "crawl", "jobbnorge", *(f"-s{k}={v}" for k, v in settings.items())]
    result = subprocess.run(command, cwd=ROOT, env={**crawl_env(database_url), LOSE: lose}, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return last_run(database_url)


def reconcile_stats(run_row: CrawlRun) -> dict:
    return {k.removeprefix("reconcile_"): v for k, v in run_row.stats.items()
            if k.startswith("reconcile_") and not k.endswith("_ids")}


def test_jobbnorge_clean_runs_reconcile_with_no_alert(database_url, jobbnorge):
    first = crawl_jobbnorge(database_url, jobbnorge)
    assert reconcile_stats(first) == {"listed": 7, "stored": 7, "expired": 0, "missing": 0, "closed": 0,
                                      "unclosed": 0, "pending": 0, "out_of_scope": 4}
    jobbnorge.scenario.day = "2"  # 310003/310004 dropped, 310013 (404) and 310014 (unpublished) pending
    second = crawl_jobbnorge(database_url, jobbnorge)
    assert reconcile_stats(second) == {"listed": 7, "stored": 7, "expired": 0, "missing": 0, "closed": 2,
                                       "unclosed": 0, "pending": 2, "out_of_scope": 4}
    assert not alerts(database_url, "jobbnorge")


def test_jobbnorge_a_lost_posting_raises_the_alert_and_the_next_run_resolves_it(database_url, jobbnorge):
    lossy = crawl_jobbnorge(database_url, jobbnorge, lose="310005")
    assert lossy.status == RunStatus.PARTIAL  # the store quarantined it
    assert (lossy.stats["reconcile_missing"], lossy.stats["reconcile_missing_ids"]) == (1, ["310005"])
    [alert] = alerts(database_url, "jobbnorge")
    assert alert.resolved_at is None and "310005" in alert.message

    jobbnorge.reset_counts()
    clean = crawl_jobbnorge(database_url, jobbnorge)
    assert jobbnorge.hits["/api/joblisting?jobId=310005&languageId=1"] == 1  # not in the database: fetched again
    assert (clean.status, clean.stats["reconcile_missing"], clean.stats["reconcile_stored"]) == (RunStatus.OK, 0, 7)
    [alert] = alerts(database_url, "jobbnorge")
    assert alert.resolved_at is not None


# -- NAV crawls ----------------------------------------------------------------------------------------------------

@pytest.fixture
def nav():
    with FakeNav(NavScenario.from_files(page_size=4, visible=14)) as server:
        yield server


def crawl_nav(database_url: str, fake: FakeNav, lose: str = "") -> CrawlRun:
    overrides = {"ITEM_PIPELINES": pipelines_losing()} if lose else {}
    result = subprocess.run(crawl_command(fake, **overrides), cwd=ROOT, env={**crawl_env(database_url), LOSE: lose},
                            capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return last_run(database_url)


def test_nav_clean_runs_reconcile_the_pages_read_with_no_alert(database_url, nav):
    first = crawl_nav(database_url, nav)  # six municipal ads yielded, nothing stored to close
    assert reconcile_stats(first) == {"listed": 6, "stored": 6, "expired": 0, "missing": 0, "closed": 0,
                                      "unclosed": 0, "pending": 0, "out_of_scope": 0}
    nav.scenario.visible = None  # trd-1 expires, ulvik-1 and vlfk-1 are withdrawn; leka-2, trd-2, iks-1 updated
    second = crawl_nav(database_url, nav)
    assert reconcile_stats(second) == {"listed": 3, "stored": 3, "expired": 0, "missing": 0, "closed": 3,
                                       "unclosed": 0, "pending": 0, "out_of_scope": 0}
    assert not alerts(database_url, "nav")


def test_nav_a_lost_ad_raises_the_alert_and_the_next_clean_run_resolves_it(database_url, nav):
    lossy = crawl_nav(database_url, nav, lose=ad("iks-1"))
    assert lossy.stats["reconcile_missing_ids"] == [ad("iks-1")]
    [alert] = alerts(database_url, "nav")
    assert alert.resolved_at is None and ad("iks-1") in alert.message
    nav.scenario.visible = None
    clean = crawl_nav(database_url, nav)  # iks-1 changes again on the new pages: stored now
    assert (clean.stats["reconcile_missing"], clean.status) == (0, RunStatus.OK)
    [alert] = alerts(database_url, "nav")
    assert alert.resolved_at is not None
