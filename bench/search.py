"""Seconds of `munijobs search` (first page of 20 with the count) beside the bare index query, on a generated database.

The anchor, run in the same process on the same database: the full-text index alone (SQLite: an FTS5 MATCH with a
count and 20 bm25-ranked snippets; PostgreSQL: a tsquery count and 20 ts_rank-ranked ts_headline), as a bare
client sends it. Also times the first row of a filtered export (`--status active --county 50`). Prints each figure,
the ratio to the anchor, min/median/max over --runs.

    python bench/search.py                              # 100,000 ads in a temporary SQLite file
    python bench/search.py --rows 1000000 --url sqlite:////tmp/m1.db --keep    # build once, reuse later
    python bench/search.py --url postgresql+psycopg://postgres@127.0.0.1/munijobs_bench --rows 1000000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text

from munijobs.analysts.export import ads_query
from munijobs.analysts.filters import AdFilters
from munijobs.analysts.search import search
from storage.db import get_engine

QUERY = "sykepleier natt"
BARE = {
    "sqlite": ("SELECT count(*) FROM postings_fts WHERE postings_fts MATCH :q",
               "SELECT rowid, snippet(postings_fts, 2, '[', ']', '…', 24) FROM postings_fts"
               " WHERE postings_fts MATCH :q ORDER BY bm25(postings_fts, 10.0, 4.0, 1.0) LIMIT 20"),
    "postgresql": ("SELECT count(*) FROM postings WHERE search_document @@ plainto_tsquery('norwegian', :q)",
                   "SELECT id, ts_headline('norwegian', description_text, q) FROM"
                   " (SELECT id, description_text, plainto_tsquery('norwegian', :q) AS q,"
                   " ts_rank(search_document, plainto_tsquery('norwegian', :q)) AS score FROM postings"
                   " WHERE search_document @@ plainto_tsquery('norwegian', :q) ORDER BY score DESC LIMIT 20) best"),
}


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def bare_search(engine, dialect: str) -> None:
    count, page = BARE[dialect]
    with engine.connect() as connection:
        connection.execute(text(count), {"q": QUERY}).scalar_one()
        connection.execute(text(page), {"q": QUERY}).all()


def first_export_row(engine, filters: AdFilters) -> None:
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=1000).execute(
            ads_query(filters, ["ad_id", "title", "status"], engine.dialect.name))
        result.fetchmany(1)
        result.close()


def bare_first_row(engine) -> None:
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True).execute(
            text("SELECT p.ad_id, p.title, p.status FROM postings p JOIN ads a ON a.primary_posting_id = p.id"
                 " WHERE p.status = 'active' AND p.county_code = '50'"))
        result.fetchmany(1)
        result.close()


def summary(name: str, ours: list[float], anchor: list[float], anchor_name: str) -> None:
    ratios = sorted(o / a for o, a in zip(ours, anchor, strict=True))
    print(f"{name}: {statistics.median(ours):.3f} s (min {min(ours):.3f}, max {max(ours):.3f}); {anchor_name}"
          f" {statistics.median(anchor):.3f} s; ratio min {ratios[0]:.1f} median {statistics.median(ratios):.1f}"
          f" max {ratios[-1]:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="ads to generate when the database is empty")
    parser.add_argument("--url", help="database URL (default: a new SQLite file in a temporary directory)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep a generated SQLite file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="munijobs-bench-"))
    url = args.url or f"sqlite:///{workdir / 'search.db'}"
    engine = get_engine(url)
    with engine.connect() as connection:
        built = engine.dialect.has_table(connection, "postings")
        count = connection.execute(select(func.count()).select_from(text("postings"))).scalar_one() if built else 0
    if not count:
        print(f"building {args.rows:,} ads in {url} ...", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).parent / "export.py"), "--build-only", "--rows",
                        str(args.rows), "--url", url], check=True)
        count = args.rows
    dialect = engine.dialect.name
    filters = AdFilters(statuses=("active",), county_codes=("50",))
    found, _ = search(engine, QUERY, AdFilters())
    print(f"{dialect}, {count:,} ads; {QUERY!r} matches {found:,} ads", flush=True)
    ours, anchor, export_ours, export_anchor = [], [], [], []
    for _ in range(args.runs):
        ours.append(timed(lambda: search(engine, QUERY, AdFilters())))
        anchor.append(timed(lambda: bare_search(engine, dialect)))
        export_ours.append(timed(lambda: first_export_row(engine, filters)))
        export_anchor.append(timed(lambda: bare_first_row(engine)))
    summary(f"search {QUERY!r}, first page and count", ours, anchor, "bare index query")
    summary("filtered export, first row", export_ours, export_anchor, "bare SELECT on postings")
    engine.dispose()
    if args.keep or args.url:
        print(f"kept {url}" if not args.url else "", end="")
    else:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
