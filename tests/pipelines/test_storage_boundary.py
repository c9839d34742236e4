"""The storage boundary: odd values are coerced the same on SQLite and PostgreSQL, and an ad the database refuses
even alone goes to the quarantine while the rest of its batch and the cursor are stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from munijobs.constants import RunStatus
from munijobs.items import ContactPerson, JobPosting, OccupationCode, StateCheckpoint, WorkLocation
from storage.db import get_engine
from storage.models import CrawlRun, Posting
from storage.models import WorkLocation as WorkLocationRow
from storage.quarantine import quarantined, quarantined_counts
from storage.renormalise import renormalise_postings
from storage.state import get_state
from tests.pipelines.pipeline_harness import Pipelines

HTML = "<p>Trondheim kommune søker sykepleier. Stillingsbrøk 100 %. Søknadsfrist 15.01.2027.</p>"


def posting(ad_id: str, **values) -> JobPosting:
    defaults = {"title": f"Sykepleier {ad_id}", "employer_name": "Trondheim kommune", "description_html": HTML,
                "work_locations": [WorkLocation(municipality="TRONDHEIM", postal_code="7010")]}
    return JobPosting(source="nav", source_ad_id=ad_id, **{**defaults, **values})


def stored(database_url: str) -> dict[str, Posting]:
    with Session(get_engine(database_url)) as session:
        return {p.source_ad_id: p for p in session.scalars(select(Posting))}


def last_run(database_url: str) -> CrawlRun:
    with Session(get_engine(database_url)) as session:
        return session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()


def test_a_posting_refused_alone_is_quarantined_and_the_rest_of_its_batch_stored(database_url):
    run = Pipelines(database_url, batch_size=100)
    too_big = posting("b")
    too_big.positions = 2**70  # past validation (straight to the store): neither database can hold it
    for item in (posting("a"), too_big, posting("c"), StateCheckpoint(source="nav", key="cursor", value="page-2")):
        run.store.process_item(item)
    run.close()
    assert set(stored(database_url)) == {"a", "c"}
    engine = get_engine(database_url)
    assert get_state(engine, "nav", "cursor") == "page-2"  # the cursor moves on
    (row,) = quarantined(engine)
    assert (row.source, row.source_ad_id) == ("nav", "b") and "refused by the database" in row.error
    assert json.loads(row.raw)["positions"] == 2**70 and row.quarantined_at is not None
    assert quarantined_counts(engine) == {"nav": 1}
    finished = last_run(database_url)
    assert finished.status == RunStatus.PARTIAL and "1 postings quarantined" in finished.message
    assert finished.items_new == 2


def test_odd_values_become_null_with_a_note_and_both_databases_agree(database_url):
    run = Pipelines(database_url)
    run.feed(
        posting("sup", positions_raw="²"),
        posting("circled", positions_raw="①"),
        posting("twenty", positions_raw="1" * 20),
        posting("eleven", positions_raw="99999999999"),
        posting("nul", title="Lærer\x00 i \ud800norsk", description_html="<p>Tekst\x00 med \udfff feil</p>",
                extra={"source": "IMPORT\x00API", "score": float("nan")},
                occupations=[OccupationCode(system="STYRK08", code="2330", score=float("inf"))]),
        posting("dates", published_at=datetime(1, 1, 1, tzinfo=UTC), expires_at=datetime(9999, 12, 31, tzinfo=UTC)),
        posting("codes", employer_orgnr="91000000111",
                work_locations=[WorkLocation(municipality="TRONDHEIM", postal_code="7010 TRONDHEIM SENTRUM")]),
    )
    run.close()
    rows = stored(database_url)
    assert set(rows) == {"sup", "circled", "twenty", "eleven", "nul", "dates", "codes"}
    finished = last_run(database_url)  # "²" and "①" are no counts: NULL with a note, the ad normalised as usual
    assert finished.status == RunStatus.OK
    for key in ("sup", "circled"):
        assert "not a number of positions" in rows[key].normalise_notes["positions"], key
        assert "normalise_error" not in rows[key].normalise_notes and rows[key].language, key
    for key in ("sup", "circled", "twenty", "eleven"):
        assert rows[key].positions is None, key
        assert rows[key].description_text and rows[key].title, key  # the rest of the ad is there
    assert "positions" in rows["twenty"].normalise_notes["not_storable"]
    assert "integer range" in rows["eleven"].normalise_notes["not_storable"]["positions"]
    assert rows["nul"].title == "Lærer i norsk" and rows["nul"].extra == {"source": "IMPORTAPI", "score": None}
    assert rows["nul"].occupations[0]["score"] is None
    dates = rows["dates"]
    assert dates.published_at is None and dates.expires_at is None
    assert set(dates.normalise_notes["not_storable"]) == {"published_at", "expires_at"}
    codes = rows["codes"]
    assert codes.employer_orgnr is None and "employer_orgnr" in codes.normalise_notes["not_storable"]
    assert "work_locations[0].postal_code" in codes.normalise_notes["not_storable"]
    with Session(get_engine(database_url)) as session:
        postal = session.scalars(select(WorkLocationRow.postal_code).where(WorkLocationRow.posting_id == codes.id))
        assert list(postal) == [None]
    with get_engine(database_url).connect() as connection:
        html = connection.execute(text("SELECT description_html FROM posting_raw WHERE posting_id = :id"),
                                  {"id": rows["nul"].id}).scalar()
    assert html == "<p>Tekst med  feil</p>"


def test_unstorable_and_failing_postings_are_quarantined_not_dropped(database_url):
    run = Pipelines(database_url)
    broken = posting("broken")
    broken.work_locations = [{"municipality": "TRONDHEIM"}]  # not a WorkLocation: a pipeline step raises on it
    run.feed(posting("fine"), posting("x" * 150), posting("untitled", title=" "), broken)
    run.close()
    engine = get_engine(database_url)
    assert set(stored(database_url)) == {"fine"}
    rows = {row.source_ad_id: row for row in quarantined(engine)}
    assert set(rows) == {"x" * 150, "untitled", "broken"}
    assert "source_ad_id_too_long" in rows["x" * 150].error and "missing_title" in rows["untitled"].error
    assert "in a pipeline" in rows["broken"].error
    assert last_run(database_url).status == RunStatus.PARTIAL

    again = Pipelines(database_url)  # fixed at the source: stored, and out of the quarantine
    again.feed(posting("untitled"))
    again.close()
    assert "untitled" in stored(database_url)
    assert set(quarantined_counts(engine)) == {"nav"} and quarantined_counts(engine)["nav"] == 2


def test_a_quarantined_posting_keeps_no_contact_person(database_url):
    """The raw JSON loses the contact list, and the persons it names are masked in every text, surnames alone too."""
    run = Pipelines(database_url)
    broken = posting("broken", description_html="<p>Spørsmål? Ring Ingrid Haugland på 481 23 456, eller send"
                                                 " Haugland en e-post: ingrid.haugland@trondheim.kommune.no</p>",
                     contacts=[ContactPerson(name="Ingrid Haugland", title="Enhetsleder", phone="+47 48123456",
                                             email="ingrid.haugland@trondheim.kommune.no")])
    broken.work_locations = [{"municipality": "TRONDHEIM"}]  # a pipeline step raises on it
    run.feed(broken)
    run.close()
    (row,) = quarantined(get_engine(database_url))
    raw = json.loads(row.raw)
    assert "contacts" not in raw and raw["title"] == "Sykepleier broken"
    text = json.dumps(raw, ensure_ascii=False)
    for trace in ("Ingrid", "Haugland", "481 23 456", "48123456", "ingrid.haugland"):
        assert trace not in text, trace


def test_renormalise_coerces_like_the_crawl(database_url):
    run = Pipelines(database_url)
    run.feed(posting("twenty", positions_raw="1" * 20), posting("fine", positions_raw="2"))
    run.close()
    engine = get_engine(database_url)
    with engine.begin() as connection:  # as an older munijobs left it: the note gone, the normaliser to run again
        connection.execute(text("UPDATE postings SET normalise_notes = NULL, positions = 3, content_hash = NULL"))
    renormalise_postings(engine)
    rows = stored(database_url)
    assert rows["twenty"].positions is None and "positions" in rows["twenty"].normalise_notes["not_storable"]
    assert rows["fine"].positions == 2
