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
from itertools import islice
from types import SimpleNamespace

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy import Engine, bindparam, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from munijobs.dedup.cluster import Clustering, assign_ad_ids, choose_representatives, cluster, verdicts_of
from munijobs.dedup.features import (
    BANDS,
    LOOKUP_WINDOWS,
    NUM_PERM,
    STRUCTURED_FIELDS,
    Derived,
    Features,
    band_keys_many,
    candidate_pairs,
    derive,
    features_of,
    interned,
    keys_of,
    link_key_hash,
    pair_codes,
    pairs_from_keys,
    pairs_of_codes,
    window_of,
)
from munijobs.dedup.match import may_match
from storage.db import session_scope
from storage.models import Ad, AdEvent, DedupKey, DedupSignature, Posting, WorkLocation

CHUNK = 500
COLUMNS = tuple(Posting.__table__.c[name] for name in dict.fromkeys((
    "id", "source", "source_ad_id", "status", "published_at", "closed_at", "first_seen_at", "title", "job_title",
    "employer_name", "employer_orgnr", "employer_parent_orgnr", "municipality_code", "county_code", "job_percent_min",
    "job_percent_max", "engagement_type", "deadline_date", "ad_id", *STRUCTURED_FIELDS)))
"""Posting columns the features are built from (the text is read only when it is derived again)."""
TEXT_COLUMNS = tuple(Posting.__table__.c[name] for name in ("description_text", "url", "application_url", "origin_url"))

Progress = Callable[[str, int, int], None]

ADS, POSTINGS = Ad.__table__, Posting.__table__
MOVE = update(POSTINGS).where(POSTINGS.c.id == bindparam("_id")).values(ad_id=bindparam("_ad"))
SET_REPRESENTATIVES = update(ADS).where(ADS.c.id == bindparam("_id")).values(
    primary_posting_id=bindparam("_primary"), facts_posting_id=bindparam("_facts"),
    readvertised_from_ad_id=bindparam("_from"))
SET_READVERTISED_FROM = (update(ADS).where(ADS.c.id == bindparam("_id"))
                         .values(readvertised_from_ad_id=bindparam("_from")))
"""Core statements built once (executemany by primary key; SQLAlchemy caches their compiled form)."""
SIGNATURES, KEYS, LOCATIONS = DedupSignature.__table__, DedupKey.__table__, WorkLocation.__table__
SIGNATURE_COLUMNS = tuple(column for column in SIGNATURES.c if column.name != "posting_id")
_IDS = bindparam("ids", expanding=True)
REFRESH = (select(*COLUMNS, *TEXT_COLUMNS, LOCATIONS.c.postal_code.label("first_postal_code"),
                  *(column.label(f"old_{column.name}") for column in SIGNATURE_COLUMNS))
           .select_from(POSTINGS.outerjoin(LOCATIONS, (LOCATIONS.c.posting_id == POSTINGS.c.id)
                                           & (LOCATIONS.c.position == 0))
                        .outerjoin(SIGNATURES, SIGNATURES.c.posting_id == POSTINGS.c.id))
           .where(POSTINGS.c.id.in_(_IDS)))
"""Postings to derive again: their columns and texts, first postal code, and the values stored for them."""
STORED_FEATURES = (select(*COLUMNS, *SIGNATURE_COLUMNS).join_from(POSTINGS, SIGNATURES,
                                                                  SIGNATURES.c.posting_id == POSTINGS.c.id)
                   .where(POSTINGS.c.id.in_(_IDS)))
CANDIDATES_SQL = ("SELECT posting_id, signature, text_length, links FROM dedup_signatures WHERE posting_id IN"
                  " (SELECT posting_id FROM dedup_keys WHERE key {keys})")
