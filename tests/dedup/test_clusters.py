"""Clusters in the database: ids stay stable, sources and status add up, splits and re-advertisements, the rebuild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.orm import Session

from munijobs.cli import cli
from munijobs.constants import PostingStatus
from munijobs.dedup.match import compare, may_match
from munijobs.items import JobPosting
from storage.clusters import _load_features, rebuild_clusters
from storage.db import ensure_source, session_scope
from storage.postings import store_batch
from tests.dedup.pairs import load_pairs, to_item

PAIRS = load_pairs()
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def first(case: str) -> dict:
    return next(pair for pair in PAIRS if pair["case"] == case)


def store(engine, items: list[JobPosting], hours: int = 0) -> None:
    with session_scope(engine) as session:
        store_batch(session, items, now=T0 + timedelta(hours=hours))


def rows(engine, query: str, **params) -> list:
    with engine.connect() as connection:
        return list(connection.execute(text(query), params))


def ad_of(engine, item: JobPosting) -> int:
    return rows(engine, "SELECT ad_id FROM v_postings WHERE source = :s AND source_ad_id = :i",
                s=item.source, i=item.source_ad_id)[0].ad_id


@pytest.fixture
def db(engine):
    ensure_source(engine, "jobbnorge")
    return engine


@pytest.mark.parametrize("jobbnorge_first", [False, True])
def test_a_linked_pair_is_one_ad_whichever_arrives_first_and_the_first_ad_keeps_its_id(db, jobbnorge_first):
    pair = first("linked_nav_jobbnorge")
    items = sorted((to_item(pair["a"]), to_item(pair["b"])), key=lambda i: (i.source == "jobbnorge") != jobbnorge_first)
    store(db, [items[0]])
    first_ad = ad_of(db, items[0])
    store(db, [items[1]], hours=1)
    assert ad_of(db, items[0]) == ad_of(db, items[1]) == first_ad
    [ad] = rows(db, "SELECT ad_id, sources, posting_count, status FROM v_ads")
    assert (ad.ad_id, ad.sources, ad.posting_count, ad.status) == (first_ad, "jobbnorge,nav", 2, "active")
    [move] = rows(db, "SELECT source, old_value, new_value, reason FROM v_ad_history WHERE field = 'ad_id'")
    assert (move.source, move.old_value, move.new_value) == (items[1].source, None, str(first_ad))
    assert move.reason.startswith("strong link jobbnorge:")


def test_an_ad_is_active_while_any_of_its_postings_is(db):
    pair = first("unlinked_nav_jobbnorge")
    a, b = to_item(pair["a"]), to_item(pair["b"])
    store(db, [a, b])
    store(db, [JobPosting(source=a.source, source_ad_id=a.source_ad_id, status=PostingStatus.EXPIRED,
                          has_content=False, closed_at=T0)], hours=1)
    assert [(r.status, r.posting_count) for r in rows(db, "SELECT status, posting_count FROM v_ads")] == [("active", 2)]
    assert {r.status for r in rows(db, "SELECT status FROM v_postings")} == {"active", "expired"}
    store(db, [JobPosting(source=b.source, source_ad_id=b.source_ad_id, status=PostingStatus.WITHDRAWN,
                          has_content=False, closed_at=T0)], hours=2)
    assert [r.status for r in rows(db, "SELECT status FROM v_ads")] == ["expired"]


def test_a_posting_whose_text_turns_into_another_job_is_split_off_and_the_ad_keeps_its_id(db):
    pair, other = first("nav_nav_duplicate"), first("unrelated")
    a, b = to_item(pair["a"]), to_item(pair["b"])
    store(db, [a])
    store(db, [b], hours=1)
    ad = ad_of(db, a)
    assert ad_of(db, b) == ad
    changed = to_item({**pair["b"], **{k: other["a"][k] for k in ("title", "job_title", "description_html",
                                                                   "job_percent_raw", "engagement_type_raw")}})
    store(db, [changed], hours=2)
    assert ad_of(db, a) == ad and ad_of(db, b) != ad
    split = rows(db, "SELECT ad_id, old_value, new_value, reason FROM v_ad_history WHERE field = 'ad_id'"
                     " AND reason LIKE 'split off%'")
    assert {r.ad_id for r in split} == {ad, ad_of(db, b)}
    assert {(r.old_value, r.new_value) for r in split} == {(str(ad), str(ad_of(db, b)))}


def test_a_readvertised_position_is_a_new_ad_linked_to_the_earlier_one(db):
    pair = first("readvertised")
    a, b = to_item(pair["a"]), to_item(pair["b"])
    store(db, [a])
    store(db, [b], hours=1)
    assert ad_of(db, a) != ad_of(db, b)
    linked = rows(db, "SELECT readvertised_from_ad_id FROM v_ads WHERE ad_id = :ad", ad=ad_of(db, b))
    assert [r.readvertised_from_ad_id for r in linked] == [ad_of(db, a)]


def partition(engine) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for r in rows(engine, "SELECT ad_id, source, source_ad_id FROM v_postings"):
        groups.setdefault(r.ad_id, set()).add(f"{r.source}:{r.source_ad_id}")
    return {frozenset(g) for g in groups.values()}


def test_rebuild_agrees_with_the_store_path_keeps_ids_and_is_idempotent(db):
    pairs = [p for p in PAIRS if p["case"] not in ("readvertised",)][:30]
    for n, pair in enumerate(pairs):
        store(db, [to_item(pair["a"]), to_item(pair["b"])], hours=n)
    before = rows(db, "SELECT ad_id, source_ad_id FROM v_postings ORDER BY source_ad_id")
    expected = {frozenset(f"{p[side]['source']}:{p[side]['source_ad_id']}" for side in "ab") for p in pairs
                if p["same"]}
    assert expected <= partition(db)
    result = rebuild_clusters(db)
    assert result.moved == 0 and result.ads_created == 0
    assert rows(db, "SELECT ad_id, source_ad_id FROM v_postings ORDER BY source_ad_id") == before
    again = rebuild_clusters(db)
    assert (again.moved, again.ads_created, again.ads_deleted) == (0, 0, 0)


def test_rebuild_places_postings_stored_without_clusters(db, monkeypatch):
    pair = first("nav_nav_duplicate")
    monkeypatch.setattr("storage.postings.update_clusters", lambda *args, **kwargs: None)
    store(db, [to_item(pair["a"]), to_item(pair["b"])])
    assert len(rows(db, "SELECT ad_id FROM v_ads")) == 2
    monkeypatch.undo()
    result = rebuild_clusters(db)
    assert (result.moved, result.ads_deleted) == (1, 1)
    [ad] = rows(db, "SELECT posting_count, sources FROM v_ads")
    assert (ad.posting_count, ad.sources) == (2, "nav")


def test_dedup_command_rebuilds_with_progress_and_is_idempotent(db, database_url, monkeypatch):
    pair = first("nav_nav_duplicate")
    monkeypatch.setattr("storage.postings.update_clusters", lambda *args, **kwargs: None)
    store(db, [to_item(pair["a"]), to_item(pair["b"])])
    monkeypatch.undo()
    monkeypatch.setenv("DATABASE_URL", database_url)
    first_run = CliRunner().invoke(cli, ["dedup", "--rebuild"])
    assert first_run.exit_code == 0, first_run.output
    assert "dedup: signatures: 2/2" in first_run.output and "1 moved to another ad" in first_run.output
    second_run = CliRunner().invoke(cli, ["dedup", "--rebuild"])
    assert "0 moved to another ad, 0 ads created, 0 ads emptied" in second_run.output
    assert [r.posting_count for r in rows(db, "SELECT posting_count FROM v_ads")] == [2]


def test_the_merge_rule_takes_text_from_the_longest_and_facts_from_the_most_structured_posting(db):
    pair = first("linked_nav_jobbnorge")
    nav_raw, jobbnorge_raw = sorted((pair["a"], pair["b"]), key=lambda p: p["source"] != "nav")
    longer = {**jobbnorge_raw, "description_html": jobbnorge_raw["description_html"] + "<p>Velkommen!</p>" * 60}
    nav, jobbnorge = to_item(nav_raw), to_item(longer)
    store(db, [nav, jobbnorge])
    [ad] = rows(db, "SELECT url, employer_orgnr, posting_count FROM v_ads")
    assert (ad.url, ad.employer_orgnr, ad.posting_count) == (jobbnorge.url, nav.employer_orgnr, 2)


def test_a_rebuild_in_batches_of_one_group_gives_the_ads_of_a_rebuild_in_one_batch(db, monkeypatch):
    pairs = [p for p in PAIRS if p["case"] not in ("readvertised",)][:40]
    monkeypatch.setattr("storage.postings.update_clusters", lambda *args, **kwargs: None)
    for n, pair in enumerate(pairs):
        store(db, [to_item(pair["a"]), to_item(pair["b"])], hours=n)
    monkeypatch.setattr("storage.clusters.REBUILD_BATCH", 1)
    batched = rebuild_clusters(db)
    expected = {frozenset(f"{p[side]['source']}:{p[side]['source_ad_id']}" for side in "ab") for p in pairs
                if p["same"]}
    assert batched.moved == len(expected) and expected <= partition(db)
    ads = rows(db, "SELECT id, primary_posting_id, facts_posting_id FROM ads ORDER BY id")
    monkeypatch.setattr("storage.clusters.REBUILD_BATCH", 1_000_000)
    whole = rebuild_clusters(db)
    assert (whole.moved, whole.ads_created, whole.ads_deleted) == (0, 0, 0)
    assert rows(db, "SELECT id, primary_posting_id, facts_posting_id FROM ads ORDER BY id") == ads


def test_the_pairs_the_signatures_rule_out_are_pairs_compare_finds_different(db):
    for pair in PAIRS[:120]:
        store(db, [to_item(pair["a"]), to_item(pair["b"])])
    with Session(db) as session:
        features = list(_load_features(session, [r.id for r in rows(db, "SELECT id FROM postings")]).values())
    kept = ruled_out = 0
    for a, b in combinations(features, 2):
        if a.links & b.links:
            continue
        possible = bool(may_match(np.count_nonzero(a.signature == b.signature),
                                  min(a.text_length, b.text_length)))
        verdict = compare(a, b)
        assert possible or not (verdict.same or verdict.readvertised)
        kept += possible
        ruled_out += not possible
    assert kept and ruled_out
