"""The one upsert path for postings, and the read helpers spiders use to avoid needless requests.

`store_batch` writes a batch of postings in the caller's transaction:

* new postings are inserted and each becomes its own canonical ad, then new and changed postings are deduplicated
  (storage.clusters.update_clusters may join them to another ad or split them off);
* a posting whose content changed is updated, and every changed field gets a row in `posting_changes`;
* an unchanged posting only gets `last_seen_at` / `last_run_id` bumped: no history, no content write;
* a status-only event (`has_content=False`) closes a stored posting and keeps its content.

Columns a new posting's insert overwrites (when one was stored meanwhile): every content column; an update writes the
content columns that differ from the stored ones (as history text), and the work locations only when they changed.
Columns the store path never overwrites: `id`, `ad_id`, `first_seen_at`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, Row, bindparam, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from munijobs.constants import PostingStatus
from munijobs.items import JobPosting, OccupationCode
from munijobs.items import WorkLocation as WorkLocationItem
from storage.clusters import update_clusters
from storage.db import dialect_insert
from storage.models import Ad, Posting, PostingChange, PostingRaw, WorkLocation

BOOKKEEPING = frozenset({"id", "source", "source_ad_id", "ad_id", "first_seen_at", "last_seen_at", "content_hash",
                         "last_run_id"})
CONTENT_COLUMNS = tuple(c.name for c in Posting.__table__.columns if c.name not in BOOKKEEPING)
"""Posting columns filled from an item."""
UNTRACKED = frozenset({"normalise_notes", "extra", "occupations", "source_modified_at"})
HISTORY_COLUMNS = frozenset(CONTENT_COLUMNS) - UNTRACKED
"""Content columns whose changes are written to posting_changes (v_ad_history), as are those of work_locations."""
LOCATION_FIELDS = tuple(f.name for f in fields(WorkLocationItem))
OCCUPATION_FIELDS = tuple(f.name for f in fields(OccupationCode))


@dataclass
class BatchResult:
    """What one batch did."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    ignored_events: int = 0