"""The stored values that say whether a posting sharing one of these keys could match (`_may_join`); through the
driver, as the keys are written (a new posting has ~100 candidates at a million postings: SQLAlchemy's rows cost
more than the query)."""
_HOLDERS, _MATES = POSTINGS.alias("holders"), POSTINGS.alias("mates")
AFFECTED = (select(*COLUMNS, *SIGNATURE_COLUMNS)
            .select_from(POSTINGS.outerjoin(SIGNATURES, SIGNATURES.c.posting_id == POSTINGS.c.id))
            .where(POSTINGS.c.id.in_(select(_HOLDERS.c.id).where(_HOLDERS.c.id.in_(_IDS)).union(
                select(_MATES.c.id).where(_MATES.c.ad_id.in_(select(_HOLDERS.c.ad_id)
                                                             .where(_HOLDERS.c.id.in_(_IDS))))))))
"""These postings and every posting of their ads, with their stored values (NULL when never derived); a union, not
an OR, so PostgreSQL uses both indexes instead of scanning the postings."""
STORED_ADS = select(ADS.c.id, ADS.c.primary_posting_id, ADS.c.facts_posting_id, ADS.c.readvertised_from_ad_id,
                    ADS.c.created_at).where(ADS.c.id.in_(_IDS))


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


def _signature_row(features: Features, postal_code: str | None) -> dict:
    return {"posting_id": features.posting_id, "signature": features.signature.astype("<u4").tobytes(),
            "links": ",".join(sorted(features.links)), "shifts": ",".join(sorted(features.shifts)),
            "text_length": features.text_length, "postal_code": postal_code, "units": "|".join(features.units),
            "mentions": " ".join(features.mentions), "block": features.block}


def _refresh(session: Session, ids: Iterable[int]) -> dict[int, Features]:
    """Derive these postings' text values again, store them and their keys (replacing the old ones); their
    features. One query reads each chunk's columns, texts, postal code and stored values."""
    connection = session.connection()
    features: dict[int, Features] = {}
    for chunk in _chunks(ids):
        rows = {row.id: row for row in connection.execute(REFRESH, {"ids": chunk})}.values()
        fresh = {row.id: features_of(row, derive(row, row.first_postal_code)) for row in rows}
        stored = [row for row in rows if row.old_signature is not None]
        if stored:
            old = [_stored_features(row, prefix="old_") for row in stored]
            _delete_keys(session, [(key, f.posting_id) for f in old for key in keys_of(f)])
            connection.execute(delete(SIGNATURES).where(SIGNATURES.c.posting_id.in_([row.id for row in stored])))
        if fresh:
            connection.execute(insert(SIGNATURES), [_signature_row(fresh[row.id], row.first_postal_code)
                                                    for row in rows])
            _insert_keys(session, [(key, f.posting_id) for f in fresh.values() for key in keys_of(f)])
        features.update(fresh)
    return features


def _split(text: str | None, separator: str = ",") -> frozenset[str]:
    return frozenset(text.split(separator)) if text else frozenset()


def _stored_features(row, prefix: str = "") -> Features:
    """Features of a row holding the posting columns and its stored derived values (their names after `prefix`)."""
    def stored(name: str):
        return getattr(row, prefix + name)
    units, mentions = stored("units"), stored("mentions")
    derived = Derived(signature=np.frombuffer(stored("signature"), dtype="<u4").astype(np.uint32),
                      links=_split(stored("links")), shifts=_split(stored("shifts")),
                      text_length=stored("text_length"), postal_code=stored("postal_code"),
                      units=tuple(units.split("|")) if units else (),
                      mentions=interned(mentions.split()) if mentions else ())
    return features_of(row, derived, block=stored("block"))


