"""The base class of every munijobs spider: the database handle and how a spider reports a failed or partial run."""

from __future__ import annotations

import logging
from typing import Any

import scrapy
from sqlalchemy import Engine

from spiders._brreg import BrregUnavailable
from storage.db import get_engine


class MunijobsSpider(scrapy.Spider):
    """A spider whose run is recorded in crawl_runs by the store pipeline.

    Call `fail()` when the source itself is unusable (the run is recorded as failed) and `mark_incomplete()` when
    some units of work could not be done and will be retried next run (recorded as partial).
    """

    failure: str | None = None
    incomplete: int = 0

    @property
    def engine(self) -> Engine:
        """The munijobs database (setting DATABASE_URL); already upgraded by the store pipeline."""
        return get_engine(self.settings.get("DATABASE_URL"))

    def fail(self, reason: str) -> None:
        """Record the run as failed (first reason wins) and log it clearly."""
        if self.failure is None:
            self.failure = reason
        self.logger.error("%s: source failed: %s", self.name, reason)

    def mark_incomplete(self, reason: str, count: int = 1) -> None:
        """Count work left for the next run; the run is recorded as partial."""
        self.incomplete += count
        self.logger.log(logging.WARNING, "%s: incomplete: %s", self.name, reason)

    async def fetch_brreg(self, url: str) -> tuple[int, Any]:
        """GET a Brønnøysund URL through Scrapy (robots.txt, throttling, retries): (HTTP status, JSON or None).

        Counted as stat `<spider>/brreg_requests`. Raises BrregUnavailable when the register cannot be asked or
        answers malformed JSON.
        """
        self.crawler.stats.inc_value(f"{self.name}/brreg_requests")
        request = scrapy.Request(url, headers={"Accept": "application/json"}, dont_filter=True)
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as exc:
            raise BrregUnavailable(f"{url}: {exc!r}") from exc
        if response.status != 200:
            return response.status, None
        try:
            return 200, response.json()
        except ValueError as exc:
            raise BrregUnavailable(f"malformed JSON from {url}") from exc
