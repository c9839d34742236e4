"""Validate: coerce every value to what its column can hold, and drop postings that cannot be stored at all.

This is the second half of the storage boundary (clean removes NUL and lone surrogates): SQLite and PostgreSQL must
accept and refuse the same values, so the limits of the stricter one hold for both. A value its column cannot hold
(a code longer than the column, an integer outside PostgreSQL's `integer`, a moment outside SANE_YEARS) is set to
NULL and named in `normalise_notes["not_storable"]`; the rest of the posting is stored. A posting without source,
id or title, or with an id longer than its column, is dropped as `Unstorable`, and the store puts it in quarantine.
"""

from __future__ import annotations

import logging
import math
from dataclasses import fields
from datetime import date, datetime
from typing import Any

from scrapy.exceptions import DropItem
from sqlalchemy import Date, Float, Integer, String, Table

from munijobs.items import JobPosting, WorkLocation
from storage.models import Posting, UTCDateTime
from storage.models import WorkLocation as WorkLocationRow

logger = logging.getLogger(__name__)

COVERAGE_FIELDS = ("title", "employer_name", "municipality_code", "deadline_kind")
"""Fields whose share of filled values is counted per run (the health check uses it)."""
INTEGER_RANGE = (-(2**31), 2**31 - 1)
"""PostgreSQL's `integer`; SQLite would take more, so this is the limit for both."""
SANE_YEARS = (1900, 2200)
"""Years a stored moment or date may have; 0001-01-01 and 9999-12-31 are placeholders, not dates."""
NOTE_KEY = "not_storable"
NOTE_VALUE_MAX = 80


class Unstorable(DropItem):
    """A posting that cannot be stored at all; the store pipeline puts it in quarantine."""


def _limits(table: Table, names: set[str]) -> dict[str, tuple[type, int | None]]:
    limits = {}
    for column in table.columns:
        if column.name not in names:
            continue
        if isinstance(column.type, String):
            limits[column.name] = (String, column.type.length)
        for kind in (Integer, Float, Date, UTCDateTime):
            if isinstance(column.type, kind):
                limits[column.name] = (kind, None)
    return limits


POSTING_LIMITS = _limits(Posting.__table__, {f.name for f in fields(JobPosting)} - {"source", "source_ad_id", "status"})
LOCATION_LIMITS = _limits(WorkLocationRow.__table__, {f.name for f in fields(WorkLocation)})
SOURCE_AD_ID_MAX = Posting.__table__.c.source_ad_id.type.length


def why_not_storable(kind: type, length: int | None, value: Any) -> str | None:
    """Why a column of this kind cannot hold `value`, or None when it can."""
    if value is None:
        return None
    if kind is String:
        if not isinstance(value, str):
            return f"not text: {type(value).__name__}"
        return f"longer than {length} characters" if length is not None and len(value) > length else None
    if kind is Integer:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"not an integer: {type(value).__name__}"
        return "outside the integer range" if not INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1] else None
    if kind is Float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"not a number: {type(value).__name__}"
        return None if math.isfinite(value) else "not a finite number"
    if kind in (Date, UTCDateTime):
        if not isinstance(value, date) or (kind is Date) == isinstance(value, datetime):
            return f"not a {'date' if kind is Date else 'moment'}: {type(value).__name__}"
        return None if SANE_YEARS[0] <= value.year <= SANE_YEARS[1] else f"year {value.year} is out of range"
    return None


def _coerce(obj: Any, limits: dict[str, tuple[type, int | None]], prefix: str, notes: dict[str, str]) -> None:
    for name, (kind, length) in limits.items():
        value = getattr(obj, name)
        reason = why_not_storable(kind, length, value)
        if reason is not None:
            shown = repr(value) if len(repr(value)) <= NOTE_VALUE_MAX else repr(value)[:NOTE_VALUE_MAX] + "..."
            notes[prefix + name] = f"{reason}: {shown}"
            setattr(obj, name, None)


def coerce_to_columns(item: JobPosting) -> dict[str, str]:
    """Set every value its column cannot hold to None; returns {field: why} for what was set (also in the notes)."""
    notes: dict[str, str] = {}
    _coerce(item, POSTING_LIMITS, "", notes)
    for n, location in enumerate(item.work_locations):
        _coerce(location, LOCATION_LIMITS, f"work_locations[{n}].", notes)
    if notes:
        item.normalise_notes = {**item.normalise_notes, NOTE_KEY: {**item.normalise_notes.get(NOTE_KEY, {}), **notes}}
    return notes


def drop_reason(item: JobPosting) -> str | None:
    """Why the posting cannot be stored, or None when it can."""
    if not item.source:
        return "missing_source"
    if not item.source_ad_id:
        return "missing_source_ad_id"
    if len(item.source_ad_id) > SOURCE_AD_ID_MAX:
        return "source_ad_id_too_long"
    if item.has_content and not item.title:
        return "missing_title"
    return None


class ValidatePipeline:
    """Coerce values to their columns, drop unstorable postings and count field coverage of the valid ones."""

    def __init__(self, crawler):
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item):
        if not isinstance(item, JobPosting):
            return item
        reason = drop_reason(item)
        if reason:
            self.stats.inc_value(f"munijobs/dropped/{reason}")
            raise Unstorable(f"{reason}: {item.source}:{item.source_ad_id}")
        coerced = coerce_to_columns(item)
        if coerced:
            self.stats.inc_value("munijobs/coerced_to_null", len(coerced))
            logger.warning("%s: values set to NULL, their columns cannot hold them: %s", item.key,
                           ", ".join(f"{name} ({why.split(':')[0]})" for name, why in coerced.items()))
        if item.has_content:
            self.stats.inc_value("munijobs/coverage/postings")
            for name in COVERAGE_FIELDS:
                value = getattr(item, name)
                if value and value != "unknown":
                    self.stats.inc_value(f"munijobs/coverage/{name}")
        return item
