"""Postings per second of `munijobs renormalise` over a fresh SQLite database, with 1 and with 2 worker processes.

The database is filled with --postings copies of bench/normalise_speed.py's ad (each text made different, work places
spread over the municipalities), stored as an earlier normaliser left them: raw fields only. The first pass
therefore changes every posting and writes its history (and deduplicates it again, in the writing process: store_batch
ends in storage.clusters.update_clusters); the second finds nothing to change.

Besides wall time it prints the CPU seconds (user + system) of the writing process (which on SQLite runs the database
too) and of the worker processes, and from them the most 2 workers could gain on an idle 2-core machine (an upper
bound, with perfect overlap): a pass needs at least max(writer, (writer + workers) / 2) seconds there (the writer
writes chunk after chunk; all of the work shares two cores), against the 1-worker pass's CPU seconds (all in one
process). On a shared machine the wall ratio also counts the waits for a core; on an idle one it also counts the
writer waiting for the first chunks and the workers waiting for the writer.

Usage:  python bench/renormalise.py [--postings 5000]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from normalise_speed import sample_posting, unique_postings
from sqlalchemy import select
from sqlalchemy.orm import Session

from munijobs import codes
from munijobs.items import WorkLocation
from storage.db import get_engine, session_scope, upgrade
from storage.models import Posting
from storage.postings import store_batch
from storage.renormalise import renormalise_postings

MILLION = 1_000_000
PASSES = ("every posting changes", "nothing changes")


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


def cpu_seconds(who: int) -> float:
    """User + system CPU seconds of this process (RUSAGE_SELF) or of its ended worker processes (RUSAGE_CHILDREN)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed(url: str, workers: int) -> tuple[float, int, float, float]:
    """Seconds of wall time for one renormalise pass, the postings it changed, and the CPU seconds of this process
    (the writer, which on SQLite runs the database too) and of the worker processes."""
    engine = get_engine(url)
    parent, children = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = renormalise_postings(engine, workers=workers)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return (elapsed, result.changed, cpu_seconds(resource.RUSAGE_SELF) - parent,
            cpu_seconds(resource.RUSAGE_CHILDREN) - children)


def idle_seconds(parent: float, workers: float, cores: int = 2) -> float:
    """The wall time these CPU seconds need at least on an idle machine of `cores` cores: the writer's own seconds
    (it writes one chunk after another), or all the work spread over the cores, whichever is longer."""
    return max(parent, (parent + workers) / cores)


def pure_normaliser(url: str) -> float:
    """Postings per second of normalise_posting alone over the same stored postings, one process (the anchor)."""
    from storage.postings import load_postings
    from storage.renormalise import _id_chunks, _normalise_all

    engine = get_engine(url)
    chunks = []
    for ids in _id_chunks(engine, []):
        with Session(engine) as session:
            chunks.append(load_postings(session, list(session.scalars(select(Posting).where(Posting.id.in_(ids))))))
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
    to_pure, speedup, idle_speedup = [], [], {label: [] for label in PASSES}
    with tempfile.TemporaryDirectory(prefix="munijobs-bench-") as workdir:
        for run in range(args.runs):
            rates, idle = {}, {}
            for workers in (1, 2):
                url = f"sqlite:///{Path(workdir) / f'renormalise-{run}-{workers}.db'}"
                fill(url, count)
                pure = pure_normaliser(url) if workers == 1 else None
                for label in PASSES:
                    seconds, changed, parent, children = timed(url, workers)
                    rate = count / seconds
                    rates.setdefault(workers, rate)
                    idle[workers, label] = idle_seconds(parent, children)
                    print(f"workers={workers}  {label:<22} {rate:6.0f} postings/s  ({changed} changed;"
                          f" a million would take {MILLION / rate / 60:.0f} min); CPU s: writer {parent:.2f},"
                          f" workers {children:.2f} (load average {os.getloadavg()[0]:.1f})")
                if pure:
                    print(f"pure normaliser (anchor)          {pure:6.0f} postings/s")
                    to_pure.append(rates[1] / pure)
            speedup.append(rates[2] / rates[1])
            for label in PASSES:
                idle_speedup[label].append(idle[1, label] / idle[2, label])
    figures = [("renormalise / pure normaliser", to_pure), ("2 workers / 1 worker", speedup),
               *((f"2 workers / 1 worker on an idle 2-core machine at best, from CPU seconds ({label})", values)
                 for label, values in idle_speedup.items())]
    for name, values in figures:
        values.sort()
        print(f"{name}: min {values[0]:.2f} median {statistics.median(values):.2f} max {values[-1]:.2f}")


if __name__ == "__main__":
    main()