def as_text(value: Any) -> str | None:
    """A value as history text: dates ISO, timestamps in UTC, whole floats without '.0', structures as JSON."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=as_text)
    return str(value)


def posting_values(item: JobPosting) -> dict[str, Any]:
    """Content column values of an item."""
    values = {name: getattr(item, name) for name in CONTENT_COLUMNS}
    values["status"] = str(item.status)
    values["occupations"] = [{name: getattr(o, name) for name in OCCUPATION_FIELDS} for o in item.occupations]
    values["normalise_notes"] = item.normalise_notes or None
    values["extra"] = item.extra or None
    return values


def location_values(item: JobPosting) -> list[dict[str, Any]]:
    """The item's work locations as rows (flat dataclasses: a dict per location, without asdict's deep copy)."""
    return [{name: getattr(loc, name) for name in LOCATION_FIELDS} for loc in item.work_locations]


def content_hash(values: dict[str, Any], locations: list[dict[str, Any]], html: str | None) -> str:
    """Fingerprint of a posting's content; the source's change marker alone does not change it."""
    payload = {name: as_text(values[name]) for name in CONTENT_COLUMNS if name != "source_modified_at"}
    payload["work_locations"] = as_text(locations)
    payload["description_html"] = html
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _last_per_key(items: Iterable[JobPosting]) -> dict[tuple[str, str], JobPosting]:
    """Items by key; a key seen twice in one batch keeps its last item (PostgreSQL rejects a row touched twice)."""
    return {(i.source, i.source_ad_id): i for i in items}


POSTINGS = Posting.__table__
CRAWL_OWNED = ("status", "closed_at", "source_modified_at")
"""Content columns only a crawl writes; renormalise keeps them as stored (with last_seen_at and last_run_id)."""
_STATE = ("id", "content_hash", *CRAWL_OWNED, "last_seen_at", "last_run_id")
"""What the store path reads of every stored posting of a batch."""


def _by_source(keys: Iterable[tuple[str, str]]) -> Iterator[tuple[str, list[str]]]:
    """(source, up to 500 of its source ad ids) for a set of keys."""
    by_source: dict[str, list[str]] = {}
    for source, ad_id in keys:
        by_source.setdefault(source, []).append(ad_id)
    for source, ids in by_source.items():
        for start in range(0, len(ids), 500):
            yield source, ids[start:start + 500]


def _stored(connection, keys: Iterable[tuple[str, str]], lock: bool = False) -> dict[tuple[str, str], Row]:
    """The stored state (_STATE columns) of these postings, by key; `lock` locks the rows (PostgreSQL)."""
    stored = {}
    for source, ids in _by_source(keys):
        query = (select(POSTINGS.c.source_ad_id, *(POSTINGS.c[name] for name in _STATE))
                 .where(POSTINGS.c.source == source, POSTINGS.c.source_ad_id.in_(ids)))
        if lock and connection.dialect.name == "postgresql":
            query = query.with_for_update()
        stored.update({(source, row.source_ad_id): row for row in connection.execute(query)})
    return stored


def _stored_content(connection, posting_ids: Sequence[int]) -> dict[int, tuple]:
    """The CONTENT_COLUMNS of these postings as stored, as tuples by posting id."""
    columns = [POSTINGS.c[name] for name in CONTENT_COLUMNS]
    result = {}
    for start in range(0, len(posting_ids), 500):
        query = select(POSTINGS.c.id, *columns).where(POSTINGS.c.id.in_(posting_ids[start:start + 500]))
        result.update({row[0]: tuple(row[1:]) for row in connection.execute(query)})
    return result


def _stored_locations(connection, posting_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    result: dict[int, list[dict[str, Any]]] = {pid: [] for pid in posting_ids}
    table = WorkLocation.__table__
    for start in range(0, len(posting_ids), 500):
        query = (select(table.c.posting_id, *(table.c[name] for name in LOCATION_FIELDS))
                 .where(table.c.posting_id.in_(posting_ids[start:start + 500])).order_by(table.c.position))
        for posting_id, *values in connection.execute(query):
            result[posting_id].append(dict(zip(LOCATION_FIELDS, values, strict=True)))
    return result


def _differs(before: Any, after: Any) -> tuple[str | None, str | None] | None:
    """(old text, new text) when two values of a field differ as history text, else None."""
    if before == after and type(before) is type(after):
        return None
    before, after = as_text(before), as_text(after)
    return None if before == after else (before, after)


@dataclass
class _Difference:
    """What changed postings changed, against their stored rows."""

    history: list[tuple[int, str, str | None, str | None]]
    columns: dict[int, tuple[str, ...]]
    """The content columns that differ, by posting id (the only ones written)."""
    same_locations: set[int]
    """Postings whose work locations are as stored (not rewritten)."""


def _difference(connection, changed: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]]) -> _Difference:
    """Changed postings' new values and locations against their stored ones (read for them alone, two queries)."""
    ids = list(changed)
    stored, stored_locations = _stored_content(connection, ids), _stored_locations(connection, ids)
    difference = _Difference([], {}, set())
    for posting_id, (values, locations) in changed.items():
        columns = []
        for name, before in zip(CONTENT_COLUMNS, stored[posting_id], strict=True):
            texts = _differs(before, values[name])
            if texts is not None:
                columns.append(name)
                if name in HISTORY_COLUMNS:
                    difference.history.append((posting_id, name, *texts))
        texts = _differs(stored_locations[posting_id], locations)
        if texts is None:
            difference.same_locations.add(posting_id)
        else:
            difference.history.append((posting_id, "work_locations", *texts))
        difference.columns[posting_id] = tuple(columns)
    return difference


def store_batch(session: Session, items: Iterable[JobPosting], run_id: int | None = None,
                now: datetime | None = None, seen: bool = True,
                loaded_hashes: Mapping[tuple[str, str], str | None] | None = None) -> BatchResult:
    """Write a batch of postings inside the session's transaction (idempotent; see module docstring).

    `seen=False` rewrites content without marking the postings as seen again (used by renormalise): the rows are
    re-read (and on PostgreSQL locked) in this transaction, status, closed_at and source_modified_at stay as stored,
    and a posting whose stored content hash is no longer its `loaded_hashes` entry (a crawl changed it since it was
    read) is left alone.
    """
    now = now or datetime.now(UTC)
    result = BatchResult()
    batch = _last_per_key(items)
    connection = session.connection()
    stored = _stored(connection, batch, lock=not seen)

    new_rows, history, touched, markers = [], [], [], []
    changed: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    locations: dict[tuple[str, str], list[dict[str, Any]]] = {}
    html: dict[tuple[str, str], str | None] = {}
    for key, item in batch.items():
        old = stored.get(key)
        if not item.has_content:
            _close(connection, item, old, run_id, now, result, history, touched)
            continue
        values = posting_values(item)
        if not seen and old is not None:
            if loaded_hashes is not None and loaded_hashes.get(key) != old.content_hash:
                result.unchanged += 1
                continue
            values.update({name: getattr(old, name) for name in CRAWL_OWNED})
        locs = location_values(item)
        values["content_hash"] = content_hash(values, locs, item.description_html)
        if old is None:
            result.new += 1
            new_rows.append({"source": item.source, "source_ad_id": item.source_ad_id, "first_seen_at": now,
                             "last_seen_at": now, "last_run_id": run_id, **values})
        elif old.content_hash == values["content_hash"]:
            result.unchanged += 1
            if seen:
                touched.append(old.id)
            if as_text(old.source_modified_at) != as_text(item.source_modified_at):
                markers.append({"_id": old.id, "source_modified_at": item.source_modified_at})
            continue
        else:
            result.updated += 1
            changed[old.id] = (values, locs)
        locations[key] = locs
        html[key] = item.description_html

    ids = _insert_rows(session, new_rows) if new_rows else {}
    if new_rows:
        _create_ads(session, now)
    same_locations = set()
    if changed:
        difference = _difference(connection, changed)
        history.extend(difference.history)
        same_locations = difference.same_locations
        _update_changed(connection, changed, difference.columns,
                        {"last_seen_at": now, "last_run_id": run_id} if seen else {})
        ids.update({key: stored[key].id for key in locations if key in stored})
    if ids:
        _replace_locations(connection, {key: pid for key, pid in ids.items() if pid not in same_locations}, locations)
        raw = dialect_insert(session)(PostingRaw.__table__)
        connection.execute(raw.on_conflict_do_update(index_elements=["posting_id"], set_={
            "description_html": raw.excluded.description_html, "fetched_at": raw.excluded.fetched_at}),
            [{"posting_id": ids[key], "description_html": text, "fetched_at": now} for key, text in html.items()])
        update_clusters(session, list(ids.values()), now)
    for start in range(0, len(touched), 500):
        chunk = touched[start:start + 500]
        connection.execute(update(POSTINGS).where(POSTINGS.c.id.in_(chunk)).values(last_seen_at=now,
                                                                                   last_run_id=run_id))
    if markers:
        connection.execute(update(POSTINGS).where(POSTINGS.c.id == bindparam("_id"))
                           .values(source_modified_at=bindparam("source_modified_at")), markers)
    write_history(session, history, now, run_id)
    return result


