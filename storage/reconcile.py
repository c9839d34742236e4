"""Reconciliation: after a run, does the database hold what the source showed?

A spider fills an `Expected` while it runs: the ads that must be stored open after the run, the ads that must no
longer be open, the ads it left pending for the next run with a logged reason, and for a source that lists every open
ad at once (Jobbnorge's complete list) that whole list. `reconcile` compares it with the stored postings; the store
pipeline writes the figures into the run's stats (`reconcile_*`, docs/data.md) and the health rule `reconciliation`
(munijobs/health.py) alerts when a posting is missing or was not closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from munijobs.constants import PostingStatus
from munijobs.items import JobPosting
from storage.models import Posting

CHUNK = 500
IDS_SHOWN = 20
"""Missing or unclosed ids kept in the stats (and shown in the alert), the first by sort order."""


@dataclass
class Expected:
    """What a run showed of a source, as storage must now reflect it."""

    open: set[str] = field(default_factory=set)
    """Ads that must be stored with status active (or expired once their deadline passed)."""
    closed: set[str] = field(default_factory=set)
    """Ads the run closed: none of them may still be stored active."""
    pending: set[str] = field(default_factory=set)
    """Ads left for the next run with a logged reason; never counted missing."""
    out_of_scope: int = 0
    snapshot: frozenset[str] | None = None
    """Every ad of a complete list, when the source gives one: any other stored active ad should have been closed."""

    def saw(self, postings: Iterable[JobPosting]) -> None:
        """Postings of a change log, in feed order: the last word on an ad decides whether it must be open."""
        for posting in postings:
            must_be_open = posting.has_content and posting.status == PostingStatus.ACTIVE
            (self.open if must_be_open else self.closed).add(posting.source_ad_id)
            (self.closed if must_be_open else self.open).discard(posting.source_ad_id)


@dataclass(frozen=True)
class Reconciliation:
    """The comparison's outcome: counts, and the ids (the first IDS_SHOWN) that are wrong."""

    listed: int
    stored: int
    expired: int
    missing: tuple[str, ...]
    closed: int
    unclosed: tuple[str, ...]
    pending: int
    out_of_scope: int

    @property
    def clean(self) -> bool:
        return not self.missing and not self.unclosed

    def stats(self) -> dict[str, Any]:
        """The figures as run stats (crawl_runs.stats; docs/data.md)."""
        return {"reconcile_listed": self.listed, "reconcile_stored": self.stored, "reconcile_expired": self.expired,
                "reconcile_missing": len(self.missing), "reconcile_closed": self.closed,
                "reconcile_unclosed": len(self.unclosed), "reconcile_pending": self.pending,
                "reconcile_out_of_scope": self.out_of_scope,
                "reconcile_missing_ids": list(self.missing[:IDS_SHOWN]),
                "reconcile_unclosed_ids": list(self.unclosed[:IDS_SHOWN])}


def stored_statuses(engine: Engine, source: str, source_ad_ids: Iterable[str]) -> dict[str, str]:
    """Stored status by source ad id (ids not stored are absent)."""
    ids = sorted(set(source_ad_ids))
    result: dict[str, str] = {}
    with Session(engine) as session:
        for start in range(0, len(ids), CHUNK):
            query = select(Posting.source_ad_id, Posting.status).where(
                Posting.source == source, Posting.source_ad_id.in_(ids[start:start + CHUNK]))
            result.update(dict(session.execute(query).all()))
    return result


def active_ids(engine: Engine, source: str) -> set[str]:
    """Ids of the source's stored active postings."""
    with Session(engine) as session:
        query = select(Posting.source_ad_id).where(Posting.source == source,
                                                   Posting.status == str(PostingStatus.ACTIVE))
        return set(session.scalars(query))


def reconcile(engine: Engine, source: str, expected: Expected) -> Reconciliation:
    """Compare what the run showed with what is stored now (see the module docstring)."""
    must_be_open = expected.open - expected.pending
    must_be_closed = expected.closed - expected.pending - must_be_open
    statuses = stored_statuses(engine, source, must_be_open | must_be_closed)
    stored = {i for i in must_be_open if statuses.get(i) == PostingStatus.ACTIVE}
    expired = {i for i in must_be_open if statuses.get(i) == PostingStatus.EXPIRED}
    unclosed = {i for i in must_be_closed if statuses.get(i) == PostingStatus.ACTIVE}
    if expected.snapshot is not None:
        unclosed |= active_ids(engine, source) - expected.snapshot
    return Reconciliation(listed=len(must_be_open), stored=len(stored), expired=len(expired),
                          missing=tuple(sorted(must_be_open - stored - expired)), closed=len(must_be_closed),
                          unclosed=tuple(sorted(unclosed)), pending=len(expected.pending),
                          out_of_scope=expected.out_of_scope)
