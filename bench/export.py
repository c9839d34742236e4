"""Benchmark of `munijobs export`: build a generated database of N ads, export it, print seconds and peak memory.

The ads are bulk-inserted straight into the tables `ads` and `postings` (not through store_batch), which is fast;
the search index is filled by the database's own triggers. Building and exporting run in child processes of a small
parent, so the export's peak memory (ru_maxrss, which on Linux includes the memory of the parent at fork) is its own.

    python bench/export.py --rows 100000
    python bench/export.py                      # 1,000,000 ads, SQLite in a temporary directory
    python bench/export.py --url postgresql+psycopg://postgres@127.0.0.1/munijobs_bench --format parquet
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

TITLES = (
    "Sykepleier",
    "Helsefagarbeider",
    "Lærer",
    "Lektor",
    "Barnehagelærer",
    "Assistent",
    "Renholder",
    "Ingeniør",
    "Rådgiver",
    "Saksbehandler",
    "Vernepleier",
    "Fagarbeider",
    "Konsulent",
    "Miljøterapeut",
)
UNITS = (
    "hjemmetjenesten",
    "sykehjemmet",
    "skolen",
    "barnehagen",
    "tekniske tjenester",
    "NAV-kontoret",
    "kulturskolen",
    "brannvesenet",
    "byggesak",
    "økonomiavdelingen",
)
ENGAGEMENTS = ("permanent",) * 6 + ("temporary", "temporary", "fixed_term", "summer", "seasonal", "project")
WORDS = (
    "vi",
    "søker",
    "en",
    "engasjert",
    "og",
    "dyktig",
    "medarbeider",
    "til",
    "vår",
    "avdeling",
    "med",
    "godt",
    "arbeidsmiljø",
    "fleksibel",
    "arbeidstid",
    "tverrfaglig",
    "samarbeid",
    "brukere",
    "pårørende",
    "kommunen",
    "ønsker",
    "erfaring",
    "utdanning",
    "relevant",
    "gode",
    "norskkunnskaper",
    "førerkort",
    "klasse",
    "B",
    "turnus",
    "helg",
    "natt",
    "lønn",
    "etter",
    "avtale",
    "pensjon",
    "KLP",
    "søknadsfrist",
    "[telefon]",
)
COLUMNS = (
    "id",
    "source",
    "source_ad_id",
    "ad_id",
    "status",
    "closed_at",
    "first_seen_at",
    "last_seen_at",
    "url",
    "title",
    "employer_name",
    "employer_orgnr",
    "municipality_code",
    "county_code",
    "description_text",
    "occupation_code",
    "occupation_name",
    "engagement_type",
    "extent",
    "job_percent_min",
    "job_percent_max",
    "positions",
    "deadline_date",
    "deadline_kind",
    "published_at",
    "expires_at",
    "language",
    "salary_min",
    "salary_max",
)


def generate(n: int, sqlite: bool, seed: int = 42):
    """N posting rows (tuples in COLUMNS order), deterministic, generated lazily."""
    from munijobs import codes

    rnd = random.Random(seed)
    municipalities = list(codes.municipalities().values())
    occupations = [o for o in codes.occupations().values() if o.code != "0000"]
    texts = [" ".join(rnd.choices(WORDS, k=rnd.randrange(60, 140))) for _ in range(5000)]
    start = datetime(2025, 1, 1, tzinfo=UTC)

    def moment(value: datetime):
        return value.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else value

    def day(value: date):
        return value.isoformat() if sqlite else value

    for i in range(1, n + 1):
        m = rnd.choice(municipalities)
        occupation = rnd.choice(occupations)
        published = start + timedelta(seconds=rnd.randrange(365 * 86400))
        seen = published + timedelta(minutes=rnd.randrange(1, 600))
        status = rnd.choices(("active", "expired", "withdrawn"), (5, 4, 1))[0]
        deadline = (published + timedelta(days=rnd.randrange(7, 40))).date()
        percent = rnd.choice((100.0, 100.0, 80.0, 50.0, 20.0))
        text = rnd.choice(texts)
        yield (
            i,
            rnd.choice(("nav", "jobbnorge")),
            f"bench-{i}",
            i,
            status,
            None if status == "active" else moment(seen + timedelta(days=30)),
            moment(seen),
            moment(seen + timedelta(days=rnd.randrange(0, 30))),
            f"https://example.no/ad/{i}",
            f"{rnd.choice(TITLES)} til {rnd.choice(UNITS)}",
            f"{m.short_name} kommune",
            f"9{rnd.randrange(10**8):08d}",
            m.code,
            m.county_code,
            text,
            occupation.code,
            occupation.name,
            rnd.choice(ENGAGEMENTS),
            "full_time" if percent == 100.0 else "part_time",
            percent,
            percent,
            rnd.randrange(1, 4),
            day(deadline),
            "date",
            moment(published),
            moment(datetime.combine(deadline, datetime.min.time(), UTC)),
            rnd.choice(("nb", "nb", "nn", "en")),
            rnd.choice((None, 480000.0, 550000.0)),
            None,
        )


def build(url: str, rows: int) -> float:
    """Create the schema and insert `rows` ads; returns the seconds it took."""
    from storage.db import get_engine, upgrade

    started = time.monotonic()
    engine = upgrade(get_engine(url))
    sqlite = engine.dialect.name == "sqlite"
    created = datetime(2025, 1, 1, tzinfo=UTC)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if sqlite:
            cursor.execute("PRAGMA journal_mode=OFF")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-500000")
            cursor.executemany(
                "INSERT INTO ads (id, primary_posting_id, created_at) VALUES (?, ?, ?)",
                ((i, i, "2025-01-01 00:00:00.000000") for i in range(1, rows + 1)),
            )
            cursor.executemany(
                f"INSERT INTO postings ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                generate(rows, sqlite=True),
            )
        else:
            with cursor.copy("COPY ads (id, primary_posting_id, created_at) FROM STDIN") as copy:
                for i in range(1, rows + 1):
                    copy.write_row((i, i, created))
            with cursor.copy(f"COPY postings ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in generate(rows, sqlite=False):
                    copy.write_row(row)
            for table in ("ads", "postings"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {rows})")
            cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    engine.dispose()
    return time.monotonic() - started


def export(url: str, target: Path, fmt: str) -> tuple[float, float]:
    """Run the export in a child process; returns (seconds, its peak resident memory in MB)."""
    env = {**os.environ, "DATABASE_URL": url}
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "munijobs", "export", "--format", fmt, "-o", str(target)], env=env)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"export failed with exit code {child.returncode}")
    return time.monotonic() - started, usage.ru_maxrss / 1024


def anchor(url: str, target: Path, fmt: str) -> float:
    """Seconds a bare tool takes for the same view: `sqlite3 -csv` (SQLite) or psql's COPY (PostgreSQL) for CSV and
    JSON Lines, and for Parquet pyarrow reading the same cursor (a child process, see parquet_anchor)."""
    started = time.monotonic()
    sqlite = url.startswith("sqlite")
    if fmt == "parquet":
        command = [sys.executable, __file__, "--parquet-anchor", "--url", url, "--target", str(target)]
    elif sqlite:
        command = ["sqlite3", "-csv", "-header", url.removeprefix("sqlite:///"), "SELECT * FROM v_ads"]
    else:
        psql_url = url.replace("postgresql+psycopg://", "postgresql://")
        command = ["psql", psql_url, "-qc", f"\\copy (SELECT * FROM v_ads) TO '{target}' WITH CSV HEADER"]
    with open(target, "wb") as out:
        subprocess.run(command, check=True, stdout=out if sqlite and fmt != "parquet" else None)
    return time.monotonic() - started


def parquet_anchor(url: str, target: Path) -> None:
    """pyarrow over a bare DB-API cursor on v_ads: each chunk of rows as typed columns, one row group per chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from munijobs.analysts.export import CHUNK_ROWS, column_kind
    from storage.db import get_engine

    engine = get_engine(url)
    raw = engine.raw_connection()
    cursor = raw.cursor(name="anchor") if engine.dialect.name == "postgresql" else raw.cursor()
    cursor.execute("SELECT * FROM v_ads ORDER BY ad_id")
    names = [d[0] for d in cursor.description]
    types = {"timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32(), "int": pa.int64(),
             "float": pa.float64(), "text": pa.string()}
    schema = pa.schema([(name, types[column_kind(name)]) for name in names])
    textual = {"timestamp", "date"} if engine.dialect.name == "sqlite" else set()
    with pq.ParquetWriter(str(target), schema, compression="zstd") as writer:
        while rows := cursor.fetchmany(CHUNK_ROWS):
            columns = zip(*rows, strict=True)
            arrays = [_textual(pa, values, field.type) if column_kind(field.name) in textual
                      else pa.array(values, field.type) for values, field in zip(columns, schema, strict=True)]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
    raw.close()


