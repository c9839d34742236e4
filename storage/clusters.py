"""Cluster membership in the database: reads candidates, writes postings' ad ids, ads and their history.

The deciding is pure (`munijobs.dedup`); this module only reads what it needs and writes the outcome. Two callers,
one implementation: `update_clusters` (the store path, for new and changed postings) and `rebuild_clusters`
(`munijobs dedup --rebuild`). Both end in `_apply`, which moves only postings whose ad changed, so running either
again changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.orm import Session

from munijobs.dedup.cluster import Clustering, assign_ad_ids, choose_representatives, cluster, verdicts_of
from munijobs.dedup.features import (
    LOOKUP_WINDOWS,
    PAIRING_WINDOWS,
    STRUCTURED_FIELDS,
    Derived,
    Features,
    candidate_pairs,
    derive,
    features_of,
    interned,
    keys_of,
    pairs_from_keys,
)
from storage.db import session_scope
from storage.models import Ad, AdEvent, DedupKey, DedupSignature, Posting, WorkLocation

CHUNK = 500
COLUMNS = tuple(getattr(Posting, name) for name in dict.fromkeys((
    "id", "source", "source_ad_id", "status", "published_at", "closed_at", "first_seen_at", "title", "job_title",
    "employer_name", "employer_orgnr", "employer_parent_orgnr", "municipality_code", "county_code", "job_percent_min",
    "job_percent_max", "engagement_type", "deadline_date", "ad_id", *STRUCTURED_FIELDS)))
"""Posting columns the features are built from (the text is read only when it is derived again)."""
TEXT_COLUMNS = (Posting.description_text, Posting.url, Posting.application_url, Posting.origin_url)

Progress = Callable[[str, int, int], None]


@dataclass
class ClusterResult:
    postings: int = 0
    moved: int = 0
    """Postings whose ad changed (a merge or a split)."""
    ads_created: int = 0
    ads_deleted: int = 0


def _chunks(values: Iterable, size: int = CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


# -- derived values -------------------------------------------------------------------------------------------------

def _postal_codes(session: Session, ids: list[int]) -> dict[int, str | None]:
    query = select(WorkLocation.posting_id, WorkLocation.postal_code).where(WorkLocation.posting_id.in_(ids),
                                                                            WorkLocation.position == 0)
    return dict(session.execute(query).all())


def _derive_and_store(session: Session, rows, store_keys: bool = True,
                      derived: list[Derived] | None = None) -> dict[int, Features]:
    """Derive the text values of these posting rows (with text columns; or take them, in row order), store them and
    (unless told not to) their keys; their features."""
    ids = [row.id for row in rows]
    if derived is None:
        postal = _postal_codes(session, ids)
        derived = [derive(row, postal.get(row.id)) for row in rows]
    features = {row.id: features_of(row, values) for row, values in zip(rows, derived, strict=True)}
    if store_keys:
        old = _load_features(session, ids, derive_missing=False)
        _delete_keys(session, [(key, f.posting_id) for f in old.values() for key in keys_of(f)])
    session.execute(delete(DedupSignature).where(DedupSignature.posting_id.in_(ids)))
    session.execute(insert(DedupSignature.__table__), [
        {"posting_id": f.posting_id, "signature": f.signature.astype("<u4").tobytes(),
         "links": ",".join(sorted(f.links)), "shifts": ",".join(sorted(f.shifts)), "text_length": f.text_length,
         "postal_code": values.postal_code, "units": "|".join(f.units), "mentions": " ".join(f.mentions),
         "block": f.block}
        for f, values in zip(features.values(), derived, strict=True)])
    if store_keys:
        _insert_keys(session, [(key, f.posting_id) for f in features.values() for key in keys_of(f)])
    return features


def _refresh(session: Session, ids: Iterable[int]) -> dict[int, Features]:
    features: dict[int, Features] = {}
    for chunk in _chunks(ids):
        rows = session.execute(select(*COLUMNS, *TEXT_COLUMNS).where(Posting.id.in_(chunk))).all()
        features.update(_derive_and_store(session, rows))
    return features


def _split(text: str | None, separator: str = ",") -> frozenset[str]:
    return frozenset(text.split(separator)) if text else frozenset()


def _load_features(session: Session, ids: Iterable[int], derive_missing: bool = True) -> dict[int, Features]:
    """Features from the stored derived values; postings that have none are derived now (unless told not to)."""
    features: dict[int, Features] = {}
    for chunk in _chunks(ids):
        query = (select(*COLUMNS, DedupSignature).join(DedupSignature, DedupSignature.posting_id == Posting.id)
                 .where(Posting.id.in_(chunk)))
        for row in session.execute(query):
            stored = row.DedupSignature
            derived = Derived(signature=np.frombuffer(stored.signature, dtype="<u4").astype(np.uint32),
                              links=_split(stored.links), shifts=_split(stored.shifts),
                              text_length=stored.text_length, postal_code=stored.postal_code,
                              units=tuple(stored.units.split("|")) if stored.units else (),
                              mentions=interned(stored.mentions.split()) if stored.mentions else ())
            features[row.id] = features_of(row, derived, block=stored.block)
        missing = set(chunk) - set(features)
        if missing and derive_missing:
            features.update(_refresh(session, missing))
    return features


# -- the store path -------------------------------------------------------------------------------------------------

def update_clusters(session: Session, posting_ids: Iterable[int], now: datetime | None = None) -> ClusterResult:
    """Place new and changed postings: join them to their duplicates' ads, or split them off when they stopped
    matching; in the caller's transaction."""
    now = now or datetime.now(UTC)
    fresh = _refresh(session, posting_ids)
    if not fresh:
        return ClusterResult()
    keys = sorted({key for f in fresh.values() for key in keys_of(f, LOOKUP_WINDOWS)})
    candidates: set[int] = set()
    for chunk in _chunks(keys):
        candidates.update(session.scalars(select(DedupKey.posting_id).where(DedupKey.key.in_(chunk))))
    current = _ad_of(session, set(fresh) | candidates)
    for chunk in _chunks({ad for ad in current.values() if ad is not None}):
        current.update(session.execute(select(Posting.id, Posting.ad_id).where(Posting.ad_id.in_(chunk))).all())
    features = {**_load_features(session, set(current) - set(fresh)), **fresh}
    pairs = {(a, b) for a, b in candidate_pairs(features.values())
             if a in fresh or b in fresh or current.get(a) == current.get(b)}
    clustering = cluster(features, verdicts_of(features, pairs))
    return _apply(session, features, clustering, current, now)