def _load_features(session: Session, ids: Iterable[int], derive_missing: bool = True) -> dict[int, Features]:
    """Features from the stored derived values; postings that have none are derived now (unless told not to)."""
    connection = session.connection()
    features: dict[int, Features] = {}
    for chunk in _chunks(ids):
        for row in connection.execute(STORED_FEATURES, {"ids": chunk}):
            features[row.id] = _stored_features(row)
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
    connection = session.connection()
    candidates = _may_join(connection, fresh)
    current: dict[int, int | None] = {}
    features: dict[int, Features] = {}
    unsigned: set[int] = set()
    for chunk in _chunks(candidates | set(fresh)):
        for row in connection.execute(AFFECTED, {"ids": chunk}):
            current[row.id] = row.ad_id
            if row.id in fresh:
                continue
            if row.signature is None:
                unsigned.add(row.id)
            else:
                features[row.id] = _stored_features(row)
    if unsigned:
        features.update(_refresh(session, unsigned))
    features.update(fresh)
    pairs = {(a, b) for a, b in candidate_pairs(features.values())
             if a in fresh or b in fresh or current.get(a) == current.get(b)}
    clustering = cluster(features, verdicts_of(features, pairs))
    return _apply(session, features, clustering, current, now)


def _may_join(connection, fresh: Mapping[int, Features]) -> set[int]:
    """Postings sharing a key with a fresh one (LOOKUP_WINDOWS) that some fresh posting could be the same ad as: a
    shared link, or texts similar enough (`match.may_match`); read from their stored signatures only, so the
    features of candidates that could not match are never built (a million postings give a new one ~100
    candidates)."""
    keys = sorted({key for f in fresh.values() for key in keys_of(f, LOOKUP_WINDOWS)})
    cursor = connection.connection.cursor()
    rows = {}
    for chunk in _chunks(keys):
        if connection.dialect.name == "postgresql":
            cursor.execute(CANDIDATES_SQL.format(keys="= ANY(%s)"), [chunk])
        else:
            cursor.execute(CANDIDATES_SQL.format(keys=f"IN ({','.join('?' * len(chunk))})"), chunk)
        rows.update((row[0], row) for row in cursor.fetchall() if row[0] not in fresh)
    if not rows:
        return set()
    rows = list(rows.values())
    signatures = np.frombuffer(b"".join(bytes(row[1]) for row in rows), dtype="<u4").reshape(len(rows), NUM_PERM)
    lengths = np.array([row[2] for row in rows])
    ours = list(fresh.values())
    equal = np.count_nonzero(signatures[:, None, :] == np.stack([f.signature for f in ours])[None, :, :], axis=2)
    shorter = np.minimum(lengths[:, None], np.array([f.text_length for f in ours])[None, :])
    similar = may_match(equal, shorter).any(axis=1)
    links = frozenset().union(*(f.links for f in ours))
    return {row[0] for row, keep in zip(rows, similar.tolist(), strict=True)
            if keep or (links and not links.isdisjoint(_split(row[3])))}


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

REBUILD_BATCH = 5000
"""Postings decided together in the rebuild's last phase (whole groups: a larger group is decided on its own)."""
KEY_RANGES = 32
"""The rebuild pairs and writes the keys one range of key values at a time (a million postings have 65 million: a
range's candidate pairs, before they are filtered, are the peak of its memory)."""
PAIR_CHUNK = 200_000
STORED, NEXT_WINDOW, LINK = 0, 1, 2
"""Kinds of a posting's keys in the rebuild: band keys of its own window (stored), of the next window (pairing
only), strong-link keys (stored; a pair sharing one is always compared)."""


@dataclass
class _Keyed:
    """What the rebuild keeps of every posting between its phases: compact arrays, no Features."""

    ids: np.ndarray
    """Posting ids, ascending (a posting's row in the other arrays is its index here)."""
    signatures: np.ndarray
    text_lengths: np.ndarray
    keys: np.ndarray
    key_rows: np.ndarray
    """The posting (row) of each key."""
    kinds: np.ndarray


