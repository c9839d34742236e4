"""A spider that yields postings from a JSON file (setting FIXTURE_ITEMS_FILE), to test the pipelines end to end."""

from __future__ import annotations

import json
from datetime import datetime

from munijobs.constants import PostingStatus
from munijobs.items import JobPosting, StateCheckpoint, WorkLocation
from spiders._base import MunijobsSpider


class FixtureJobsSpider(MunijobsSpider):
    name = "fixture_jobs"
    known_settings = ("FIXTURE_ITEMS_FILE",)
    """Settings of its own, accepted by `munijobs crawl -s` (munijobs refuses unknown setting names)."""

    async def start(self):
        with open(self.settings.get("FIXTURE_ITEMS_FILE"), encoding="utf-8") as fh:
            payload = json.load(fh)
        if payload.get("fail"):
            self.fail(payload["fail"])
        for row in payload["items"]:
            if row.get("checkpoint"):
                yield StateCheckpoint(source=self.name, key="cursor", value=row["checkpoint"])
                continue
            locations = [WorkLocation(**loc) for loc in row.pop("work_locations", [])]
            for name in ("published_at", "source_modified_at", "closed_at"):
                if row.get(name):
                    row[name] = datetime.fromisoformat(row[name])
            if "status" in row:
                row["status"] = PostingStatus(row["status"])
            yield JobPosting(source=self.name, work_locations=locations, **row)
