"""Clean: tidy every text value as it arrives and keep no contact persons' data.

Also the first half of the storage boundary: NUL characters and lone surrogates, which PostgreSQL refuses and
SQLite's driver cannot encode, are removed from every text (the raw HTML and `extra` too), and numbers that no JSON
column can hold (NaN, infinity) become None.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import fields
from typing import Any

from munijobs.items import JobPosting, OccupationCode, WorkLocation
from storage.boundary import UNSTORABLE_CHARS, storable

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
PERSONAL_KEYS = re.compile(r"contact|kontakt|email|e-post|epost|phone|telefon|mobil", re.IGNORECASE)
"""Keys of `extra` that would hold contact persons' data; dropped at ingest."""
KEEP_AS_GIVEN = frozenset({"description_html"})
def clean_text(value: str) -> str | None:
    """NFC-normalised, control characters removed, outer whitespace stripped; empty becomes None."""
    value = CONTROL_CHARS.sub("", unicodedata.normalize("NFC", UNSTORABLE_CHARS.sub("", value))).strip()
    return value or None


def drop_personal(extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` without any key that may hold contact persons' names, e-mails or phones."""
    return {k: v for k, v in extra.items() if not PERSONAL_KEYS.search(k)}


def _clean_fields(obj: JobPosting | WorkLocation | OccupationCode) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, str):
            setattr(obj, f.name, storable(value) if f.name in KEEP_AS_GIVEN else clean_text(value))
        elif isinstance(value, float):
            setattr(obj, f.name, storable(value))


class CleanPipeline:
    """Tidy text fields, drop personal keys, count items seen."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item):
        if not isinstance(item, JobPosting):
            return item
        self.crawler.stats.inc_value("munijobs/items_seen")
        _clean_fields(item)
        for part in (*item.work_locations, *item.occupations):
            _clean_fields(part)
        item.extra = storable(drop_personal(item.extra))
        return item