def rebuild_clusters(engine: Engine, progress: Progress | None = None, chunk: int = 2000,
                     workers: int = 1) -> ClusterResult:
    """Derive every posting's values again and recluster all postings (after a rule change); idempotent; in one
    transaction (a killed rebuild leaves the database as it was).

    In bounded memory: (1) the postings are read and derived a chunk at a time (with workers > 1 in that many
    processes, a chunk ahead of the writing) and only their signatures, text lengths and keys are kept, in numpy
    arrays; (2) the keys give the candidate pairs, of which those that could be the same ad (a shared link, or texts
    similar enough: `match.may_match`) and the pairs of postings that share an ad today join postings into groups
    (connected components); (3) the groups are decided a batch at a time, whole groups only, from the stored
    features, and written. A group holds every posting any verdict could join, so the outcome is the one a global
    clustering gives.
    """
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        total = session.scalar(select(func.count()).select_from(Posting))
        session.execute(delete(DedupKey))
        session.execute(delete(DedupSignature))
        keyed = _derive_all(session, total, chunk, workers, progress)
        pairs = _write_keys_and_pair(session, keyed, progress)
        current = _current_ads(session, keyed.ids)
        groups = _groups(len(keyed.ids), pairs, current)
        if progress:
            progress("groups", int(groups.max(initial=-1)) + 1, int(groups.max(initial=-1)) + 1)
        result = _decide_in_batches(session, keyed.ids, pairs, current, groups, now, progress)
        if engine.dialect.name == "postgresql":  # every key and signature is new: plan the store path's lookups on it
            session.execute(text("ANALYZE dedup_keys, dedup_signatures"))
    return result


def _current_ads(session: Session, ids: np.ndarray) -> np.ndarray:
    """The ad id each posting (row) holds today, -1 for none."""
    current = np.full(len(ids), -1, dtype=np.int64)
    result = session.connection().execute(select(POSTINGS.c.id, POSTINGS.c.ad_id).where(POSTINGS.c.ad_id.is_not(None)))
    for part in result.partitions(100_000):  # as plain tuples, a part at a time: numpy reads 1M Row objects slowly
        held = np.array([tuple(row) for row in part], dtype=np.int64).reshape(-1, 2)
        at = np.minimum(np.searchsorted(ids, held[:, 0]), max(len(ids) - 1, 0))
        known = (ids[at] == held[:, 0]) if len(ids) else np.zeros(len(held), dtype=bool)
        current[at[known]] = held[known, 1]
    return current


