"""munijobs export: formats, filters, Excel flavour, atomic output, bad input (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, update

from munijobs.analysts.export import export_ads
from munijobs.analysts.filters import AdFilters, where
from munijobs.analysts.views import v_ads, view_columns
from storage.db import session_scope
from storage.models import Ad
from tests.analysts.conftest import T2


def rows_of(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout_bytes.decode(), newline="")))


def titles(result) -> set[str]:
    return {r["title"] for r in rows_of(result)}


def test_typed_view_matches_database(ads_engine):
    with ads_engine.connect() as connection:
        assert view_columns(connection, "v_ads") == list(v_ads.columns.keys())


def test_csv_is_rfc4180_with_header_and_iso_values(run):
    result = run("export", "--format", "csv", "-o", "-")
    raw = result.stdout_bytes.decode()
    assert raw.startswith("ad_id,title,")
    assert "\r\n" in raw and "\n" not in raw.replace("\r\n", "")
    rows = rows_of(result)
    assert len(rows) == 8
    first = rows[0]
    assert first["title"] == "Sykepleier til hjemmetjenesten"
    assert first["published_at"] == "2026-01-05T09:30:00+00:00"
    assert first["deadline_date"] == "2026-02-01"
    assert first["job_percent_min"] == "100" and first["salary_max"] == "610500.5"
    assert first["municipality_name"] == "Trondheim - Tråante"
    assert "contact" not in ",".join(first)
    assert "export: wrote 8 ads" in result.stderr


def test_filters(run):
    assert titles(run("export", "-o", "-", "--municipality", "TRONDHEIM")) == {
        "Sykepleier til hjemmetjenesten", "Helsefagarbeider, sommerjobb"}
    assert titles(run("export", "-o", "-", "--municipality", "Tråante")) == titles(
        run("export", "-o", "-", "--municipality", "5001"))
    assert titles(run("export", "-o", "-", "--county", "Nordland")) == {
        "Renholder", "=HYPERLINK(\"http://evil.example\")"}
    assert titles(run("export", "-o", "-", "--county", "03,46")) == {
        "Barnehagelærer, vikariat", "Rådgiver <script>alert(1)</script> & økonomi"}
    assert titles(run("export", "-o", "-", "--status", "expired")) == {"Barnehagelærer, vikariat"}
    assert titles(run("export", "-o", "-", "--status", "withdrawn", "--status", "expired")) == {
        "Barnehagelærer, vikariat", "Renholder"}
    assert titles(run("export", "-o", "-", "--employer", "ålesund")) == {"Lærer i norsk og samfunnsfag"}
    assert titles(run("export", "-o", "-", "--employer", "ÅLESUND KOMMUNE")) == {"Lærer i norsk og samfunnsfag"}
    assert titles(run("export", "-o", "-", "--employer", "964 980 381")) == {"Lærer i norsk og samfunnsfag"}
    assert titles(run("export", "-o", "-", "--occupation", "sykepleier")) == {"Sykepleier til hjemmetjenesten"}
    assert titles(run("export", "-o", "-", "--occupation", "234")) == {
        "Lærer i norsk og samfunnsfag", "Barnehagelærer, vikariat"}
    assert titles(run("export", "-o", "-", "--published-since", "2026-01-20", "--published-until",
                      "2026-01-21")) == {"Barnehagelærer, vikariat", "Helsefagarbeider, sommerjobb"}


def test_updated_since_finds_changed_and_closed_ads(run):
    since = run("export", "-o", "-", "--updated-since", "2026-01-24", "--columns", "title,status")
    assert titles(since) == {"Ingeniør vann og avløp (fast)", "Barnehagelærer, vikariat", "Renholder"}
    assert titles(run("export", "-o", "-", "--updated-since", "2026-02-01T00:00:00+01:00")) == {"Renholder"}


def test_columns_subset_in_given_order(run):
    result = run("export", "-o", "-", "--columns", "title,ad_id", "--municipality", "1508")
    assert result.stdout_bytes.decode() == "title,ad_id\r\nLærer i norsk og samfunnsfag,2\r\n"


def test_excel_flavour(run):
    result = run("export", "--excel", "-o", "-", "--municipality", "5001,0301,1804")
    raw = result.stdout_bytes
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    by_title = {r["title"]: r for r in rows}
    nurse = by_title["Sykepleier til hjemmetjenesten"]
    assert nurse["published_at"] == "05.01.2026 09:30" and nurse["deadline_date"] == "01.02.2026"
    assert nurse["salary_max"] == "610500,5" and nurse["job_percent_max"] == "100"
    assert by_title["Barnehagelærer, vikariat"]["municipality_code"] == '="0301"'
    assert "'=HYPERLINK(\"http://evil.example\")" in by_title
    assert by_title["'=HYPERLINK(\"http://evil.example\")"]["description_text"] == "'-2+3 is not a formula here"


def test_jsonl(run):
    result = run("export", "--format", "jsonl", "-o", "-", "--status", "expired")
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["title"] == "Barnehagelærer, vikariat" and record["status"] == "expired"
    assert record["closed_at"] == "2026-01-25T07:00:00+00:00" and record["sources"] == "jobbnorge"


def test_parquet_types(run, tmp_path):
    target = tmp_path / "ads.parquet"
    assert run("export", "--format", "parquet", "-o", str(target)).exit_code == 0
    table = pq.read_table(target)
    schema = table.schema
    assert schema.field("published_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("deadline_date").type == pa.date32()
    assert schema.field("ad_id").type == pa.int64() and schema.field("positions").type == pa.int64()
    assert schema.field("job_percent_min").type == pa.float64()
    assert schema.field("title").type == pa.string()
    assert table.num_rows == 8
    nurse = table.filter(pa.compute.equal(table["ad_id"], 1)).to_pylist()[0]
    assert nurse["published_at"] == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    assert nurse["deadline_date"] == date(2026, 2, 1)
    assert not list(tmp_path.glob(".*.part"))


def test_failed_export_leaves_no_file(ads_engine, tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "ads.csv"
    target.write_text("previous export")

    def broken(self, rows):
        raise KeyboardInterrupt

    monkeypatch.setattr("munijobs.analysts.export.CsvWriter.write", broken)
    with pytest.raises(KeyboardInterrupt):
        export_ads(ads_engine, str(target), "csv", AdFilters(), list(v_ads.columns.keys()))
    assert target.read_text() == "previous export"
    assert list(target.parent.iterdir()) == [target]


def test_streams_in_chunks(ads_engine, tmp_path, monkeypatch):
    monkeypatch.setattr("munijobs.analysts.export.CHUNK_ROWS", 3)
    sizes = []
    original = __import__("munijobs.analysts.export", fromlist=["JsonlWriter"]).JsonlWriter.write
    monkeypatch.setattr("munijobs.analysts.export.JsonlWriter.write",
                        lambda self, rows: (sizes.append(len(rows)), original(self, rows)))
    assert export_ads(ads_engine, str(tmp_path / "a.jsonl"), "jsonl", AdFilters(updated_since=T2), ["ad_id"]) == 1
    assert export_ads(ads_engine, str(tmp_path / "a.jsonl"), "jsonl", AdFilters(), ["ad_id"]) == 8
    assert sizes == [1, 3, 3, 2]


@pytest.mark.parametrize(("args", "named"), [
    (["--municipality", "Gotham"], "'Gotham'"),
    (["--municipality", "9999"], "'9999'"),
    (["--municipality", "Herøy"], "1515"),
    (["--county", "Atlantis"], "'Atlantis'"),
    (["--published-since", "2026-13-01"], "YYYY-MM-DD"),
    (["--published-until", "yesterday"], "'yesterday'"),
    (["--updated-since", "soon"], "'soon'"),
    (["--columns", "title,phone"], "'phone'"),
    (["--format", "xlsx"], "'xlsx'"),
    (["--status", "open"], "'open'"),
    (["--occupation", "astronaut"], "'astronaut'"),
    (["--occupation", "99"], "'99'"),
    (["--excel", "--format", "jsonl"], "'jsonl'"),
    (["--no-such-option"], "--no-such-option"),
    (["-o", "/no/such/dir/ads.csv"], "'/no/such/dir'"),
])
def test_bad_input_is_one_line_exit_2(run_without_database, args, named):
    result = run_without_database("export", "-o", "-", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0], result.stderr


@pytest.mark.parametrize("filters", [AdFilters(), AdFilters(statuses=("active",), county_codes=("50", "18")),
                                     AdFilters(municipality_codes=("5001",), employer_name="kommune")])
def test_rows_come_in_ad_id_order_with_or_without_a_sort(ads_engine, tmp_path, filters):
    """SQLite skips the ORDER BY only when its plan already yields ad_id order; the output is the same either way."""
    with session_scope(ads_engine) as session:  # ad 2 now shows posting 6, ad 6 posting 2: ads out of posting order
        session.execute(update(Ad).where(Ad.id == 2).values(primary_posting_id=6))
        session.execute(update(Ad).where(Ad.id == 6).values(primary_posting_id=2))
    target = tmp_path / "ads.jsonl"
    export_ads(ads_engine, str(target), "jsonl", filters, ["ad_id", "title"])
    exported = [json.loads(line)["ad_id"] for line in target.read_text().splitlines()]
    with ads_engine.connect() as connection:
        expected = list(connection.execute(select(v_ads.c.ad_id).where(*where(filters, ads_engine.dialect.name))
                                           .order_by(v_ads.c.ad_id)).scalars())
    assert exported == expected and len(expected) >= 1
