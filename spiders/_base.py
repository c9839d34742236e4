"""The base class of every munijobs spider: the database handle and how a spider reports a failed or partial run."""

from __future__ import annotations

import logging

import scrapy
from sqlalchemy import Engine

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
