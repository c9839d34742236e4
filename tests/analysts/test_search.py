"""munijobs search: FTS5 / tsvector index kept in step by the database, ranking, snippets, per-ad results."""

from __future__ import annotations

import json

from sqlalchemy import delete, text, update

from munijobs.analysts.filters import AdFilters
from munijobs.analysts.search import HIT, search
from storage.db import session_scope
from storage.models import Ad, Posting
from storage.postings import store_batch
from tests.analysts.conftest import T2, ad


def ad_ids(engine, query, **filters) -> list[int]:
    return [h.ad["ad_id"] for h in search(engine, query, AdFilters(**filters))[1]]


def test_finds_title_employer_and_text_ranked(ads_engine):
    assert ad_ids(ads_engine, "sykepleier") == [1]
    assert ad_ids(ads_engine, "Renholder") == [4]
    assert ad_ids(ads_engine, "Bergen") == [8]
    assert set(ad_ids(ads_engine, "hjemmetjenesten")) == {1, 6}
    assert ad_ids(ads_engine, "hjemmetjenesten sommerjobb") == [6]
    assert ad_ids(ads_engine, "sykepl*") == [1]
    assert ad_ids(ads_engine, '"vann og avløp"') == [5]
    assert ad_ids(ads_engine, "hjemmetjenesten", municipality_codes=("1508",)) == []


def test_norwegian_letters_are_not_folded(ads_engine):
    assert ad_ids(ads_engine, "økonomi") == [8]
    assert ad_ids(ads_engine, "ØKONOMI") == [8]
    assert ad_ids(ads_engine, "okonomi") == []
    assert ad_ids(ads_engine, "Ålesund") == [2]
    assert ad_ids(ads_engine, "alesund") == []


def test_snippet_marks_the_match(ads_engine):
    total, hits = search(ads_engine, "Byåsen", AdFilters())
    assert total == 1
    assert f"{HIT[0]}Byåsen{HIT[1]}" in hits[0].snippet


def test_index_follows_store_updates_and_deletes(ads_engine):
    changed = ad("2", "Brannkonstabel", "Ålesund kommune", "1508", None, "permanent", T2,
                 description_text="Brannvesenet søker konstabel.")
    with session_scope(ads_engine) as session:
        store_batch(session, [changed], now=T2)
    assert ad_ids(ads_engine, "Brannkonstabel") == [2]
    assert ad_ids(ads_engine, "samfunnsfag") == []
    with session_scope(ads_engine) as session:
        session.execute(text("DELETE FROM posting_raw WHERE posting_id = 2"))
        session.execute(text("DELETE FROM work_locations WHERE posting_id = 2"))
        session.execute(update(Ad).where(Ad.id == 2).values(primary_posting_id=None))
        session.execute(delete(Posting).where(Posting.id == 2))
    assert ad_ids(ads_engine, "Brannkonstabel") == []


def test_query_without_words(run):
    result = run("search", "!!!")
    assert result.exit_code == 2 and "'!!!'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_results_are_per_ad(ads_engine):
    with session_scope(ads_engine) as session:
        session.execute(update(Posting).where(Posting.id == 6).values(ad_id=1))
    total, hits = search(ads_engine, "hjemmetjenesten", AdFilters())
    assert total == 1 and [h.ad["ad_id"] for h in hits] == [1]


def test_command_formats(run):
    table = run("search", "hjemmetjenesten")
    assert table.exit_code == 0 and "2 ads match" in table.stdout and "Sykepleier til" in table.stdout
    lines = run("search", "hjemmetjenesten", "--format", "jsonl", "--county", "Trøndelag", "--limit", "1").stdout
    records = [json.loads(line) for line in lines.splitlines()]
    assert len(records) == 1 and records[0]["rank"] == 1 and "**hjemmetjenesten**" in records[0]["snippet"]
    csv_text = run("search", "lærer", "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("rank,ad_id,title")


def test_command_bad_input(run_without_database):
    for args, named in ((["x", "--format", "xml"], "'xml'"), (["x", "--county", "Mars"], "'Mars'")):
        result = run_without_database("search", *args)
        assert result.exit_code == 2 and named in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_ad_s_status_comes_from_all_its_postings_and_filters_apply(ads_engine):
    """Posting 6 (withdrawn, matching) joins ad 1 (active): the ad is found once, active, with its best snippet."""
    with session_scope(ads_engine) as session:
        session.execute(update(Posting).where(Posting.id == 6).values(ad_id=1, status="withdrawn"))
    total, hits = search(ads_engine, "hjemmetjenesten", AdFilters(statuses=("active",)))
    assert total == 1 and hits[0].ad["status"] == "active" and HIT[0] in hits[0].snippet
    assert search(ads_engine, "hjemmetjenesten", AdFilters(statuses=("withdrawn",))) == (0, [])
    assert search(ads_engine, "hjemmetjenesten", AdFilters(county_codes=("50",)))[0] == 1


def test_a_query_of_hundreds_of_words_is_answered(ads_engine):
    """The tsquery of every word is built flat enough to compile (a deep && chain raised RecursionError)."""
    words = " ".join(["hjemmetjenesten"] * 150 + ["sykepleier"] * 100)
    total, hits = search(ads_engine, words, AdFilters())
    assert total == 1 and hits[0].ad["ad_id"] == 1
