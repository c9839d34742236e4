"""docs/data.md cannot rot: columns match the views, every example query runs on both databases, metadata in step."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from munijobs.analysts.dictionary import DIALECTS, DOCS, load_metadata, parse, render_metadata
from munijobs.analysts.views import VIEWS, view_columns
from munijobs.constants import DeadlineKind, EngagementType, Extent, Language, PostingStatus, RunStatus

DOC_TEXT = DOCS.read_text(encoding="utf-8")
DOC_VIEWS, EXAMPLES = parse(DOC_TEXT)


def test_documented_views_are_the_typed_views():
    assert set(DOC_VIEWS) == set(VIEWS)
    for name, columns in DOC_VIEWS.items():
        assert [c.name for c in columns] == list(VIEWS[name].columns.keys()), name
        for column in columns:
            assert column.meaning and column.type and column.vocabulary and column.example, (name, column.name)


def test_every_view_column_documented_and_every_documented_column_exists(engine):
    with engine.connect() as connection:
        for view, columns in DOC_VIEWS.items():
            assert view_columns(connection, view) == [c.name for c in columns], view


@pytest.mark.parametrize(("vocabulary", "enum"), [
    ("status", PostingStatus), ("engagement_type", EngagementType), ("extent", Extent),
    ("deadline_kind", DeadlineKind), ("language", Language), ("run status", RunStatus)])
def test_vocabularies_documented(vocabulary, enum):
    row = re.search(rf"^\| {vocabulary} \| (.*) \|$", DOC_TEXT, re.MULTILINE)
    assert row, vocabulary
    assert re.findall(r"`(\w+)`", row.group(1)) == [e.value for e in enum]


def test_examples_have_both_dialects():
    assert {e.name for e in EXAMPLES} >= {"ads_per_municipality_per_month", "temporary_share_by_county",
                                          "ads_still_open", "history_of_one_ad"}
    for example in EXAMPLES:
        assert set(example.sql) == set(DIALECTS) and example.title, example.name


def test_examples_run(ads_engine):
    dialect = ads_engine.dialect.name
    with ads_engine.connect() as connection:
        results = {e.name: connection.execute(text(e.sql[dialect]), {"ad_id": 5}).mappings().all()
                   for e in EXAMPLES}
    per_month = {(r["municipality_code"], r["month"]): r["ads"] for r in results["ads_per_municipality_per_month"]}
    assert per_month[("5001", "2026-01")] == 2 and per_month[("5501", "2025-12")] == 1
    shares = {r["county_code"]: (r["ads"], r["temporary_ads"], float(r["temporary_percent"]))
              for r in results["temporary_share_by_county"]}
    assert shares["50"] == (2, 1, 50.0) and shares["46"] == (1, 0, 0.0) and shares["03"] == (1, 1, 100.0)
    assert all(r["deadline_kind"] != "x" for r in results["ads_still_open"])
    assert {r["ad_id"] for r in results["ads_still_open"]} <= {1, 2, 5, 6, 7, 8}
    assert 7 in {r["ad_id"] for r in results["ads_still_open"]}
    history = [(r["field"], r["old_value"], r["new_value"]) for r in results["history_of_one_ad"]]
    assert history == [("title", "Ingeniør vann og avløp", "Ingeniør vann og avløp (fast)")]
    assert [r["source"] for r in results["postings_of_one_ad"]] == ["nav"]
    assert {r["source"]: r["status"] for r in results["last_run_per_source"]} == {"nav": "partial",
                                                                                  "jobbnorge": "failed"}


def test_datasette_metadata_in_step_with_docs():
    assert render_metadata() == (DOCS.parent.parent / "munijobs/analysts/metadata.json").read_text(encoding="utf-8")
    metadata = load_metadata()
    assert set(metadata["tables"]["v_ads"]["columns"]) == {c.name for c in DOC_VIEWS["v_ads"]}
    assert set(metadata["queries"]) == {e.name for e in EXAMPLES}