def _derive_all(session: Session, total: int, chunk: int, workers: int, progress: Progress | None) -> _Keyed:
    """Derive and store every posting's values (signatures); their keys and what pairing needs, as arrays."""
    ids, signatures, text_lengths = [], [], []
    width = 2 * BANDS + 2  # keys per posting: its window's bands, the next window's, a link key or two
    keys = np.zeros(total * width, dtype=np.int64)
    key_rows = np.zeros(total * width, dtype=np.int32)
    kinds = np.zeros(total * width, dtype=np.int8)
    done = at = 0

    def store(rows, futures) -> None:
        nonlocal done, at, keys, key_rows, kinds
        derived, blocks, own_keys, own_kinds, counts = [], [], [], [], []
        for future in futures:
            part = future.result()
            derived.extend(part[0])
            blocks.extend(part[1])
            own_keys.append(part[2])
            own_kinds.append(part[3])
            counts.append(part[4])
        _store_signatures(session, rows, derived, blocks)
        new_keys, new_kinds, counts = np.concatenate(own_keys), np.concatenate(own_kinds), np.concatenate(counts)
        if at + len(new_keys) > len(keys):
            grown = 2 * len(keys) + len(new_keys)
            keys, key_rows, kinds = np.resize(keys, grown), np.resize(key_rows, grown), np.resize(kinds, grown)
        keys[at:at + len(new_keys)] = new_keys
        kinds[at:at + len(new_keys)] = new_kinds
        key_rows[at:at + len(new_keys)] = np.repeat(np.arange(done, done + len(rows), dtype=np.int32), counts)
        at += len(new_keys)
        ids.append(np.array([row.id for row in rows], dtype=np.int64))
        signatures.append(np.stack([d.signature for d in derived]).astype(np.uint32))
        text_lengths.append(np.array([d.text_length for d in derived], dtype=np.int32))
        done += len(rows)
        if progress:
            progress("signatures", done, total)

    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = None
        for rows in _posting_chunks(session, chunk):
            postal = _postal_codes(session, [row.id for row in rows])
            work = [(dict(row._mapping), postal.get(row.id)) for row in rows]
            step = -(-len(work) // workers)
            sent = [pool.submit(_derive_keyed, work[start:start + step]) for start in range(0, len(work), step)]
            if pending:
                store(*pending)
            pending = (rows, sent)
        if pending:
            store(*pending)
    ids.append(np.zeros(0, np.int64))
    signatures.append(np.zeros((0, NUM_PERM), np.uint32))
    text_lengths.append(np.zeros(0, np.int32))
    return _Keyed(np.concatenate(ids), np.concatenate(signatures), np.concatenate(text_lengths), keys[:at],
                  key_rows[:at], kinds[:at])


def _store_signatures(session: Session, rows, derived: list[Derived], blocks: list[str]) -> None:
    session.execute(insert(DedupSignature.__table__), [
        {"posting_id": row.id, "signature": d.signature.astype("<u4").tobytes(), "links": ",".join(sorted(d.links)),
         "shifts": ",".join(sorted(d.shifts)), "text_length": d.text_length, "postal_code": d.postal_code,
         "units": "|".join(d.units), "mentions": " ".join(d.mentions), "block": block}
        for row, d, block in zip(rows, derived, blocks, strict=True)])


def _derive_keyed(work: list[tuple[dict, str | None]]):
    """derive() over (posting columns, postal code) pairs, with each posting's block and keys (kinds: STORED,
    NEXT_WINDOW, LINK; as keys_of gives them) and how many keys each has: what a worker process runs."""
    derived, features = [], []
    for columns, postal in work:
        posting = SimpleNamespace(**columns)
        derived.append(derive(posting, postal))
        features.append(features_of(posting, derived[-1]))
    blocks = [f.block for f in features]
    signatures = np.stack([d.signature for d in derived])
    own = band_keys_many([f"{f.block}/{window_of(f)}" for f in features], signatures)
    later = band_keys_many([f"{f.block}/{window_of(f) + 1}" for f in features], signatures)
    keys, kinds, counts = [], [], []
    for n, f in enumerate(features):
        links = [link_key_hash(link) for link in sorted(f.links)]
        keys.extend((own[n], np.array(links, dtype=np.int64), later[n]))
        kinds.extend((np.full(BANDS, STORED, np.int8), np.full(len(links), LINK, np.int8),
                      np.full(BANDS, NEXT_WINDOW, np.int8)))
        counts.append(2 * BANDS + len(links))
    return derived, blocks, np.concatenate(keys), np.concatenate(kinds), np.array(counts, dtype=np.int64)


def _write_keys_and_pair(session: Session, keyed: _Keyed, progress: Progress | None) -> np.ndarray:
    """Insert the stored keys (in key order, so the key index grows at its end) and return the candidate pairs that
    could be the same ad, as unique (row, row) pairs; one range of key values at a time."""
    ranges = np.linspace(np.iinfo(np.int64).min, np.iinfo(np.int64).max, KEY_RANGES + 1, dtype=np.float64)
    bounds = [int(b) for b in ranges[1:-1]]
    which = np.empty(len(keyed.keys), dtype=np.int8)
    for start in range(0, len(which), PAIR_CHUNK * 20):
        which[start:start + PAIR_CHUNK * 20] = np.searchsorted(np.array(bounds, dtype=np.int64),
                                                               keyed.keys[start:start + PAIR_CHUNK * 20], side="right")
    found, written = [], 0
    for part in range(KEY_RANGES):
        chosen = np.flatnonzero(which == part)
        keys, rows, kinds = keyed.keys[chosen], keyed.key_rows[chosen], keyed.kinds[chosen]
        del chosen
        stored = kinds != NEXT_WINDOW
        stored_keys, owners = keys[stored], keyed.ids[rows[stored]]
        order = np.lexsort((owners, stored_keys))
        _insert_keys(session, _key_rows(stored_keys[order], owners[order]))
        written += len(order)
        del order, stored, stored_keys, owners
        link = kinds == LINK
        ranged = [pair_codes(pairs_from_keys(keys[link], rows[link].astype(np.int64)))]
        bands = pairs_from_keys(keys[~link], rows[~link].astype(np.int64))
        del keys, rows, kinds, link
        for start in range(0, len(bands), PAIR_CHUNK):
            some = bands[start:start + PAIR_CHUNK]
            equal = np.count_nonzero(keyed.signatures[some[:, 0]] == keyed.signatures[some[:, 1]], axis=1)
            shorter = np.minimum(keyed.text_lengths[some[:, 0]], keyed.text_lengths[some[:, 1]])
            ranged.append(pair_codes(some[may_match(equal, shorter)]))
        del bands
        found.append(np.unique(np.concatenate(ranged)))  # the range's pairs, each once
        del ranged
        if progress:
            progress("keys", written, int(np.count_nonzero(keyed.kinds != NEXT_WINDOW)))
    pairs = pairs_of_codes(np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64))
    del found
    if progress:
        progress("candidate pairs", len(pairs), len(pairs))
    return pairs


