"""Precision and recall of deduplication on the labelled pairs, through the normaliser and the store path."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, text

from storage.db import ensure_source, session_scope
from storage.models import Ad, AdEvent, DedupKey, DedupSignature, Posting, PostingChange, PostingRaw, WorkLocation
from storage.postings import store_batch
from tests.dedup.pairs import LABELLED, LINKED_CASES, Score, is_tuning, load_pairs, to_item

MIN_PRECISION, MIN_RECALL = 0.98, 0.95
MIN_READVERTISED_LINKED = 0.95


def _empty(session) -> None:
    for model in (AdEvent, DedupKey, DedupSignature, PostingChange, WorkLocation, PostingRaw, Posting, Ad):
        session.execute(delete(model))


def _place(engine, pair: dict, reverse: bool) -> tuple[dict, dict]:
    """Store the pair's postings one crawl after the other (b first when reverse); their v_postings and v_ads rows."""
    items = [to_item(pair["a"]), to_item(pair["b"])]
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for n, item in enumerate(reversed(items) if reverse else items):
        with session_scope(engine) as session:
            store_batch(session, [item], now=start + timedelta(hours=n))
    with engine.connect() as connection:
        rows = {(r.source, r.source_ad_id): r.ad_id for r in connection.execute(
            text("SELECT source, source_ad_id, ad_id FROM v_postings"))}
        ads = {r.ad_id: r.readvertised_from_ad_id for r in connection.execute(
            text("SELECT ad_id, readvertised_from_ad_id FROM v_ads"))}
    a, b = (rows[(p["source"], str(p["source_ad_id"]))] for p in (pair["a"], pair["b"]))
    return {"a": a, "b": b}, ads


def test_labelled_pairs_meet_precision_and_recall(engine):
    pairs = load_pairs(LABELLED)
    ensure_source(engine, "jobbnorge")
    scores: dict[str, Score] = defaultdict(Score)
    misses, readvertised = [], Score()
    for n, pair in enumerate(pairs):
        with session_scope(engine) as session:
            _empty(session)
        ads, links = _place(engine, pair, reverse=n % 2 == 1)
        predicted = ads["a"] == ads["b"]
        groups = ["all", "linked" if pair["case"] in LINKED_CASES else "unlinked",
                  "tuning (odd ids)" if is_tuning(pair) else "held out (even ids)", f"case {pair['case']}"]
        for group in groups:
            scores[group].add(pair["same"], predicted)
        if predicted != pair["same"]:
            misses.append(f"{pair['id']} {pair['case']}: predicted {'same' if predicted else 'different'}")
        if pair["case"] == "readvertised":
            readvertised.add(True, links.get(ads["b"]) == ads["a"] or links.get(ads["a"]) == ads["b"])
    report = [f"{engine.dialect.name}, {LABELLED.name}:", *(f"  {group}: {score}" for group, score in
              sorted(scores.items())), f"  readvertised pairs linked: {readvertised.recall:.3f}",
              *(f"  miss {m}" for m in misses)]
    print("\n".join(report))
    assert scores["all"].precision >= MIN_PRECISION, "\n".join(report)
    assert scores["all"].recall >= MIN_RECALL, "\n".join(report)
    assert readvertised.recall >= MIN_READVERTISED_LINKED, "\n".join(report)


def test_the_labelled_set_covers_every_case():
    pairs = load_pairs(LABELLED)
    cases = defaultdict(int)
    for pair in pairs:
        cases[pair["case"]] += 1
    assert len(pairs) >= 200
    assert all(cases[case] >= 10 for case in ("same_employer_units", "percent_differs", "shift_differs",
                                              "neighbour_municipality", "readvertised")), dict(cases)