def _update_changed(connection, changed: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]],
                    columns: dict[int, tuple[str, ...]], seen: dict[str, Any]) -> None:
    """Write changed postings' differing columns and content hash (and `seen`) by id: an executemany per set of
    columns."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for posting_id, (values, _) in changed.items():
        names = (*columns[posting_id], "content_hash")
        by_columns.setdefault(names, []).append({"_id": posting_id, **seen, **{name: values[name] for name in names}})
    for names, rows in by_columns.items():
        connection.execute(update(POSTINGS).where(POSTINGS.c.id == bindparam("_id"))
                           .values({name: bindparam(name) for name in (*names, *seen)}), rows)


def _replace_locations(connection, ids: dict[tuple[str, str], int],
                       locations: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    """Replace the work locations of these postings (by key: id) with `locations`."""
    table = WorkLocation.__table__
    written = list(ids.values())
    for start in range(0, len(written), 500):
        connection.execute(delete(table).where(table.c.posting_id.in_(written[start:start + 500])))
    location_rows = [{"posting_id": posting_id, "position": n, **loc}
                     for key, posting_id in ids.items() for n, loc in enumerate(locations[key])]
    if location_rows:
        connection.execute(insert(table), location_rows)


def write_history(session: Session, changes: list[tuple[int, str, str | None, str | None]], now: datetime,
                  run_id: int | None) -> None:
    """Insert (posting id, field, old text, new text) changes into posting_changes, all stamped `now`."""
    if changes:
        session.connection().execute(insert(PostingChange.__table__), [
            {"posting_id": pid, "changed_at": now, "field": field, "old_value": before, "new_value": after,
             "run_id": run_id} for pid, field, before, after in changes])


def closing_changes(posting_id: int, old_status: str, old_closed_at: datetime | None, status: str,
                    closed_at: datetime | None) -> list[tuple[int, str, str | None, str | None]]:
    """The history of a status change: status, and closed_at when it moves."""
    changes = [(posting_id, "status", old_status, status)]
    if as_text(old_closed_at) != as_text(closed_at):
        changes.append((posting_id, "closed_at", as_text(old_closed_at), as_text(closed_at)))
    return changes


def _insert_rows(session: Session, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Insert these new posting rows (overwriting one stored meanwhile under the same key); their ids by key.

    One executemany (the driver prepares the statement once) and the ids read back: RETURNING through SQLAlchemy's
    multi-row VALUES costs the driver more in parsing the long statement than the database in writing the rows.
    """
    statement = dialect_insert(session)(POSTINGS)
    overwrite = {name: statement.excluded[name] for name in (*CONTENT_COLUMNS, "content_hash", "last_seen_at",
                                                            "last_run_id")}
    statement = statement.on_conflict_do_update(index_elements=["source", "source_ad_id"], set_=overwrite)
    connection = session.connection()
    connection.execute(statement, rows)
    ids = {}
    for source, chunk in _by_source((row["source"], row["source_ad_id"]) for row in rows):
        query = select(POSTINGS.c.source_ad_id, POSTINGS.c.id).where(POSTINGS.c.source == source,
                                                                      POSTINGS.c.source_ad_id.in_(chunk))
        ids.update({(source, ad_id): posting_id for ad_id, posting_id in connection.execute(query)})
    return ids