def _ad_of(session: Session, ids: Iterable[int]) -> dict[int, int | None]:
    current: dict[int, int | None] = {}
    for chunk in _chunks(ids):
        current.update(session.execute(select(Posting.id, Posting.ad_id).where(Posting.id.in_(chunk))).all())
    return current


def place_unclustered(engine: Engine, progress: Progress | None = None) -> ClusterResult:
    """Place every posting that was never deduplicated (e.g. stored before deduplication existed), a chunk at a time."""
    total = ClusterResult()
    with Session(engine) as session:
        todo = list(session.scalars(select(Posting.id).outerjoin(DedupSignature).where(
            DedupSignature.posting_id.is_(None)).order_by(Posting.id)))
    for done, chunk in enumerate(_chunks(todo), start=1):
        with session_scope(engine) as session:
            result = update_clusters(session, chunk)
        total.postings += result.postings
        total.moved += result.moved
        total.ads_created += result.ads_created
        total.ads_deleted += result.ads_deleted
        if progress:
            progress("placed", min(done * CHUNK, len(todo)), len(todo))
    return total


# -- the rebuild ----------------------------------------------------------------------------------------------------

def rebuild_clusters(engine: Engine, progress: Progress | None = None, chunk: int = 2000,
                     workers: int = 1) -> ClusterResult:
    """Derive every posting's values again and recluster all postings (after a rule change); idempotent.

    With workers > 1 the deriving (pure, CPU-bound) runs in that many processes, a chunk ahead of the writing.
    """
    now = datetime.now(UTC)
    with session_scope(engine) as session, ProcessPoolExecutor(max_workers=workers) as pool:
        total = session.scalar(select(func.count()).select_from(Posting))
        session.execute(delete(DedupKey))
        session.execute(delete(DedupSignature))
        features: dict[int, Features] = {}
        pending = None
        for rows in _posting_chunks(session, chunk):
            postal = _postal_codes(session, [row.id for row in rows])
            work = [(dict(row._mapping), postal.get(row.id)) for row in rows]
            step = -(-len(work) // workers)
            sent = [pool.submit(_derive_many, work[start:start + step]) for start in range(0, len(work), step)]
            if pending:
                features.update(_derive_and_store(session, pending[0], store_keys=False,
                                                  derived=[d for future in pending[1] for d in future.result()]))
                if progress:
                    progress("signatures", len(features), total)
            pending = (rows, sent)
        if pending:
            features.update(_derive_and_store(session, pending[0], store_keys=False,
                                              derived=[d for future in pending[1] for d in future.result()]))
            if progress:
                progress("signatures", len(features), total)
        keys, ids = _all_keys(features.values())
        _insert_sorted_keys(session, keys, ids)
        del keys, ids
        pairs = pairs_from_keys(*_all_keys(features.values(), PAIRING_WINDOWS))
        if progress:
            progress("candidate pairs", len(pairs), len(pairs))
        clustering = cluster(features, verdicts_of(features, _rows(pairs)))
        current = dict(session.execute(select(Posting.id, Posting.ad_id)).all())
        result = _apply(session, features, clustering, current, now)
        if progress:
            progress("clustered", total, total)
    return result


def _posting_chunks(session: Session, chunk: int):
    last_id = 0
    while True:
        rows = session.execute(select(*COLUMNS, *TEXT_COLUMNS).where(Posting.id > last_id).order_by(Posting.id)
                               .limit(chunk)).all()
        if not rows:
            return
        last_id = rows[-1].id
        yield rows


def _derive_many(work: list[tuple[dict, str | None]]) -> list[Derived]:
    """derive() over (posting columns, postal code) pairs: what a worker process runs."""
    return [derive(SimpleNamespace(**columns), postal) for columns, postal in work]


def _rows(pairs: np.ndarray, chunk: int = 100_000):
    """The pairs as Python int tuples, a chunk at a time (the whole array as tuples would not fit)."""
    for start in range(0, len(pairs), chunk):
        yield from map(tuple, pairs[start:start + chunk].tolist())


def _all_keys(features: Iterable[Features], windows: tuple[int, ...] = (0,)) -> tuple[np.ndarray, np.ndarray]:
    """Every posting's keys (keys_of) and posting ids in two preallocated numpy arrays (a million postings have 33
    million keys: as Python lists, or as an array per posting, they would not fit)."""
    features = list(features)
    width = max((len(keys_of(f, windows)) for f in features[:1]), default=0) + 8
    keys = np.zeros(len(features) * width, dtype=np.int64)
    ids = np.zeros(len(features) * width, dtype=np.int64)
    at = 0
    for f in features:
        own = keys_of(f, windows)
        if at + len(own) > len(keys):
            keys, ids = np.resize(keys, 2 * len(keys) + len(own)), np.resize(ids, 2 * len(ids) + len(own))
        keys[at:at + len(own)] = own
        ids[at:at + len(own)] = f.posting_id
        at += len(own)
    return keys[:at].copy(), ids[:at].copy()


def _insert_keys(session: Session, pairs, chunk: int = 50_000) -> None:
    """Insert (key, posting id) pairs through the driver (a million postings have 33 million keys)."""
    statement = {"sqlite": "INSERT INTO dedup_keys (key, posting_id) VALUES (?, ?)",
                 "postgresql": "INSERT INTO dedup_keys (key, posting_id) VALUES (%s, %s)"}
    _executemany(session, statement, pairs, chunk)


def _delete_keys(session: Session, pairs) -> None:
    statement = {"sqlite": "DELETE FROM dedup_keys WHERE key = ? AND posting_id = ?",
                 "postgresql": "DELETE FROM dedup_keys WHERE key = %s AND posting_id = %s"}
    _executemany(session, statement, pairs, CHUNK)


def _executemany(session: Session, statements: dict[str, str], pairs, chunk: int) -> None:
    pairs = list(pairs)
    cursor = session.connection().connection.cursor()
    statement = statements[session.get_bind().dialect.name]
    for start in range(0, len(pairs), chunk):
        cursor.executemany(statement, pairs[start:start + chunk])


def _insert_sorted_keys(session: Session, keys: np.ndarray, ids: np.ndarray) -> None:
    """Insert the keys in key order, so the key index grows at its end instead of everywhere."""
    order = np.lexsort((ids, keys))
    _insert_keys(session, zip(keys[order].tolist(), ids[order].tolist(), strict=True))


# -- writing the outcome --------------------------------------------------------------------------------------------

def _apply(session: Session, features: Mapping[int, Features], clustering: Clustering,
           current: Mapping[int, int | None], now: datetime) -> ClusterResult:
    """Write the clustering of these postings: ad ids, new and emptied ads, representatives, history."""
    result = ClusterResult(postings=len(features))
    components = clustering.components
    ad_ids = assign_ad_ids(components, current)
    old_ads = {ad for ad in current.values() if ad is not None}
    stored = {}
    for chunk in _chunks(old_ads):
        stored.update({row.id: row for row in session.execute(select(
            Ad.id, Ad.primary_posting_id, Ad.facts_posting_id, Ad.readvertised_from_ad_id, Ad.created_at)
            .where(Ad.id.in_(chunk)))})
    representatives = [choose_representatives([features[pid] for pid in comp]) for comp in components]
    new = [n for n, ad in enumerate(ad_ids) if ad is None]
    if new:
        created = session.execute(insert(Ad).returning(Ad.id, sort_by_parameter_order=True), [
            {"primary_posting_id": representatives[n][0], "facts_posting_id": representatives[n][1],
             "created_at": now} for n in new]).scalars().all()
        for n, ad in zip(new, created, strict=True):
            ad_ids[n] = ad
        result.ads_created = len(new)

    moves, events = [], []
    for n, comp in enumerate(components):
        for pid in comp:
            old = current.get(pid)
            if old == ad_ids[n]:
                continue
            moves.append({"id": pid, "ad_id": ad_ids[n]})
            brand_new = old is None or (old in stored and stored[old].created_at == now)
            events.append({"posting_id": pid, "changed_at": now, "old_ad_id": None if brand_new else old,
                           "new_ad_id": ad_ids[n], "reason": _reason(clustering, comp, pid, old, brand_new)})
            result.moved += not brand_new or len(comp) > 1
    for chunk in _chunks(moves):
        session.execute(update(Posting), chunk)
    for chunk in _chunks(events):
        session.execute(insert(AdEvent), chunk)

    ad_updates = []
    for n, ad in enumerate(ad_ids):
        primary, facts = representatives[n]
        earlier = clustering.readvertised_from.get(n)
        row = {"id": ad, "primary_posting_id": primary, "facts_posting_id": facts,
               "readvertised_from_ad_id": ad_ids[earlier] if earlier is not None else None}
        old = stored.get(ad)
        if old is not None and (old.primary_posting_id, old.facts_posting_id, old.readvertised_from_ad_id) != (
                primary, facts, row["readvertised_from_ad_id"]):
            ad_updates.append(row)
    for chunk in _chunks(ad_updates):
        session.execute(update(Ad), chunk)

    gone = old_ads - set(ad_ids)
    if gone:
        successor = _successors(components, ad_ids, current, gone)
        for old, heir in successor.items():
            session.execute(update(Ad).where(Ad.readvertised_from_ad_id == old).values(readvertised_from_ad_id=heir))
        for chunk in _chunks(gone):
            session.execute(delete(Ad).where(Ad.id.in_(chunk)))
        result.ads_deleted = len(gone)
    return result


def _reason(clustering: Clustering, comp: list[int], pid: int, old: int | None, brand_new: bool) -> str:
    if len(comp) > 1:
        return clustering.reasons.get(pid) or f"regrouped with postings {', '.join(map(str, comp))}"
    if brand_new:
        return "a new posting that matches no other"
    return f"split off: matches no other posting of ad {old} any more"


def _successors(components: list[list[int]], ad_ids: list[int | None], current: Mapping[int, int | None],
                gone: set[int]) -> dict[int, int]:
    """For each emptied ad, the ad that took most of its postings (re-advertisement links move there)."""
    counts: dict[int, Counter] = {old: Counter() for old in gone}
    for n, comp in enumerate(components):
        for pid in comp:
            if current.get(pid) in counts:
                counts[current[pid]][ad_ids[n]] += 1
    return {old: c.most_common(1)[0][0] for old, c in counts.items() if c}
