"""The item pipelines in process, as Scrapy chains them, with a stub crawler: for tests of the storage boundary."""

from __future__ import annotations

from typing import Any

from scrapy import Spider, signals
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from pipelines import CleanPipeline, DeduplicatePipeline, NormalisePipeline, StorePipeline, ValidatePipeline


class StubSpider(Spider):
    name = "nav"
    failure = None
    incomplete = 0


class Pipelines:
    """clean → normalise → validate → deduplicate → store over one stub crawler; `close()` records the run."""

    def __init__(self, database_url: str, batch_size: int = 500) -> None:
        self.crawler = get_crawler(StubSpider, {"DATABASE_URL": database_url, "STORE_BATCH_SIZE": batch_size})
        self.crawler.spider = StubSpider()
        self.store = StorePipeline.from_crawler(self.crawler)
        self.steps = [CleanPipeline(self.crawler), NormalisePipeline(self.crawler), ValidatePipeline(self.crawler),
                      DeduplicatePipeline(self.crawler), self.store]
        self.store.open_spider()

    def feed(self, *items: Any) -> None:
        """Pass items through every step; drops and errors are signalled as Scrapy signals them."""
        spider = self.crawler.spider
        for item in items:
            try:
                for step in self.steps:
                    item = step.process_item(item)
            except DropItem as exc:
                self.crawler.signals.send_catch_log(signal=signals.item_dropped, item=item, response=None,
                                                    exception=exc, spider=spider)
            except Exception as exc:
                self.crawler.signals.send_catch_log(signal=signals.item_error, item=item, response=None,
                                                    spider=spider, failure=Failure(exc))

    def close(self) -> None:
        self.store.close_spider()
        self.store.spider_closed(self.crawler.spider, "finished")