def _textual(pa, values, arrow_type):
    """SQLite's dates and UTC timestamps (text without an offset) as pyarrow parses them."""
    texts = pa.array(values, pa.string())
    return texts.cast(pa.timestamp("us")).cast(arrow_type) if pa.types.is_timestamp(arrow_type) else texts.cast(
        arrow_type)


def ratios(name: str, ours: list[float], theirs: list[float], anchor_name: str) -> str:
    values = sorted(o / t for o, t in zip(ours, theirs, strict=True))
    return (f"{name}: {statistics.median(ours):.1f} s, {anchor_name} {statistics.median(theirs):.1f} s; ratio min"
            f" {values[0]:.2f} median {statistics.median(values):.2f} max {values[-1]:.2f} ({len(values)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="number of ads (default 1,000,000)")
    parser.add_argument("--url", help="database URL (default: a new SQLite file in a temporary directory)")
    parser.add_argument("--format", default="csv", choices=("csv", "jsonl", "parquet"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--build-only", action="store_true", help="only build the database at --url")
    parser.add_argument("--reuse", action="store_true", help="export the database at --url as it is (no build)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parquet-anchor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.parquet_anchor:
        parquet_anchor(args.url, Path(args.target))
        return
    if args.build_only:
        print(f"built {args.rows:,} ads in {build(args.url, args.rows):.1f} s", flush=True)
        return
    directory = Path(tempfile.mkdtemp(prefix="munijobs-bench-"))
    url = args.url or f"sqlite:///{directory / 'bench.db'}"
    try:
        if not args.reuse:
            print(f"building {args.rows:,} ads in {url} ...", flush=True)
            subprocess.run([sys.executable, __file__, "--build-only", "--rows", str(args.rows), "--url", url],
                           check=True)
        target = directory / f"ads.{args.format}"
        ours, theirs = [], []
        for _ in range(args.runs):
            seconds, peak_mb = export(url, target, args.format)
            ours.append(seconds)
            theirs.append(anchor(url, directory / f"anchor.{args.format}", args.format))
        bare = "pyarrow on the same cursor" if args.format == "parquet" else (
            "sqlite3 -csv" if url.startswith("sqlite") else "psql COPY ... CSV")
        print(f"export {args.format}: peak memory {peak_mb:.0f} MB, file {target.stat().st_size / 1e6:.0f} MB")
        print(ratios(f"export {args.format}", ours, theirs, bare))
    finally:
        if args.keep:
            print(f"kept {directory}")
        else:
            for path in sorted(directory.iterdir()):
                path.unlink()
            directory.rmdir()


if __name__ == "__main__":
    main()
