"""The nav spider against a misbehaving source: wrong shapes, 404 bursts, a looping feed, an unreadable register and
poison values. Nothing stored is closed or lost; the run says partial (or failed) with the reason."""

from __future__ import annotations

import copy
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from munijobs.constants import PostingStatus, RunStatus
from storage.db import get_engine
from storage.models import Alert, Employer, EmployerNameDecision
from storage.quarantine import quarantined
from tests.fakes.nav_server import DELETE, Fault, page_item_id
from tests.spiders import test_nav_crawl
from tests.spiders.nav_harness import ad, crawl, detail_hits, feed_requests, last_run, postings, state
from tests.spiders.test_nav_crawl import MUNICIPAL_RUN_ONE, RUN_ONE, ok

fake = test_nav_crawl.fake
"""The fixture: the fake NAV with the first RUN_ONE change-log entries published."""


def test_wrong_shapes_never_close_or_drop_an_ad(database_url, fake):
    ok(crawl(database_url, fake))
    before = postings(database_url)
    assert set(before) == {ad(key) for key in MUNICIPAL_RUN_ONE}

    fake.scenario.visible = None
    fake.scenario.entry_overrides = {ad("trd-1"): {"status": DELETE}, ad("ulvik-1"): {"status": "PAUSED"}}
    fake.scenario.detail_overrides = {
        ad("vlfk-1"): {"status": DELETE},
        ad("iks-1"): {"ad_content": "not an object"},
        ad("leka-2"): {"ad_content": DELETE},
    }
    result = crawl(database_url, fake)
    ok(result)
    run = last_run(database_url)
    assert run.status == RunStatus.PARTIAL
    after = postings(database_url)
    for key in ("trd-1", "ulvik-1", "vlfk-1", "iks-1"):
        assert after[ad(key)].status == PostingStatus.ACTIVE, key
        assert after[ad(key)].title == before[ad(key)].title, key  # kept as stored
    assert ad("leka-2") not in after and ad("trd-2") in after
    assert set(state(database_url, "pending_details")) == {ad(k) for k in ("trd-1", "ulvik-1", "vlfk-1", "iks-1",
                                                                           "leka-2")}
    assert "status 'PAUSED'" in result.stderr and "without ad_content" in result.stderr

    fake.scenario.entry_overrides.clear()
    fake.scenario.detail_overrides.clear()
    ok(crawl(database_url, fake))  # retried: the well-formed answers decide now
    assert last_run(database_url).status == RunStatus.OK
    final = postings(database_url)
    assert final[ad("trd-1")].status == PostingStatus.EXPIRED  # its detail now says INACTIVE, explicitly
    assert final[ad("vlfk-1")].status == PostingStatus.WITHDRAWN  # masked by NAV
    assert final[ad("iks-1")].title == "Brannkonstabel (forlenget frist)"
    assert final[ad("leka-2")].status == PostingStatus.ACTIVE
    assert state(database_url, "pending_details") == []


def test_a_burst_of_404s_closes_nothing_and_skips_nothing(database_url, fake):
    ok(crawl(database_url, fake))
    fake.scenario.visible = None
    fake.scenario.faults = [Fault(path="/api/v1/feedentry/", status=404, times=1000)]
    result = crawl(database_url, fake, NAV_PAGE_SIZE="20")
    ok(result)
    assert last_run(database_url).status == RunStatus.PARTIAL
    assert "NAV looks broken" in result.stderr
    with Session(get_engine(database_url)) as session:
        assert [alert.rule for alert in session.scalars(select(Alert))] == ["source_broken"]
    after = postings(database_url)
    assert after[ad("vlfk-1")].status == PostingStatus.ACTIVE and after[ad("iks-1")].status == PostingStatus.ACTIVE
    assert ad("leka-2") not in after and ad("trd-2") not in after
    assert set(state(database_url, "pending_details")) == {ad(k) for k in ("leka-2", "vlfk-1", "trd-2", "iks-1")}

    fake.scenario.faults = [Fault(path=f"/feedentry/{ad('vlfk-1')}$", status=404, times=1000)]
    ok(crawl(database_url, fake, NAV_PAGE_SIZE="20"))  # one 404 among good answers: NAV's word that it is gone
    final = postings(database_url)
    assert final[ad("vlfk-1")].status in (PostingStatus.WITHDRAWN, PostingStatus.EXPIRED)
    assert final[ad("leka-2")].status == final[ad("trd-2")].status == PostingStatus.ACTIVE  # not skipped for good
    assert final[ad("iks-1")].title == "Brannkonstabel (forlenget frist)"


def test_a_looping_feed_fails_the_run_at_once(database_url, fake):
    fake.scenario.next_id_overrides = {page_item_id(6): page_item_id(3)}
    result = crawl(database_url, fake, timeout=60)
    assert result.returncode != 0
    run = last_run(database_url)
    assert run.status == RunStatus.FAILED and "loops" in run.message
    assert state(database_url, "cursor") == page_item_id(6)
    assert fake.hits[f"/api/v1/feed/{page_item_id(3)}"] == 1 and len(feed_requests(fake)) == 3
    assert {ad(key) for key in ("leka-1", "trd-1", "ulvik-1")} <= set(postings(database_url))


def employers(database_url: str) -> dict[str, Employer]:
    with Session(get_engine(database_url)) as session:
        return {row.orgnr: row for row in session.scalars(select(Employer))}


