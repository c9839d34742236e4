"""Validate: coerce every value to what its column can hold, and drop postings that cannot be stored at all.

This is the second half of the storage boundary (clean removes NUL and lone surrogates): SQLite and PostgreSQL must
accept and refuse the same values, so a value its column cannot hold is set to NULL with a note (storage/boundary.py)
and the rest of the posting is stored. A posting without source, id or title, or with an id longer than its column,
is dropped as `Unstorable`, and the store puts it in quarantine.
"""

from __future__ import annotations

import logging

from scrapy.exceptions import DropItem

from munijobs.items import JobPosting
from storage.boundary import SOURCE_AD_ID_MAX, coerce_to_columns

logger = logging.getLogger(__name__)

COVERAGE_FIELDS = ("title", "employer_name", "municipality_code", "deadline_kind")
"""Fields whose share of filled values is counted per run (the health check uses it)."""


class Unstorable(DropItem):
    """A posting that cannot be stored at all; the store pipeline puts it in quarantine."""


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
