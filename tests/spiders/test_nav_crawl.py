"""The nav spider end to end: subprocess crawls against the local fake of NAV's feed and Brønnøysund."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from munijobs.constants import PostingStatus, RunStatus
from storage.db import get_engine
from tests.fakes.nav_server import FakeNav, Fault, Scenario, page_item_id
from tests.spiders.nav_harness import (
    CONTACT_TRACES,
    ROOT,
    ad,
    all_text,
    crawl,
    crawl_command,
    crawl_env,
    detail_hits,
    feed_requests,
    last_run,
    postings,
    state,
)

RUN_ONE = 14
"""Change-log entries published before the first run; the rest (up to 20) appear before the second."""
MUNICIPAL_RUN_ONE = {"leka-1", "trd-1", "ulvik-1", "vlfk-1", "iks-1", "kauto-1"}


@pytest.fixture
def fake():
    with FakeNav(Scenario.from_files(page_size=4, visible=RUN_ONE)) as server:
        yield server


def ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr[-4000:]


def test_two_runs_store_exactly_what_the_feed_says(database_url, fake):
    ok(crawl(database_url, fake))
    stored = postings(database_url)
    assert set(stored) == {ad(key) for key in MUNICIPAL_RUN_ONE}
    assert last_run(database_url).status == RunStatus.OK
    leka = stored[ad("leka-1")]
    assert leka.title == "Pedagogisk leder Leka barnehage (ny frist)"  # the update, not the first version
    assert (leka.employer_orgnr, leka.employer_parent_orgnr, leka.employer_org_form) == (
        "910000001",
        "920000001",
        "KOMM",
    )
    assert leka.deadline_raw == "22.10.2026" and leka.origin_url.endswith("/Public/4711")
    trondheim = stored[ad("trd-1")]  # through an ORGL level up to the kommune
    assert (trondheim.employer_parent_orgnr, trondheim.employer_org_form) == ("920000003", "KOMM")
    assert trondheim.employer_scope_method == "brreg" and trondheim.positions_raw == "2"
    assert stored[ad("iks-1")].employer_org_form == "IKS"
    assert stored[ad("ulvik-1")].employer_scope_method == "name"  # no org number
    assert stored[ad("kauto-1")].employer_scope_method == "name"  # org number unknown to Brønnøysund
    assert "contactList" not in str(leka.extra)
    assert state(database_url, "cursor") == page_item_id(12)  # the tip page, kept
    first_request = feed_requests(fake)[0]
    assert first_request[1] == "/api/v1/feed" and "if-modified-since" in first_request[2]
    for key in ("leka-1", "trd-1", "olsen-1", "ulvik-1", "nav-1", "vlfk-1", "iks-1", "kauto-1", "gone-1", "brevik-1"):
        assert detail_hits(fake, key) == 1, key
    for key in ("hansen-1", "olsen-2", "masked-1"):  # decided from the feed entry: private form, known employer, masked
        assert detail_hits(fake, key) == 0, key

    fake.reset_counts()
    fake.scenario.visible = None  # the tip grows
    ok(crawl(database_url, fake))
    requests = feed_requests(fake)
    assert requests[0][1] == f"/api/v1/feed/{page_item_id(12)}"
    assert all("if-modified-since" not in headers and "if-none-match" not in headers for _, _, headers in requests)
    assert {path for path in fake.hits if path.startswith("/api/v1/feedentry/")} == {
        f"/api/v1/feedentry/{ad(key)}" for key in ("leka-2", "vlfk-1", "trd-2", "iks-1")
    }
    assert all(count == 1 for path, count in fake.hits.items() if path.startswith("/api/v1/feedentry/"))
    assert not [path for path in fake.hits if path.startswith("/enhetsregisteret")]  # employers come from the cache
    stored = postings(database_url)
    assert set(stored) == {ad(key) for key in MUNICIPAL_RUN_ONE | {"leka-2", "trd-2"}}
    trondheim = stored[ad("trd-1")]
    assert trondheim.status == PostingStatus.EXPIRED and trondheim.title == "Sykepleier natt, Helsehuset"
    assert trondheim.closed_at is not None
    assert stored[ad("ulvik-1")].status == PostingStatus.WITHDRAWN  # closed before its expiry
    vestland = stored[ad("vlfk-1")]  # the detail came back masked: withdrawn, content kept
    assert vestland.status == PostingStatus.WITHDRAWN and vestland.title == "Lektor i norsk"
    assert stored[ad("leka-2")].status == PostingStatus.ACTIVE
    assert stored[ad("iks-1")].title == "Brannkonstabel (forlenget frist)"  # an update: same uuid, newer sistEndret
    assert state(database_url, "cursor") == page_item_id(18)

    text = all_text(get_engine(database_url))
    assert "Lektor i norsk" in text
    for trace in CONTACT_TRACES:
        assert trace not in text, trace


@pytest.mark.parametrize(
    ("scope", "extra"),
    [("public", {"nav-1", "brevik-1"}), ("all", {"nav-1", "brevik-1", "olsen-1", "olsen-2", "hansen-1"})],
)
def test_employer_scope_setting(database_url, fake, scope, extra):
    ok(crawl(database_url, fake, EMPLOYER_SCOPE=scope))
    stored = postings(database_url)
    assert set(stored) == {ad(key) for key in MUNICIPAL_RUN_ONE | extra}
    if scope == "public":
        assert (stored[ad("nav-1")].employer_parent_orgnr, stored[ad("nav-1")].employer_org_form) == (
            "920000007",
            "STAT",
        )
        assert stored[ad("brevik-1")].employer_scope_method == "name"


def test_retries_backoff_and_a_token_refresh(database_url, fake):
    fake.scenario.faults = [
        Fault(path=f"^/api/v1/feed/{page_item_id(3)}$", status=500, times=1),
        Fault(path=f"/feedentry/{ad('iks-1')}$", status=429, times=1, headers={"Retry-After": "1"}),
        Fault(path=f"/feedentry/{ad('kauto-1')}$", status=503, times=2),
    ]
    ok(crawl(database_url, fake, NAV_API_TOKEN="eyJexpired.private.token"))
    assert set(postings(database_url)) == {ad(key) for key in MUNICIPAL_RUN_ONE}
    assert last_run(database_url).status == RunStatus.OK
    assert fake.hits["/api/publicToken"] == 1
    assert fake.hits[f"/api/v1/feed/{page_item_id(3)}"] == 2
    assert detail_hits(fake, "kauto-1") == 3
    first, retry = (moment for moment, *_ in fake.requests_to(f"/api/v1/feedentry/{ad('iks-1')}"))
    assert retry - first >= 0.95  # Retry-After honoured


def test_details_that_fail_are_kept_for_the_next_run(database_url, fake):
    fake.scenario.faults = [Fault(path=f"/feedentry/{ad('vlfk-1')}$", status=500, times=100)]
    result = crawl(database_url, fake, RETRY_TIMES="1")
    ok(result)
    run = last_run(database_url)
    assert run.status == RunStatus.PARTIAL
    assert "could not be fetched" in result.stderr
    assert state(database_url, "pending_details") == [ad("vlfk-1")]
    assert ad("vlfk-1") not in postings(database_url)

    fake.scenario.faults.clear()
    fake.reset_counts()
    ok(crawl(database_url, fake))
    assert last_run(database_url).status == RunStatus.OK
    assert ad("vlfk-1") in postings(database_url)
    assert detail_hits(fake, "vlfk-1") == 1
    assert state(database_url, "pending_details") == []


def test_malformed_page_fails_and_keeps_the_cursor(database_url, fake):
    fake.scenario.faults = [Fault(path=f"^/api/v1/feed/{page_item_id(6)}$", status=200, body=b'{"items": [tru')]
    result = crawl(database_url, fake)
    assert result.returncode != 0
    run = last_run(database_url)
    assert run.status == RunStatus.FAILED
    assert f"/api/v1/feed/{page_item_id(6)}" in run.message and "malformed JSON" in run.message
    assert state(database_url, "cursor") == page_item_id(6)
    assert set(postings(database_url)) == {ad(key) for key in ("leka-1", "trd-1", "ulvik-1")}  # pages 1-2 only

    ok(crawl(database_url, fake))
    assert set(postings(database_url)) == {ad(key) for key in MUNICIPAL_RUN_ONE}


def test_feed_rejecting_a_fresh_token_fails_the_run(database_url, fake):
    fake.scenario.public_token = "eyJnot.accepted.either"
    result = crawl(database_url, fake)
    assert result.returncode != 0
    assert "401 twice" in last_run(database_url).message
    assert fake.hits["/api/publicToken"] == 2  # once at the start, once more after the 401
    assert not postings(database_url)


def test_unreachable_feed_fails_the_run(database_url, fake):
    fake.scenario.faults = [Fault(path="^/api/v1/feed$", status=503, times=100)]
    result = crawl(database_url, fake, RETRY_TIMES="1")
    assert result.returncode != 0
    assert "HTTP 503" in last_run(database_url).message
    assert state(database_url, "cursor") is None


def test_a_killed_run_resumes_at_the_last_stored_page(database_url, fake):
    fake.scenario.faults = [Fault(path=f"^/api/v1/feed/{page_item_id(9)}$", stall=60)]
    process = subprocess.Popen(
        crawl_command(fake, CRAWL_LOCK_TTL="2"),
        cwd=ROOT,
        env=crawl_env(database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not fake.hits[f"/api/v1/feed/{page_item_id(9)}"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.hits[f"/api/v1/feed/{page_item_id(9)}"], "the crawl never reached page 4"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert state(database_url, "cursor") == page_item_id(9)
    assert set(postings(database_url)) == {ad(key) for key in ("leka-1", "trd-1", "ulvik-1", "vlfk-1", "iks-1")}

    time.sleep(2.5)  # the killed run's crawl lock expires
    fake.reset_counts()
    ok(crawl(database_url, fake))
    assert feed_requests(fake)[0][1] == f"/api/v1/feed/{page_item_id(9)}"
    assert set(postings(database_url)) == {ad(key) for key in MUNICIPAL_RUN_ONE}
    assert detail_hits(fake, "leka-1") == 0


def test_max_pages_stops_early_and_the_next_run_goes_on(database_url, fake):
    ok(crawl(database_url, fake, NAV_MAX_PAGES="2"))
    assert last_run(database_url).status == RunStatus.OK
    assert state(database_url, "cursor") == page_item_id(6)
    assert set(postings(database_url)) == {ad(key) for key in ("leka-1", "trd-1", "ulvik-1")}
    ok(crawl(database_url, fake))
    assert set(postings(database_url)) == {ad(key) for key in MUNICIPAL_RUN_ONE}


def test_brreg_outage_keeps_undecided_ads_for_the_next_run(database_url, fake):
    """Helsehuset is municipal only by its org chain: with Brønnøysund down it must wait, not be dropped."""
    fake.scenario.faults = [Fault(path="/enhetsregisteret/", status=503, times=1000)]
    result = crawl(database_url, fake, RETRY_TIMES="1")
    ok(result)
    assert last_run(database_url).status == RunStatus.PARTIAL
    assert ad("trd-1") not in postings(database_url)
    assert ad("trd-1") in state(database_url, "pending_details")
    assert ad("leka-1") in postings(database_url), "a name that says 'kommune' is still decided by the name"

    fake.scenario.faults.clear()
    ok(crawl(database_url, fake))
    assert last_run(database_url).status == RunStatus.OK
    assert postings(database_url)[ad("trd-1")].employer_scope_method == "brreg"
    assert state(database_url, "pending_details") == []


@pytest.mark.parametrize(("level", "chatter"), [("INFO", False), ("DEBUG", True)])
def test_the_default_log_shows_munijobs_lines_not_scrapys_listings(database_url, fake, level, chatter):
    """At INFO an operator sees the run's own lines; Scrapy's version, component and stats listings only at DEBUG."""
    result = crawl(database_url, fake, LOG_LEVEL=level)
    ok(result)
    assert "nav: crawl run 1 ok: seen" in result.stderr and "nav: finished" in result.stderr
    for listing in ("Overridden settings", "Enabled downloader middlewares", "Dumping Scrapy stats"):
        assert (listing in result.stderr) == chatter, listing
