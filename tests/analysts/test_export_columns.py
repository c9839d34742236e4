"""The column-at-a-time conversions of export give what converting each value alone gives, fallbacks included."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from munijobs.analysts.export import CsvWriter, canonical_column, csv_field, number, timestamp_text

FIELD = csv_field(",")


def one_by_one_csv(kind: str, values) -> list[str]:
    reference = {"timestamp": timestamp_text, "float": lambda v: number(v) if isinstance(v, float) else v}.get(
        kind, lambda v: v)
    return [FIELD(None if v is None else reference(v)) for v in values]


def csv_lines(columns: list[str], rows: list[tuple]) -> list[str]:
    binary = io.BytesIO()
    writer = CsvWriter(binary, columns)
    writer.write(rows)
    writer.close()
    return binary.getvalue().decode().split("\r\n")[1:-1]


@pytest.mark.parametrize("values", [
    ("2026-01-05 09:30:00.000000", None, "2026-01-05 09:30:00.123456", None),
    ("2026-01-05 09:30:00.000000", "2026-01-05T09:30:00"),  # another form: each converted alone
    ("2026-01-05 09:30:00.000000", datetime(2026, 1, 5, 10, 30, tzinfo=timezone(timedelta(hours=1)))),
    (None, None),
    (datetime(2026, 1, 5, 9, 30, 0, 5, tzinfo=UTC),),
])
def test_timestamps_column_equals_one_by_one(values):
    assert canonical_column("timestamp")(values) == [None if v is None else timestamp_text(v) for v in values]
    assert csv_lines(["published_at"], [(v,) for v in values]) == [
        text or '""' for text in one_by_one_csv("timestamp", values)]


@pytest.mark.parametrize("values", [
    (480000.0, None, 37.5, 0.0, 610500.5),
    (-0.0, 1.0),  # -0.0 is written as 0
    (1e16, 2.0),  # str() would write an exponent
    (float("nan"), 1.0),
    (0.1 + 0.2, None),
    (None, None),
    (3, 4.0),  # an integer in a float column
])
def test_floats_column_equals_one_by_one(values):
    assert csv_lines(["salary_min", "ad_id"], [(v, 1) for v in values]) == [
        f"{text},1" for text in one_by_one_csv("float", values)]


def test_text_and_int_columns_quote_exactly_what_needs_it():
    titles = ("plain", None, "a, b", 'say "hi"', "two\nlines", "cr\r", "")
    rows = [(n, title) for n, title in enumerate(titles)]
    assert csv_lines(["ad_id", "title"], rows) == [f"{n},{FIELD(title)}" for n, title in rows]


def test_dates_and_a_lone_empty_column():
    assert canonical_column("date")(("2026-02-01", date(2026, 2, 1), None)) == ["2026-02-01", "2026-02-01", None]
    assert csv_lines(["deadline_date"], [(None,), ("2026-02-01",)]) == ['""', "2026-02-01"]
