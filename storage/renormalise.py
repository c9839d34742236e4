"""Re-run the normaliser over stored postings, without a recrawl; history records only values that change."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from munijobs.items import JobPosting
from munijobs.normalise import normalise_posting
from storage.db import session_scope
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

    With workers > 1 the normalising (pure, CPU-bound) runs in that many processes; reading and writing stay here.
    """
    result = RenormaliseResult()
    where = [Posting.source == source] if source else []
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(Posting).where(*where))
        changes_before = session.scalar(select(func.count()).select_from(PostingChange))
    last_id = 0
    with _normaliser(workers) as normalise_all:
        while True:
            with session_scope(engine) as session:
                chunk = list(session.scalars(
                    select(Posting).where(Posting.id > last_id, *where).order_by(Posting.id).limit(CHUNK)))
                if not chunk:
                    break
                batch = store_batch(session, normalise_all(load_postings(session, chunk)), seen=False)
            last_id = chunk[-1].id
            result.seen += len(chunk)
            result.changed += batch.updated
            if progress:
                progress(result.seen, total)
    with Session(engine) as session:
        result.fields = session.scalar(select(func.count()).select_from(PostingChange)) - changes_before
    return result


@contextmanager
def _normaliser(workers: int) -> Iterator[Callable[[Iterable[JobPosting]], list[JobPosting]]]:
    """A function that normalises a list of postings: here, or in a pool of `workers` processes."""
    if workers <= 1:
        yield lambda items: [normalise_posting(item) for item in items]
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield lambda items: list(pool.map(normalise_posting, items, chunksize=WORKER_CHUNK))
