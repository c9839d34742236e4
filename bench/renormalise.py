"""Postings per second of `munijobs renormalise` over a fresh SQLite database, with 1 and with 2 worker processes.

The database is filled with --postings copies of bench/normalise_speed.py's ad (each text made different, work places
spread over the municipalities), stored as an earlier normaliser left them: raw fields only. The first pass
therefore changes every posting and writes its history; the second finds nothing to change.

Usage:  python bench/renormalise.py [--postings 5000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from normalise_speed import sample_posting, unique_postings

from munijobs import codes
from munijobs.items import WorkLocation
from storage.db import get_engine, session_scope, upgrade
from storage.postings import store_batch
from storage.renormalise import renormalise_postings

MILLION = 1_000_000


def fill(url: str, count: int) -> None:
    """Store `count` postings with raw fields only, as a normaliser that did nothing would have left them."""
    municipalities = list(codes.municipalities().values())
    engine = upgrade(get_engine(url))
    for start in range(0, count, 500):
        postings = unique_postings(sample_posting(), min(500, count - start), run=start)
        for number, posting in enumerate(postings, start=start):
            posting.source_ad_id = f"bench-{number}"
            place = municipalities[number % len(municipalities)]
            posting.work_locations = [WorkLocation(municipality=place.short_name.upper())]
        with session_scope(engine) as session:
            store_batch(session, postings)
    engine.dispose()


def timed(url: str, workers: int) -> tuple[float, int]:
    """Seconds of wall time for one renormalise pass, and the postings it changed."""
    engine = get_engine(url)
    started = time.perf_counter()
    result = renormalise_postings(engine, workers=workers)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, result.changed


def pure_normaliser(url: str) -> float:
    """Postings per second of normalise_posting alone over the same stored postings, one process (the anchor)."""
    from storage.renormalise import _normalise_all, _stored_chunks

    engine = get_engine(url)
    chunks = list(_stored_chunks(engine, [], {}))
    engine.dispose()
    started = time.perf_counter()
    for items in chunks:
        _normalise_all(items)
    return sum(map(len, chunks)) / (time.perf_counter() - started)


def main() -> None:
    """Print, per worker count, postings per second of a changing and of an idle pass, and the time for a million;
    then the changing pass against the pure normaliser and 2 workers against 1 (min/median/max of --runs)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    count = args.postings
    to_pure, speedup = [], []
    with tempfile.TemporaryDirectory(prefix="munijobs-bench-") as workdir:
        for run in range(args.runs):
            rates = {}
            for workers in (1, 2):
                url = f"sqlite:///{Path(workdir) / f'renormalise-{run}-{workers}.db'}"
                fill(url, count)
                pure = pure_normaliser(url) if workers == 1 else None
                for label in ("every posting changes", "nothing changes"):
                    seconds, changed = timed(url, workers)
                    rate = count / seconds
                    rates.setdefault(workers, rate)
                    print(f"workers={workers}  {label:<22} {rate:6.0f} postings/s  ({changed} changed;"
                          f" a million would take {MILLION / rate / 60:.0f} min)")
                if pure:
                    print(f"pure normaliser (anchor)          {pure:6.0f} postings/s")
                    to_pure.append(rates[1] / pure)
            speedup.append(rates[2] / rates[1])
    for name, values in (("renormalise / pure normaliser", to_pure), ("2 workers / 1 worker", speedup)):
        values.sort()
        print(f"{name}: min {values[0]:.2f} median {statistics.median(values):.2f} max {values[-1]:.2f}")


if __name__ == "__main__":
    main()
