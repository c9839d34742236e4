"""Re-run the normaliser over stored postings, without a recrawl; history records only values that change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from munijobs.normalise import normalise_posting
from storage.db import session_scope
from storage.models import Posting, PostingChange
from storage.postings import load_posting, store_batch

CHUNK = 500


@dataclass
class RenormaliseResult:
    seen: int = 0
    changed: int = 0
    fields: int = 0


def renormalise_postings(engine: Engine, source: str | None = None,
                         progress: Callable[[int, int], None] | None = None) -> RenormaliseResult:
    """Normalise every stored posting (of one source) again, a transaction per chunk, in id order."""
    result = RenormaliseResult()
    where = [Posting.source == source] if source else []
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(Posting).where(*where))
        changes_before = session.scalar(select(func.count()).select_from(PostingChange))
    last_id = 0
    while True:
        with session_scope(engine) as session:
            chunk = list(session.scalars(
                select(Posting).where(Posting.id > last_id, *where).order_by(Posting.id).limit(CHUNK)))
            if not chunk:
                break
            items = [normalise_posting(load_posting(session, posting)) for posting in chunk]
            batch = store_batch(session, items, seen=False)
        last_id = chunk[-1].id
        result.seen += len(chunk)
        result.changed += batch.updated
        if progress:
            progress(result.seen, total)
    with Session(engine) as session:
        result.fields = session.scalar(select(func.count()).select_from(PostingChange)) - changes_before
    return result