def name_decisions(database_url: str) -> dict[str, str]:
    with Session(get_engine(database_url)) as session:
        return {row.name: row.scope for row in session.scalars(select(EmployerNameDecision))}


def test_a_register_answering_404_to_everything_is_unknown_not_private(database_url, fake):
    result = crawl(database_url, fake, BRREG_API_URL=fake.base_url + "/wrong/enhetsregisteret/api")
    ok(result)
    assert last_run(database_url).status == RunStatus.PARTIAL
    assert "check BRREG_API_URL" in result.stderr
    stored = postings(database_url)
    assert ad("trd-1") not in stored and ad("trd-1") in state(database_url, "pending_details")
    assert stored[ad("leka-1")].employer_scope_method == "name"  # "Leka kommune" is decided by its name
    assert not [row for row in employers(database_url).values() if not row.found]  # no "not found" cached
    assert name_decisions(database_url).get("Helsehuset") is None  # and no "private" verdict

    ok(crawl(database_url, fake))
    assert last_run(database_url).status == RunStatus.OK
    assert postings(database_url)[ad("trd-1")].employer_scope_method == "brreg"
    assert postings(database_url)[ad("kauto-1")].employer_scope_method == "name"  # truly unknown: name decides


def test_unreadable_register_units_are_unknown_and_a_broken_chain_falls_back_to_the_name(database_url, fake):
    scenario = fake.scenario
    scenario.units["920000003"] = {**scenario.units["920000003"], "organisasjonsform": "KOMM"}  # Trondheim
    leka = scenario.subunits["910000001"]
    scenario.subunits["910000001"] = {key: value for key, value in leka.items() if key != "overordnetEnhet"}
    scenario.subunits["910000001"]["beliggenhetsadresse"] = {**leka["beliggenhetsadresse"], "kommunenummer": "50520"}
    result = crawl(database_url, fake)
    ok(result)
    assert last_run(database_url).status == RunStatus.PARTIAL
    stored = postings(database_url)
    assert ad("trd-1") not in stored and ad("trd-1") in state(database_url, "pending_details")
    assert "920000003" not in employers(database_url)  # nothing cached of the unreadable answer
    leka_ad = stored[ad("leka-1")]  # the chain ends at a sub-unit: the name decides, and the note says so
    assert leka_ad.employer_scope_method == "name" and leka_ad.employer_parent_orgnr is None
    assert "decided by name" in leka_ad.normalise_notes["employer_scope"]
    assert employers(database_url)["910000001"].municipality_code is None  # five digits: not a kommunenummer


def test_poison_values_store_the_rest_of_the_ad_and_quarantine_what_cannot_be(database_url, fake):
    details = fake.scenario.details
    poison = {
        "leka-1": {"positioncount": "²", "title": "Pedagogisk leder\x00 \ud800Leka", "published": "0001-01-01"},
        "trd-1": {"positioncount": "99999999999", "expires": "9999-12-31T23:59:59-05:00"},
        "ulvik-1": {"employer": "Ulvik herad", "workLocations": 7},
        "vlfk-1": {"positioncount": "1" * 20, "description": "<p>Tekst\x00 med NUL</p>"},
        "iks-1": {"workLocations": [{"postalCode": "8001 BODØ SENTRUM", "municipal": "BODØ"}]},
        "kauto-1": {"employer": {"name": "Guovdageaidnu - Kautokeino kommune", "orgnr": "91000000111"}},
    }
    for key, values in poison.items():
        for version in details[ad(key)].values():
            version.update(copy.deepcopy(values))
    long_id = "a" * 120  # an ad whose id no column can hold: quarantined, with its answer
    entry = {"uuid": long_id, "status": "ACTIVE", "title": "Renholder", "businessName": "Leka kommune",
             "municipal": "LEKA", "sistEndret": "2026-10-04T10:00:00+02:00"}
    fake.scenario.entries.insert(RUN_ONE - 1, entry)
    first_leka = next(iter(details[ad("leka-1")].values()))
    details[long_id] = {entry["sistEndret"]: {**copy.deepcopy(first_leka), "uuid": long_id}}
    ok(crawl(database_url, fake))
    assert last_run(database_url).status == RunStatus.PARTIAL
    stored = postings(database_url)
    assert set(stored) == {ad(key) for key in MUNICIPAL_RUN_ONE}
    assert all(posting.status == PostingStatus.ACTIVE for posting in stored.values())
    leka = stored[ad("leka-1")]
    assert leka.positions is None and leka.published_at is None and leka.title == "Pedagogisk leder Leka"
    assert stored[ad("trd-1")].positions is None and stored[ad("trd-1")].expires_at is None
    assert "not_storable" in stored[ad("trd-1")].normalise_notes
    assert stored[ad("ulvik-1")].employer_scope_method == "name"
    assert stored[ad("vlfk-1")].positions is None
    assert stored[ad("kauto-1")].employer_orgnr is None
    (row,) = quarantined(get_engine(database_url))
    assert row.source_ad_id == long_id and "source_ad_id_too_long" in row.error
    assert "Kontaktperson" not in row.raw and "912 34 567" not in row.raw  # no contact person in the quarantine
    assert json.loads(row.raw)["title"] == "Pedagogisk leder Leka"  # the item as far as it got
    assert detail_hits(fake, "leka-1") == 1
