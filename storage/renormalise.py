"""Re-run the normaliser over stored postings, without a recrawl; history records only values that change."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from munijobs.items import JobPosting
from munijobs.normalise import normalise_posting
from storage.boundary import coerce_to_columns
from storage.models import Posting, PostingChange
from storage.postings import load_postings, store_batch

CHUNK = 500
WORKER_CHUNK = 25
"""Postings sent to a worker process at a time."""


@dataclass
class RenormaliseResult:
    seen: int = 0
    changed: int = 0
    fields: int = 0


def renormalise_postings(engine: Engine, source: str | None = None,
                         progress: Callable[[int, int], None] | None = None, workers: int = 1) -> RenormaliseResult:
    """Normalise every stored posting (of one source) again, a transaction per chunk, in id order.

    With workers > 1 the normalising (pure, CPU-bound) runs in that many processes, one chunk ahead of the writing,
    which stays here with the reading.
    """
    result = RenormaliseResult()
    where = [Posting.source == source] if source else []
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(Posting).where(*where))
        changes_before = session.scalar(select(func.count()).select_from(PostingChange))
    loaded_hashes: dict[tuple[str, str], str | None] = {}
    with _normaliser(workers) as normalise_chunks:
        for items in normalise_chunks(_stored_chunks(engine, where, loaded_hashes)):
            with write_transaction(engine) as session:
                batch = store_batch(session, items, seen=False, loaded_hashes=loaded_hashes)
            for item in items:
                loaded_hashes.pop((item.source, item.source_ad_id), None)
            result.seen += len(items)
            result.changed += batch.updated
            if progress:
                progress(result.seen, total)
    with Session(engine) as session:
        result.fields = session.scalar(select(func.count()).select_from(PostingChange)) - changes_before
    return result


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Session]:
    """A transaction that holds the write lock from its first statement on SQLite (BEGIN IMMEDIATE), so the rows it
    re-reads cannot change before it writes; on PostgreSQL store_batch locks the rows it re-reads."""
    with Session(engine, expire_on_commit=False) as session:
        if engine.dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _stored_chunks(engine: Engine, where: list, loaded_hashes: dict) -> Iterator[list[JobPosting]]:
    """The stored postings as items, CHUNK at a time in id order, each chunk read in a session of its own; the
    content hash each was read with goes to `loaded_hashes`."""
    last_id = 0
    while True:
        with Session(engine) as session:
            chunk = list(session.scalars(
                select(Posting).where(Posting.id > last_id, *where).order_by(Posting.id).limit(CHUNK)))
            if not chunk:
                return
            last_id = chunk[-1].id
            items = load_postings(session, chunk)
            loaded_hashes.update({(p.source, p.source_ad_id): p.content_hash for p in chunk})
        yield items


Normaliser = Callable[[Iterable[list[JobPosting]]], Iterator[list[JobPosting]]]


@contextmanager
def _normaliser(workers: int) -> Iterator[Normaliser]:
    """A function from chunks of postings to the same chunks normalised: here, or in `workers` processes."""
    if workers <= 1:
        yield lambda chunks: map(_normalise_all, chunks)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield lambda chunks: _one_chunk_ahead(pool, chunks)


def _one_chunk_ahead(pool: ProcessPoolExecutor, chunks: Iterable[list[JobPosting]]) -> Iterator[list[JobPosting]]:
    """Normalise in the pool; the next chunk is sent before the current one is handed back (to be written).

    An empty chunk after the last one hands that one back.
    """
    in_flight: list[Future[list[JobPosting]]] = []
    for items in chain(chunks, [[]]):
        sent = [pool.submit(_normalise_all, items[start:start + WORKER_CHUNK])
                for start in range(0, len(items), WORKER_CHUNK)]
        if in_flight:
            yield [posting for future in in_flight for posting in future.result()]
        in_flight = sent


def _normalise_all(items: list[JobPosting]) -> list[JobPosting]:
    """normalise_posting over a list (what a worker process runs per task), coerced to what the columns hold."""
    for item in items:
        normalise_posting(item)
        coerce_to_columns(item)
    return items
