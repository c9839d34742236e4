"""Validate: drop postings that cannot be stored, with a logged reason, counted per reason."""

from __future__ import annotations

import logging

from scrapy.exceptions import DropItem

from munijobs.items import JobPosting

logger = logging.getLogger(__name__)

COVERAGE_FIELDS = ("title", "employer_name", "municipality_code", "deadline_kind")
"""Fields whose share of filled values is counted per run (the health check uses it)."""


def drop_reason(item: JobPosting) -> str | None:
    """Why the posting cannot be stored, or None when it can."""
    if not item.source:
        return "missing_source"
    if not item.source_ad_id:
        return "missing_source_ad_id"
    if item.has_content and not item.title:
        return "missing_title"
    return None


class ValidatePipeline:
    """Drop invalid postings and count field coverage of the valid ones."""

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
            raise DropItem(f"{reason}: {item.source}:{item.source_ad_id}")
        if item.has_content:
            self.stats.inc_value("munijobs/coverage/postings")
            for name in COVERAGE_FIELDS:
                value = getattr(item, name)
                if value and value != "unknown":
                    self.stats.inc_value(f"munijobs/coverage/{name}")
        return item
