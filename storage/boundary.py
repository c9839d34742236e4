"""What the columns can hold: the limits of the stricter database (PostgreSQL) hold for SQLite too.

A value its column cannot hold (a code longer than the column, an integer outside PostgreSQL's `integer`, a moment
outside SANE_YEARS) is set to None and named in `normalise_notes["not_storable"]`, so the rest of the posting is
stored the same way on both databases. Used by the validate pipeline and by renormalise. Knows nothing of Scrapy.
"""

from __future__ import annotations

import math
import re
from dataclasses import fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, Integer, String, Table

from munijobs.items import JobPosting, WorkLocation
from storage.models import Posting, UTCDateTime
from storage.models import WorkLocation as WorkLocationRow

INTEGER_RANGE = (-(2**31), 2**31 - 1)
"""PostgreSQL's `integer`; SQLite would take more, so this is the limit for both."""
SANE_YEARS = (1900, 2200)
"""Years a stored moment or date may have; 0001-01-01 and 9999-12-31 are placeholders, not dates."""
UNSTORABLE_CHARS = re.compile(r"[\x00\ud800-\udfff]")
"""NUL and lone surrogates: no database column can hold them."""


def storable(value: Any) -> Any:
    """`value` with NUL and lone surrogates removed from every text in it and NaN/infinity set to None."""
    if isinstance(value, str):
        return UNSTORABLE_CHARS.sub("", value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return value


NOTE_KEY = "not_storable"
NOTE_VALUE_MAX = 80


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
