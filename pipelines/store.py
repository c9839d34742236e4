"""Store: write postings in batches through the storage upsert path and record the crawl run."""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.utils.defer import deferred_from_coro

from munijobs.constants import RunStatus
from munijobs.items import JobPosting, StateCheckpoint
from storage.db import ensure_schema, ensure_source, get_engine, session_scope
from storage.postings import store_batch
from storage.runs import RunCounts, finish_run, start_run
from storage.state import set_state_in

logger = logging.getLogger(__name__)


def run_status(failure: str | None, finish_reason: str | None, incomplete: int) -> RunStatus:
    """A run is failed when the source or the store failed or the crawl did not finish; partial when work is left."""
    if failure or finish_reason != "finished":
        return RunStatus.FAILED
    return RunStatus.PARTIAL if incomplete else RunStatus.OK


class StorePipeline:
    """Buffer postings and write them a batch per transaction; a StateCheckpoint is written with its batch."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.batch_size = crawler.settings.getint("STORE_BATCH_SIZE", 500)
        self.engine = get_engine(crawler.settings.get("DATABASE_URL"))
        self.buffer: list[JobPosting] = []
        self.checkpoints: list[StateCheckpoint] = []
        self.counts = RunCounts()
        self.run_id: int | None = None
        self.store_error: str | None = None

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self):
        spider = self.crawler.spider
        ensure_schema(self.engine)
        ensure_source(self.engine, spider.name)
        self.run_id = self.crawler.settings.getint("MUNIJOBS_RUN_ID") or start_run(self.engine, spider.name)
        self.crawler.stats.set_value("munijobs/run_id", self.run_id)
        logger.info("%s: crawl run %s started", spider.name, self.run_id)

    def process_item(self, item):
        if isinstance(item, StateCheckpoint):
            self.checkpoints.append(item)
            self.flush()
        elif isinstance(item, JobPosting):
            self.buffer.append(item)
            if len(self.buffer) >= self.batch_size:
                self.flush()
        return item

    def flush(self) -> None:
        """Write the buffered postings and checkpoints in one transaction; on failure nothing of it is kept."""
        if self.store_error or not (self.buffer or self.checkpoints):
            return
        try:
            with session_scope(self.engine) as session:
                result = store_batch(session, self.buffer, run_id=self.run_id)
                for checkpoint in self.checkpoints:
                    set_state_in(session, checkpoint.source, checkpoint.key, checkpoint.value)
        except Exception as exc:  # the database refused the batch: stop the crawl, record the run as failed
            self.store_error = f"storing a batch of {len(self.buffer)} postings failed: {exc}"
            logger.exception("%s", self.store_error)
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="store_failed"))
            return
        finally:
            self.buffer.clear()
            self.checkpoints.clear()
        self.counts.items_new += result.new
        self.counts.items_updated += result.updated
        self.counts.items_closed += result.closed
        self.crawler.stats.inc_value("munijobs/stored", result.new + result.updated + result.unchanged)

    def close_spider(self):
        self.flush()

    def spider_closed(self, spider, reason):
        stats = self.crawler.stats
        self.counts.items_seen = stats.get_value("munijobs/items_seen", 0)
        self.counts.items_dropped = stats.get_value("item_dropped_count", 0)
        self.counts.errors = stats.get_value("log_count/ERROR", 0)
        failure = getattr(spider, "failure", None) or self.store_error
        status = run_status(failure, reason, getattr(spider, "incomplete", 0))
        message = failure or (f"{spider.incomplete} units left for the next run" if status == RunStatus.PARTIAL
                              else None)
        coverage = {k.removeprefix("munijobs/"): v for k, v in stats.get_stats().items() if k.startswith("munijobs/")}
        finish_run(self.engine, self.run_id, status, self.counts, message=message,
                   stats={"finish_reason": reason, **coverage})
        stats.set_value("munijobs/run_status", str(status))
        log = logger.error if status == RunStatus.FAILED else logger.info
        log("%s: crawl run %s %s: seen %d, new %d, updated %d, closed %d, dropped %d, errors %d%s", spider.name,
            self.run_id, status, self.counts.items_seen, self.counts.items_new, self.counts.items_updated,
            self.counts.items_closed, self.counts.items_dropped, self.counts.errors,
            f" ({message})" if message else "")