def _key_rows(keys: np.ndarray, ids: np.ndarray, chunk: int = 50_000):
    """(key, posting id) tuples, a chunk at a time (as Python objects all at once they would not fit)."""
    for start in range(0, len(keys), chunk):
        yield from zip(keys[start:start + chunk].tolist(), ids[start:start + chunk].tolist(), strict=True)


def _groups(count: int, pairs: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The group of each posting (row): connected components of the pairs and of postings sharing an ad today.

    scipy (already installed for datasketch) finds the components in C; a million postings take a second.
    """
    held = np.flatnonzero(current >= 0)
    by_ad = held[np.argsort(current[held], kind="stable")]
    same_ad = current[by_ad[1:]] == current[by_ad[:-1]]
    heads = np.r_[by_ad[1:][same_ad], pairs[:, 0]]
    tails = np.r_[by_ad[:-1][same_ad], pairs[:, 1]]
    graph = coo_matrix((np.ones(len(heads), dtype=np.int8), (heads, tails)), shape=(count, count))
    return connected_components(graph, directed=False)[1]


def _decide_in_batches(session: Session, ids: np.ndarray, pairs: np.ndarray, current: np.ndarray,
                       groups: np.ndarray, now: datetime, progress: Progress | None) -> ClusterResult:
    """Cluster and write the groups, REBUILD_BATCH postings at a time (whole groups), from their stored features;
    a posting alone in its group needs none (it is an ad of its own)."""
    total = ClusterResult()
    order = np.argsort(groups, kind="stable")
    sizes = np.bincount(groups)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    batch_of_group = starts // REBUILD_BATCH
    batch_of_row = batch_of_group[groups]
    pair_batches = batch_of_row[pairs[:, 0]]
    pair_order = np.argsort(pair_batches, kind="stable")
    pair_bounds = np.searchsorted(pair_batches[pair_order], np.arange(int(batch_of_group.max(initial=-1)) + 2))
    row_bounds = np.searchsorted(batch_of_row[order], np.arange(int(batch_of_group.max(initial=-1)) + 2))
    for batch in range(len(row_bounds) - 1):
        rows = order[row_bounds[batch]:row_bounds[batch + 1]]
        alone = sizes[groups[rows]] == 1
        some = pairs[pair_order[pair_bounds[batch]:pair_bounds[batch + 1]]]
        features = _load_features(session, ids[rows[~alone]].tolist(), derive_missing=False)
        clustering = cluster(features, verdicts_of(features, zip(ids[some[:, 0]].tolist(), ids[some[:, 1]].tolist(),
                                                                 strict=True)))
        clustering.components.extend([pid] for pid in ids[rows[alone]].tolist())
        ads = current[rows].tolist()
        held = {pid: (ad if ad >= 0 else None) for pid, ad in zip(ids[rows].tolist(), ads, strict=True)}
        result = _apply(session, features, clustering, held, now)
        total.postings += result.postings
        total.moved += result.moved
        total.ads_created += result.ads_created
        total.ads_deleted += result.ads_deleted
        if progress:
            progress("clustered", int(row_bounds[batch + 1]), len(ids))
    return total


def _posting_chunks(session: Session, chunk: int):
    last_id = 0
    while True:
        rows = session.execute(select(*COLUMNS, *TEXT_COLUMNS).where(Posting.id > last_id).order_by(Posting.id)
                               .limit(chunk)).all()
        if not rows:
            return
        last_id = rows[-1].id
        yield rows


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
    """executemany through the driver, `chunk` rows at a time (the rows are taken from `pairs` as they go)."""
    cursor = session.connection().connection.cursor()
    statement = statements[session.get_bind().dialect.name]
    pairs = iter(pairs)
    while some := list(islice(pairs, chunk)):
        cursor.executemany(statement, some)


# -- writing the outcome --------------------------------------------------------------------------------------------

def _apply(session: Session, features: Mapping[int, Features], clustering: Clustering,
           current: Mapping[int, int | None], now: datetime) -> ClusterResult:
    """Write the clustering of these postings: ad ids, new and emptied ads, representatives, history."""
    result = ClusterResult(postings=sum(map(len, clustering.components)))
    components = clustering.components
    ad_ids = assign_ad_ids(components, current)
    old_ads = {ad for ad in current.values() if ad is not None}
    stored = {}
    connection = session.connection()
    for chunk in _chunks(old_ads):
        stored.update({row.id: row for row in connection.execute(STORED_ADS, {"ids": chunk})})
    representatives = [choose_representatives([features[pid] for pid in comp]) if len(comp) > 1 else (comp[0], comp[0])
                       for comp in components]
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
            moves.append({"_id": pid, "_ad": ad_ids[n]})
            brand_new = old is None or (old in stored and stored[old].created_at == now)
            events.append({"posting_id": pid, "changed_at": now, "old_ad_id": None if brand_new else old,
                           "new_ad_id": ad_ids[n], "reason": _reason(clustering, comp, pid, old, brand_new)})
            result.moved += not brand_new or len(comp) > 1
    for chunk in _chunks(moves):
        connection.execute(MOVE, chunk)
    for chunk in _chunks(events):
        connection.execute(insert(AdEvent.__table__), chunk)

    ad_updates = []
    for n, ad in enumerate(ad_ids):
        primary, facts = representatives[n]
        earlier = clustering.readvertised_from.get(n)
        row = {"_id": ad, "_primary": primary, "_facts": facts,
               "_from": ad_ids[earlier] if earlier is not None else None}
        old = stored.get(ad)
        if old is not None and (old.primary_posting_id, old.facts_posting_id, old.readvertised_from_ad_id) != (
                primary, facts, row["_from"]):
            ad_updates.append(row)
    for chunk in _chunks(ad_updates):
        connection.execute(SET_REPRESENTATIVES, chunk)

    gone = old_ads - set(ad_ids)
    if gone:
        successor = _successors(components, ad_ids, current, gone)
        for chunk in _chunks(successor):
            links = connection.execute(select(ADS.c.id, ADS.c.readvertised_from_ad_id)
                                       .where(ADS.c.readvertised_from_ad_id.in_(chunk))).all()
            if links:
                connection.execute(SET_READVERTISED_FROM, [{"_id": ad, "_from": successor[old]} for ad, old in links])
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
