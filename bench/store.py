"""Postings per second of `store_batch` beside a bare client (sqlite3 / psycopg) writing the same rows, same schema.

Each run builds a fresh database, stores N normalised postings in batches of 500 (insert: every posting new), then
the same postings with a new title and ad text (update: every posting changed, two history rows each). The anchor
does the same, batch by batch in turn with store_batch, on a second fresh database with hand-written SQL: an
executemany upsert of the posting rows, their ids read back, a canonical ad for each new one, work locations replaced,
the raw HTML upserted, and on update the history rows (the changed fields' stored values read first in one query,
then old and new value written, as store_batch writes them). The ratio is store_batch's rate over the anchor's (1.0 = as
fast as the bare client); min/median/max of --runs. On SQLite the same ratio in CPU seconds of this process (the
database runs in it) is printed too: on a busy machine wall time also counts the waits for a core.

Deduplication (storage.clusters.update_clusters, which store_batch ends in) is left out of both sides by default: the
bare client does none, so store_batch runs here with it replaced by a no-op, and the ratio is that of the store path
proper; bench/dedup.py measures the clustering. With --with-clustering both sides run the real update_clusters on the
batch's postings (the same work on both sides; slow here, as every posting is a near-copy of one ad).

    python bench/store.py                        # SQLite, 5,000 postings, 3 runs
    python bench/store.py --url postgresql+psycopg://postgres@127.0.0.1/postgres --postings 20000
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from normalise_speed import sample_posting

import storage.postings
from munijobs.normalise import normalise_posting
from storage.clusters import update_clusters
from storage.db import get_engine, session_scope, upgrade
from storage.postings import CONTENT_COLUMNS, content_hash, location_values, posting_values, store_batch

BATCH = 500


def postings(count: int, edition: int) -> list:
    """`count` distinct normalised postings; edition 1 differs from 0 in title and ad text."""
    template = normalise_posting(sample_posting())
    result = []
    for number in range(count):
        item = copy.copy(template)
        item.source_ad_id = f"bench-{number}"
        item.title = f"{template.title} {number}" + (" (ny utlysning)" if edition else "")
        item.description_text = f"{template.description_text} Referanse {number}-{edition}."
        item.work_locations = [copy.copy(loc) for loc in template.work_locations]
        result.append(item)
    return result


def project(url: str, clustering: bool):
    """A function storing one batch of one edition with store_batch (without `clustering`, its update_clusters is a
    no-op)."""
    engine = upgrade(get_engine(url))

    def store(edition: int, batch: list) -> None:
        storage.postings.update_clusters = update_clusters if clustering else lambda *_args: None
        try:
            with session_scope(engine) as session:
                store_batch(session, batch)
        finally:
            storage.postings.update_clusters = update_clusters
    store.close = engine.dispose
    return store


def anchor(url: str, clustering: bool):
    """A function writing one batch of one edition with a bare DB-API client (see the module docstring), then, with
    `clustering`, running update_clusters on the batch's postings in a transaction of its own."""
    engine = upgrade(get_engine(url))
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    columns = [*CONTENT_COLUMNS, "content_hash", "source", "source_ad_id", "first_seen_at", "last_seen_at"]
    json_columns = {"occupations", "normalise_notes", "extra"}
    upsert_sql = (f"INSERT INTO postings ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
                  f" ON CONFLICT (source, source_ad_id) DO UPDATE SET "
                  + ", ".join(f"{c} = excluded.{c}" for c in [*columns[:-3], "last_seen_at"]))
    raw = engine.raw_connection()

    def store(edition: int, batch: list) -> None:
        now = datetime.now(UTC)
        stamp = now.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else now
        cursor = raw.cursor()
        rows, locations = [], []
        for item in batch:
            values = posting_values(item)
            locs = location_values(item)
            values["content_hash"] = content_hash(values, locs, item.description_html)
            row = [json.dumps(values[c]) if c in json_columns and values[c] is not None else values[c]
                   for c in columns[:-5]]
            rows.append((*row, values["content_hash"], item.source, item.source_ad_id, stamp, stamp))
            locations.append(locs)
        keys = f"WHERE source = {mark} AND source_ad_id IN ({', '.join([mark] * len(batch))})"
        key_values = [batch[0].source, *(i.source_ad_id for i in batch)]
        if edition:
            cursor.execute(f"SELECT source_ad_id, title, description_text FROM postings {keys}", key_values)
            old = {ad_id: (title, text) for ad_id, title, text in cursor.fetchall()}
        cursor.executemany(upsert_sql, rows)
        cursor.execute(f"SELECT source_ad_id, id FROM postings {keys}", key_values)
        ids = dict(cursor.fetchall())
        posting_ids = [ids[i.source_ad_id] for i in batch]
        if edition == 0:
            cursor.executemany(f"INSERT INTO ads (primary_posting_id, created_at) VALUES ({mark}, {mark})",
                               [(pid, stamp) for pid in posting_ids])
            cursor.execute("UPDATE postings SET ad_id = (SELECT id FROM ads WHERE primary_posting_id = postings.id)"
                           " WHERE ad_id IS NULL")
        else:
            cursor.executemany("INSERT INTO posting_changes (posting_id, changed_at, field, old_value, new_value)"
                               f" VALUES ({mark}, {mark}, {mark}, {mark}, {mark})",
                               [change for pid, item in zip(posting_ids, batch, strict=True) for change in (
                                   (pid, stamp, "title", old[item.source_ad_id][0], item.title),
                                   (pid, stamp, "description_text", old[item.source_ad_id][1],
                                    item.description_text))])
        cursor.execute(f"DELETE FROM work_locations WHERE posting_id IN ({', '.join(map(str, posting_ids))})")
        names = list(locations[0][0])
        cursor.executemany(f"INSERT INTO work_locations (posting_id, position, {', '.join(names)})"
                           f" VALUES ({', '.join([mark] * (len(names) + 2))})",
                           [(pid, n, *loc.values()) for pid, locs in zip(posting_ids, locations, strict=True)
                            for n, loc in enumerate(locs)])
        cursor.executemany(f"INSERT INTO posting_raw (posting_id, description_html, fetched_at) VALUES ({mark},"
                           f" {mark}, {mark}) ON CONFLICT (posting_id) DO UPDATE SET"
                           " description_html = excluded.description_html, fetched_at = excluded.fetched_at",
                           [(pid, item.description_html, stamp) for pid, item in zip(posting_ids, batch, strict=True)])
        raw.commit()
        if clustering:
            with session_scope(engine) as session:
                update_clusters(session, posting_ids, now)

    def close() -> None:
        raw.close()
        engine.dispose()
    store.close = close
    return store


