"""Deduplicate: drop a posting already passed on in this run with the same content version."""

from __future__ import annotations

from scrapy.exceptions import DropItem

from munijobs.items import JobPosting


class DeduplicatePipeline:
    """In-run duplicates (same key and same source version) are dropped; cross-source clustering is storage's job."""

    def __init__(self, crawler):
        self.stats = crawler.stats
        self.seen: dict[str, tuple] = {}

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item):
        if not isinstance(item, JobPosting):
            return item
        version = (item.has_content, str(item.status), item.source_modified_at)
        if self.seen.get(item.key) == version:
            self.stats.inc_value("munijobs/dropped/duplicate_in_run")
            raise DropItem(f"duplicate_in_run: {item.key}")
        self.seen[item.key] = version
        return item
