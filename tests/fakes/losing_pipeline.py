"""A test-only pipeline step that loses postings the way a refusing store does: as unstorable, into the quarantine.

Enabled in a subprocess crawl with `-s ITEM_PIPELINES=<json>` (see `pipelines_losing`); the ids to lose are in the
environment variable MUNIJOBS_TEST_LOSE (comma-separated source ad ids).
"""

from __future__ import annotations

import json
import os

from munijobs.items import JobPosting
from munijobs.settings import ITEM_PIPELINES
from pipelines.validate import Unstorable

LOSE = "MUNIJOBS_TEST_LOSE"


def pipelines_losing() -> str:
    """The project's ITEM_PIPELINES with this step just before the store, as a -s value."""
    return json.dumps({**ITEM_PIPELINES, f"{__name__}.LosingPipeline": 450})


class LosingPipeline:
    """Refuses the postings named in MUNIJOBS_TEST_LOSE (their content; closing events pass)."""

    def __init__(self) -> None:
        self.lose = set(filter(None, os.environ.get(LOSE, "").split(",")))

    def process_item(self, item):
        if isinstance(item, JobPosting) and item.has_content and item.source_ad_id in self.lose:
            raise Unstorable(f"test: {item.source_ad_id} lost on purpose")
        return item
