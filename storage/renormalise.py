"""Re-run the normaliser over stored postings, without a recrawl; history records only values that change."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from munijobs.items import JobPosting
from munijobs.normalise import normalise_posting
from storage.boundary import coerce_to_columns
from storage.db import get_engine
from storage.models import Posting, PostingChange
from storage.postings import load_postings, store_batch

CHUNK = 500
"""Postings per write transaction, and per task of a worker process."""
IN_FLIGHT_PER_WORKER = 2
"""Chunks queued per worker process, so that none waits while the writer writes."""


@dataclass
class RenormaliseResult:
    seen: int = 0
    changed: int = 0
    fields: int = 0


def renormalise_postings(engine: Engine, source: str | None = None,
                         progress: Callable[[int, int], None] | None = None, workers: int = 1) -> RenormaliseResult:
    """Normalise every stored posting (of one source) again, a transaction per chunk, in id order.

    With workers > 1 the reading and normalising (pure, CPU-bound) of a chunk run in that many processes, chunks
    ahead of the writing, which stays here: this process only picks the chunks' ids and writes.
    """
    result = RenormaliseResult()
    where = [Posting.source == source] if source else []
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(Posting).where(*where))
        changes_before = session.scalar(select(func.count()).select_from(PostingChange))
    with _normaliser(engine, workers) as normalised_chunks:
        for items, loaded_hashes in normalised_chunks(_id_chunks(engine, where)):
            with write_transaction(engine) as session:
                batch = store_batch(session, items, seen=False, loaded_hashes=loaded_hashes)
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


def _id_chunks(engine: Engine, where: list) -> Iterator[list[int]]:
    """The ids of the postings to renormalise, CHUNK at a time in id order (each chunk read when it is needed)."""
    last_id = 0
    while True:
        with Session(engine) as session:
            ids = list(session.scalars(select(Posting.id).where(Posting.id > last_id, *where)
                                       .order_by(Posting.id).limit(CHUNK)))
        if not ids:
            return
        last_id = ids[-1]
        yield ids


Hashes = dict[tuple[str, str], str | None]
Chunk = tuple[list[JobPosting], Hashes]


def read_and_normalise(engine: Engine, ids: list[int]) -> Chunk:
    """These stored postings as normalised items, in id order, and the content hash each was read with."""
    with Session(engine) as session:
        postings = list(session.scalars(select(Posting).where(Posting.id.in_(ids)).order_by(Posting.id)))
        items = load_postings(session, postings)
        hashes = {(p.source, p.source_ad_id): p.content_hash for p in postings}
    return _normalise_all(items), hashes


_WORKER_ENGINE: list[Engine] = []
"""A worker process's engine."""


def _start_worker(url: str) -> None:
    """Open a worker process's engine; a forked process drops the connections it inherited (they are the writer's)."""
    engine = get_engine(url)
    engine.dispose(close=False)
    _WORKER_ENGINE[:] = [engine]


def _worker_task(ids: list[int]) -> Chunk:
    return read_and_normalise(_WORKER_ENGINE[0], ids)


@contextmanager
def _normaliser(engine: Engine, workers: int) -> Iterator[Callable[[Iterable[list[int]]], Iterator[Chunk]]]:
    """A function from chunks of posting ids to those chunks read and normalised: here, or in `workers` processes."""
    if workers <= 1:
        yield lambda id_chunks: (read_and_normalise(engine, ids) for ids in id_chunks)
        return
    url = engine.url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(url,)) as pool:
        yield lambda id_chunks: _ahead(pool, id_chunks, workers * IN_FLIGHT_PER_WORKER)


def _ahead(pool: ProcessPoolExecutor, id_chunks: Iterable[list[int]], depth: int) -> Iterator[Chunk]:
    """Read and normalise chunks in the pool, `depth` of them queued, handed back in order."""
    queued: deque[Future[Chunk]] = deque()
    for ids in id_chunks:
        queued.append(pool.submit(_worker_task, ids))
        if len(queued) >= depth:
            yield queued.popleft().result()
    while queued:
        yield queued.popleft().result()


def _normalise_all(items: list[JobPosting]) -> list[JobPosting]:
    """normalise_posting over a list, coerced to what the columns hold."""
    for item in items:
        normalise_posting(item)
        coerce_to_columns(item)
    return items
