"""Benchmark of v_coverage and `munijobs coverage --since`: seconds to read the whole view on a generated database.

The database is bench/export.py's (N postings of nav and jobbnorge, bulk-inserted); then every jobbnorge posting
that follows a nav posting joins its ad, as deduplication would, so about a quarter of the ads are shared.

    python bench/coverage.py --rows 100000
    python bench/coverage.py --url postgresql+psycopg://postgres@127.0.0.1/munijobs_bench --rows 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from export import build  # noqa: E402
from sqlalchemy import text  # noqa: E402

from munijobs.analysts.coverage import collect  # noqa: E402
from storage.db import get_engine  # noqa: E402

SHARE = """
UPDATE postings SET ad_id = id - 1
 WHERE source = 'jobbnorge' AND id > 1
   AND (SELECT q.source FROM postings q WHERE q.id = postings.id - 1) = 'nav'
"""


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--url", help="database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = args.url or f"sqlite:///{Path(directory) / 'coverage-bench.db'}"
        seconds = build(url, args.rows)
        engine = get_engine(url)
        with engine.begin() as connection:
            shared = connection.execute(text(SHARE)).rowcount
        print(f"built {args.rows:,} postings ({shared:,} joined a nav ad) on {engine.dialect.name} in {seconds:.1f} s")
        now = datetime(2026, 1, 1, tzinfo=UTC)
        for label, since in (("v_coverage (active now)", None), ("coverage --since 2025-10-01", date(2025, 10, 1))):
            seconds, result = timed(lambda since=since: collect(engine, since=since, now=now))
            total = sum(r.total for r in result.rows)
            print(f"{label}: {seconds:.2f} s for {len(result.rows)} municipalities x {len(result.sources)} sources, "
                  f"{total:,} ads counted")
        engine.dispose()


if __name__ == "__main__":
    main()