def _create_ads(session: Session, now: datetime) -> None:
    """Give every posting that has no canonical ad an ad of its own (two set-based statements)."""
    ads, orphan = Ad.__table__, POSTINGS.c.ad_id.is_(None)
    connection = session.connection()
    connection.execute(insert(ads).from_select(["primary_posting_id", "created_at"],
                                               select(POSTINGS.c.id, literal(now, ads.c.created_at.type))
                                               .where(orphan)))
    newest_ad = select(func.max(ads.c.id)).where(ads.c.primary_posting_id == POSTINGS.c.id).scalar_subquery()
    connection.execute(update(POSTINGS).where(orphan).values(ad_id=newest_ad))


def _close(connection, item: JobPosting, old: Row | None, run_id: int | None, now: datetime,
           result: BatchResult, history: list, touched: list[int]) -> None:
    """Apply a status-only event to a stored posting; an unknown posting is ignored (nothing to close). A posting
    whose status stays goes to `touched` (only seen again)."""
    if old is None:
        result.ignored_events += 1
        return
    status = str(item.status)
    if old.status == status or (old.status != PostingStatus.ACTIVE and status != PostingStatus.ACTIVE):
        touched.append(old.id)
        result.unchanged += 1
        return
    closed_at = item.closed_at or now if status != PostingStatus.ACTIVE else None
    history.extend(closing_changes(old.id, old.status, old.closed_at, status, closed_at))
    connection.execute(update(POSTINGS).where(POSTINGS.c.id == old.id).values(
        status=status, closed_at=closed_at, last_seen_at=now, last_run_id=run_id,
        source_modified_at=item.source_modified_at or old.source_modified_at))
    result.closed += 1


# -- read helpers for spiders ---------------------------------------------------------------------------------------

def _chunks(ids: Iterable[str], size: int = 500):
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _stored_values(engine: Engine, source: str, source_ad_ids: Iterable[str], column) -> dict[str, Any]:
    """One stored column of the source's postings, by source ad id (ids not stored are absent)."""
    result: dict[str, Any] = {}
    with Session(engine) as session:
        for chunk in _chunks(source_ad_ids):
            query = select(Posting.source_ad_id, column).where(Posting.source == source,
                                                               Posting.source_ad_id.in_(chunk))
            result.update(dict(session.execute(query).all()))
    return result


def source_versions(engine: Engine, source: str, source_ad_ids: Iterable[str]) -> dict[str, datetime | None]:
    """Stored `source_modified_at` (the source's change marker) of these postings, by source ad id."""
    return _stored_values(engine, source, source_ad_ids, Posting.source_modified_at)


def stored_expiry(engine: Engine, source: str, source_ad_ids: Iterable[str]) -> dict[str, datetime | None]:
    """Stored `expires_at` by source ad id (for deciding expired vs withdrawn)."""
    return _stored_values(engine, source, source_ad_ids, Posting.expires_at)


def load_postings(session: Session, postings: Sequence[Posting]) -> list[JobPosting]:
    """Rebuild the items of stored postings (raw and normalised values), e.g. to renormalise them.

    Their raw HTML and work locations are read in one query each for the whole batch.
    """
    ids = [posting.id for posting in postings]
    raw_html = select(PostingRaw.posting_id, PostingRaw.description_html).where(PostingRaw.posting_id.in_(ids))
    html_by_id = {posting_id: html for posting_id, html in session.execute(raw_html)}
    locations = _stored_locations(session.connection(), ids)
    items = []
    for posting in postings:
        item = JobPosting(source=posting.source, source_ad_id=posting.source_ad_id)
        for name in CONTENT_COLUMNS:
            if name in ("occupations", "normalise_notes", "extra", "status"):
                continue
            setattr(item, name, getattr(posting, name))
        item.status = PostingStatus(posting.status)
        item.occupations = [OccupationCode(**o) for o in posting.occupations or []]
        item.normalise_notes = dict(posting.normalise_notes or {})
        item.extra = dict(posting.extra or {})
        item.description_html = html_by_id.get(posting.id)
        item.work_locations = [WorkLocationItem(**loc) for loc in locations[posting.id]]
        items.append(item)
    return items


def open_postings(engine: Engine, source: str) -> dict[str, datetime | None]:
    """The source's active postings: `expires_at` by source ad id (a complete list closes those it no longer has)."""
    with Session(engine) as session:
        query = select(Posting.source_ad_id, Posting.expires_at).where(Posting.source == source,
                                                                      Posting.status == str(PostingStatus.ACTIVE))
        return dict(session.execute(query).all())