def one_run(fresh, editions: list[list], clustering: bool) -> list[tuple[float, float, float, float]]:
    """(store_batch seconds, bare client seconds, and the same in CPU seconds of this process) per edition; the two
    alternate batch by batch, so that a change in the machine's load falls on both."""
    ours, bare = project(fresh(), clustering), anchor(fresh(), clustering)
    seconds = []
    for edition, items in enumerate(editions):
        totals = [0.0, 0.0, 0.0, 0.0]
        for number, start in enumerate(range(0, len(items), BATCH)):
            order = ((0, ours), (1, bare)) if number % 2 == 0 else ((1, bare), (0, ours))
            for slot, store in order:
                started, cpu = time.perf_counter(), time.process_time()
                store(edition, items[start:start + BATCH])
                totals[slot] += time.perf_counter() - started
                totals[slot + 2] += time.process_time() - cpu
        seconds.append(tuple(totals))
    ours.close()
    bare.close()
    return seconds


def fresh_databases(base_url: str | None, directory: Path):
    """A function giving a new empty database URL per call (SQLite files, or PostgreSQL databases)."""
    if not base_url:
        return lambda: f"sqlite:///{directory / (uuid.uuid4().hex + '.db')}"
    from sqlalchemy import create_engine, text

    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")

    def make() -> str:
        name = f"bench_store_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        made.append(name)
        return base_url.rsplit("/", 1)[0] + "/" + name

    made: list[str] = []
    make.cleanup = lambda: [admin.connect().execute(text(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)")) for n in made]
    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", "--rows", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", help="a PostgreSQL server URL (fresh databases are made there); default SQLite")
    parser.add_argument("--with-clustering", action="store_true",
                        help="run update_clusters on both sides (see the module docstring)")
    args = parser.parse_args()
    editions = [postings(args.postings, 0), postings(args.postings, 1)]
    ratios: dict[str, list[float]] = {"insert": [], "update": []}
    cpu_ratios: dict[str, list[float]] = {"insert": [], "update": []}
    rates: dict[str, list[tuple[float, float]]] = {"insert": [], "update": []}
    with tempfile.TemporaryDirectory(prefix="munijobs-bench-") as workdir:
        fresh = fresh_databases(args.url, Path(workdir))
        try:
            for _ in range(args.runs):
                for phase, (mine, theirs, my_cpu, their_cpu) in zip(
                        ratios, one_run(fresh, editions, args.with_clustering), strict=True):
                    ratios[phase].append(theirs / mine)
                    cpu_ratios[phase].append(their_cpu / my_cpu)
                    rates[phase].append((args.postings / mine, args.postings / theirs))
        finally:
            getattr(fresh, "cleanup", lambda: None)()
    database = "PostgreSQL" if args.url else "SQLite"
    for phase in ratios:
        ours = statistics.median(r[0] for r in rates[phase])
        bare = statistics.median(r[1] for r in rates[phase])
        values = sorted(ratios[phase])
        print(f"store {database} {phase}: store_batch {ours:,.0f} postings/s, bare client {bare:,.0f}/s;"
              f" ratio min {values[0]:.2f} median {statistics.median(values):.2f} max {values[-1]:.2f}"
              f" ({args.postings:,} postings, {args.runs} runs,"
              f" clustering {'on both sides' if args.with_clustering else 'left out'})")
        if not args.url:
            cpu = sorted(cpu_ratios[phase])
            print(f"store SQLite {phase} in CPU seconds of this process (which runs the database too; less swayed by"
                  f" a busy machine): ratio min {cpu[0]:.2f} median {statistics.median(cpu):.2f} max {cpu[-1]:.2f}")


if __name__ == "__main__":
    main()
