"""The jobbnorge spider end to end: subprocess crawls against the local fake of both Jobbnorge hosts and Brønnøysund.

Day 1 lists 11 postings (7 municipal); day 2 drops 310003 (deadline «Løpende»: withdrawn) and 310004 (deadline
passed: expired), changes 310002, adds 310012 (municipal only by Brønnøysund), 310013 (detail 404), 310014
(isPublished false) and 310015.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from munijobs.constants import PostingStatus, RunStatus
from storage.db import get_engine
from storage.models import Alert, Posting
from storage.state import get_state
from tests.fakes.jobbnorge_server import PDF_ROUTE, FakeJobbnorge, Fault, Scenario
from tests.spiders.nav_harness import FAST_SETTINGS, ROOT, all_text, crawl_env, last_run

MUNICIPAL_DAY_ONE = {"310001", "310002", "310003", "310004", "310005", "310006", "310009"}
OUT_OF_SCOPE = ("310007", "310008", "310010", "310011")
LIST = "/v3/jobs?language=1"


@pytest.fixture
def fake():
    with FakeJobbnorge(Scenario.from_files()) as server:
        yield server


def crawl(database_url: str, fake: FakeJobbnorge, **overrides: str) -> subprocess.CompletedProcess:
    """One `munijobs crawl jobbnorge` in its own process."""
    settings = {**FAST_SETTINGS, "JOBBNORGE_API_URL": fake.base_url, "JOBBNORGE_DETAIL_URL": fake.base_url,
                "BRREG_API_URL": fake.brreg_url, **overrides}
    command = [sys.executable, "-m", "munijobs", "crawl", "jobbnorge", *(f"-s{k}={v}" for k, v in settings.items())]
    return subprocess.run(command, cwd=ROOT, env=crawl_env(database_url), capture_output=True, text=True,
                          timeout=120, check=False)


def ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr[-4000:]


def postings(database_url: str) -> dict[str, Posting]:
    with Session(get_engine(database_url)) as session:
        return {p.source_ad_id: p for p in session.scalars(select(Posting).where(Posting.source == "jobbnorge"))}


def statuses(database_url: str) -> dict[str, str]:
    return {ad_id: p.status for ad_id, p in postings(database_url).items()}


def detail_requests(fake: FakeJobbnorge) -> dict[str, int]:
    return {path.split("jobId=")[1].split("&")[0]: count for path, count in fake.hits.items()
            if path.startswith("/api/joblisting")}


def name_searches(fake: FakeJobbnorge) -> list[str]:
    return [path for path in fake.hits if path.startswith("/enhetsregisteret/api/enheter?")]


def state(database_url: str, key: str):
    return get_state(get_engine(database_url), "jobbnorge", key)


def test_two_days_store_close_and_ask_only_what_changed(database_url, fake):
    ok(crawl(database_url, fake))
    assert last_run(database_url).status == RunStatus.OK
    assert set(postings(database_url)) == MUNICIPAL_DAY_ONE
    assert fake.hits[LIST] == 1
    assert detail_requests(fake) == dict.fromkeys(MUNICIPAL_DAY_ONE, 1)  # none for the out-of-scope employers
    assert not fake.requests_to(PDF_ROUTE) and fake.hits["/robots.txt"] == 1
    with get_engine(database_url).connect() as connection:
        rows = connection.execute(text(
            "SELECT title, employer_name, employer_orgnr, employer_parent_orgnr, employer_org_form, sources,"
            " municipality_code FROM v_ads ORDER BY title")).all()
    by_title = {row[0]: row[1:] for row in rows}
    assert by_title["Lærer 5.–7. trinn"] == ("Dalgård skole og ressurssenter, Trondheim kommune", "920000003",
                                             "920000003", "KOMM", "jobbnorge", "5001")
    assert by_title["Lektor i realfag"][1:4] == ("930000002", "930000002", "FYLK")
    assert by_title["Driftsoperatør renseanlegg"][3] == "IKS"
    assert by_title["Sykepleier, Teie sykehjem"][1:4] == (None, None, None)  # merged away: decided by the name
    assert by_title["Sykepleier, Teie sykehjem"][5] == "3911"
    stored = postings(database_url)
    assert stored["310003"].employer_scope_method == "name" and stored["310001"].employer_scope_method == "brreg"
    assert stored["310001"].positions_raw == "2" and stored["310003"].deadline_kind == "rolling"
    assert len(name_searches(fake)) == 10  # one per employer string; "Helse Bergen HF" is decided by its suffix
    assert state(database_url, "last_complete_count") == 11

    fake.reset_counts()
    fake.scenario.day = "2"
    ok(crawl(database_url, fake))
    assert last_run(database_url).status == RunStatus.OK
    assert detail_requests(fake) == dict.fromkeys(("310002", "310012", "310013", "310014", "310015"), 1)
    assert len(name_searches(fake)) == 4  # only the new employers; known ones come from the cache
    after = postings(database_url)
    assert {k: v.status for k, v in after.items()} == {
        **dict.fromkeys(MUNICIPAL_DAY_ONE | {"310012", "310015"}, PostingStatus.ACTIVE),
        "310003": PostingStatus.WITHDRAWN, "310004": PostingStatus.EXPIRED}
    assert after["310003"].closed_at is not None and after["310003"].title == "Sykepleier, Teie sykehjem"
    assert after["310002"].title == "Lektor i realfag (ny frist)"
    assert (after["310012"].employer_org_form, after["310012"].employer_scope_method) == ("IKS", "brreg")
    assert "310013" not in after and "310014" not in after  # 404 / unpublished: not stored, not closed

    fake.reset_counts()
    ok(crawl(database_url, fake))
    assert detail_requests(fake) == {"310013": 1, "310014": 1}  # asked again; nothing else
    assert not name_searches(fake)
    assert statuses(database_url)["310003"] == PostingStatus.WITHDRAWN
    assert last_run(database_url).items_seen == 7  # the in-scope postings listed, though none was yielded

    fake.reset_counts()
    ok(crawl(database_url, fake, JOBBNORGE_REFRESH_DAYS="0"))  # every stored text is due for a refresh
    assert set(detail_requests(fake)) == {"310001", "310002", "310005", "310006", "310009", "310012", "310013",
                                          "310014", "310015"}
    assert last_run(database_url).items_updated == 0  # same texts: no updates, no history


def test_retries_with_backoff_and_retry_after(database_url, fake):
    fake.scenario.faults = [
        Fault(path=r"^/v3/jobs", status=500, times=1),
        Fault(path=r"jobId=310002&", status=429, times=1, headers={"Retry-After": "1"}),
    ]
    ok(crawl(database_url, fake))
    assert last_run(database_url).status == RunStatus.OK
    assert set(postings(database_url)) == MUNICIPAL_DAY_ONE
    assert fake.hits[LIST] == 2
    first, retry = (moment for moment, *_ in fake.requests_to("/api/joblisting?jobId=310002&"))
    assert retry - first >= 0.95  # Retry-After honoured


def test_a_failing_detail_is_fetched_next_run(database_url, fake):
    fake.scenario.faults = [Fault(path=r"jobId=310006&", status=500, times=100)]
    ok(crawl(database_url, fake, RETRY_TIMES="1"))
    assert last_run(database_url).status == RunStatus.PARTIAL
    assert "310006" not in postings(database_url)
    fake.scenario.faults.clear()
    fake.reset_counts()
    ok(crawl(database_url, fake))
    assert last_run(database_url).status == RunStatus.OK
    assert detail_requests(fake) == {"310006": 1}
    assert "310006" in postings(database_url)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [("truncated", "malformed JSON"), ("short", "fewer than 50%"), ("miscounted", "jobCountTotal says 40"),
     ("unreachable", "HTTP 503")],
)
def test_a_broken_or_partial_list_closes_nothing(database_url, fake, breakage, message):
    ok(crawl(database_url, fake))
    before = statuses(database_url)
    fake.scenario.day = "2"  # 310003 and 310004 are gone from the real list
    if breakage == "truncated":
        fake.scenario.truncate_list = True
    elif breakage == "short":
        fake.scenario.day = "short"
    elif breakage == "miscounted":
        fake.scenario.total = 40
    else:
        fake.scenario.faults = [Fault(path=r"^/v3/jobs", status=503, times=100)]
    result = crawl(database_url, fake, RETRY_TIMES="1")
    assert result.returncode == 1
    run = last_run(database_url)
    assert run.status == RunStatus.FAILED and message in run.message and "nothing closed" in run.message
    after = statuses(database_url)
    assert {ad_id: after[ad_id] for ad_id in before} == before  # new postings it lists may be stored; none closed
    assert state(database_url, "last_complete_count") == 11
    assert run.items_closed == 0


def test_a_suspicious_list_raises_the_failing_alert(database_url, fake):
    ok(crawl(database_url, fake))
    fake.scenario.day = "short"
    for _ in range(3):
        assert crawl(database_url, fake).returncode == 1
    with Session(get_engine(database_url)) as session:
        alerts = list(session.scalars(select(Alert).where(Alert.source == "jobbnorge", Alert.resolved_at.is_(None))))
    assert [alert.rule for alert in alerts] == ["failing"]
    assert "fewer than 50%" in alerts[0].message
    assert all(status == PostingStatus.ACTIVE for status in statuses(database_url).values())
    fake.scenario.day = "2"
    ok(crawl(database_url, fake))  # a complete list again: closes, and the alert resolves
    assert statuses(database_url)["310004"] == PostingStatus.EXPIRED


def test_brreg_outage_decides_municipal_names_and_keeps_the_rest_waiting(database_url, fake):
    fake.scenario.faults = [Fault(path=r"^/enhetsregisteret/", status=503, times=1000)]
    ok(crawl(database_url, fake, RETRY_TIMES="1"))
    assert last_run(database_url).status == RunStatus.PARTIAL
    stored = postings(database_url)
    assert set(stored) == MUNICIPAL_DAY_ONE  # each names its municipality or carries IKS
    assert {p.employer_scope_method for p in stored.values()} == {"name"}
    # the employers Brønnøysund must place wait for the next run; "Helse Bergen HF" is out by its company form
    assert set(state(database_url, "listed")) == MUNICIPAL_DAY_ONE | {"310008"}

    fake.scenario.faults.clear()
    fake.reset_counts()
    ok(crawl(database_url, fake, EMPLOYER_SCOPE="all"))
    assert set(detail_requests(fake)) == set(OUT_OF_SCOPE)
    assert last_run(database_url).status == RunStatus.OK


def test_public_scope_follows_the_register_chain(database_url, fake):
    ok(crawl(database_url, fake, EMPLOYER_SCOPE="public"))
    stored = postings(database_url)
    assert set(stored) == MUNICIPAL_DAY_ONE | {"310007", "310008"}
    university = stored["310007"]
    assert (university.employer_orgnr, university.employer_parent_orgnr, university.employer_org_form) == (
        "930000005", "930000006", "STAT")
    assert stored["310008"].employer_scope_method == "name"  # "HF": public by its company form


PLANTED = [
    {"name": "Planta Kontaktsen", "title": "Enhetsleder", "phone": "+47 987 65 432",
     "email": "planta.kontaktsen@planted.example"},
    {"name": "Gro Plantedatter", "title": "Rektor", "mobile": "4798 7654", "email": "gro@planted.example"},
]
PLANTED_TRACES = ("Planta Kontaktsen", "Kontaktsen", "Plantedatter", "987 65 432", "4798 7654", "planted.example")


def _contact_traces(scenario: Scenario) -> set[str]:
    traces = set()
    for detail in scenario.details.values():
        for contact in detail.get("contacts") or []:
            traces.update(value for key, value in contact.items() if key != "title" and value)
    return traces


def test_contacts_of_every_detail_reach_no_table(database_url, fake):
    for detail in fake.scenario.details.values():
        detail["contacts"] = [*detail.get("contacts", []), *PLANTED]
    ok(crawl(database_url, fake, EMPLOYER_SCOPE="all"))
    fake.scenario.day = "2"
    ok(crawl(database_url, fake, EMPLOYER_SCOPE="all"))
    assert len(postings(database_url)) == 13  # every posting whose detail is published, on either day
    stored = all_text(get_engine(database_url))
    assert "Lektor i realfag" in stored
    for trace in PLANTED_TRACES:
        assert trace not in stored, trace


def test_contacts_named_in_the_ad_texts_reach_no_table(database_url, fake):
    ok(crawl(database_url, fake, EMPLOYER_SCOPE="all"))
    stored = all_text(get_engine(database_url))
    found = sorted(trace for trace in _contact_traces(fake.scenario) if trace in stored)
    assert not found, found


def test_the_cli_knows_the_source():
    from munijobs.cli import project_settings, spider_names

    assert {"nav", "jobbnorge"} <= set(spider_names(project_settings()))


def test_the_schedule_runs_jobbnorge_every_half_hour_beside_nav():
    from datetime import timedelta

    from scheduler import load_schedule

    sources = load_schedule(ROOT / "munijobs.toml").sources
    assert sources["jobbnorge"].interval == timedelta(minutes=30)
    assert sources["nav"].interval == timedelta(minutes=10)
