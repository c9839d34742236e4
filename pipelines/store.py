"""Store: write postings in batches through the storage upsert path and record the crawl run.

A batch the database refuses is written again one posting at a time, so one odd ad does not sink the others; a
posting refused even alone goes to the quarantine (storage/quarantine.py), as does one a pipeline step failed on or
dropped as `Unstorable`. The run is then partial and the batch's checkpoint (the cursor) is still written. When the
database itself is unusable (locked, disk full, connection lost), nothing is quarantined: the run fails and the
cursor stays, as before.
"""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.utils.defer import deferred_from_coro
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from munijobs.constants import RunStatus
from munijobs.items import JobPosting, StateCheckpoint
from pipelines.validate import Unstorable
from storage.db import ensure_schema, ensure_source, get_engine, session_scope
from storage.locks import LockLost
from storage.postings import BatchResult, store_batch
from storage.quarantine import quarantine_in, raw_json, release_in
from storage.reconcile import reconcile
from storage.runs import RunCounts, finish_run, start_run
from storage.state import set_state_in

logger = logging.getLogger(__name__)

DATABASE_DOWN = (OperationalError, InterfaceError, DisconnectionError, OSError, LockLost)
"""Errors that say the database (or our hold on it), not the posting, is the problem: never a reason to quarantine."""


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
        self.to_quarantine: list[dict] = []
        self.quarantined = 0

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(pipeline.item_failed, signal=signals.item_error)
        crawler.signals.connect(pipeline.item_dropped, signal=signals.item_dropped)
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

    def item_failed(self, item, response, spider, failure) -> None:
        """A pipeline step raised on a posting: quarantine it rather than lose it."""
        if isinstance(item, JobPosting):
            self._hold(item, f"{failure.type.__name__} in a pipeline: {failure.getErrorMessage()}")

    def item_dropped(self, item, response, exception, spider) -> None:
        """A posting validate found unstorable goes to the quarantine (in-run duplicates are simply dropped)."""
        if isinstance(item, JobPosting) and isinstance(exception, Unstorable):
            self._hold(item, f"unstorable: {exception}")

    def _hold(self, item: JobPosting, error: str) -> None:
        self.to_quarantine.append({"source": item.source or self.crawler.spider.name,
                                   "source_ad_id": item.source_ad_id or "", "raw": raw_json(item), "error": error})
        logger.error("%s: %s:%s quarantined: %s", self.crawler.spider.name, item.source, item.source_ad_id, error)

    def flush(self) -> None:
        """Write the buffered postings and checkpoints in one transaction; on failure nothing of it is kept.

        A batch the database refuses is retried a posting at a time (see the module docstring).
        """
        if self.store_error or not (self.buffer or self.checkpoints or self.to_quarantine):
            return
        try:
            try:
                result = self._write(self.buffer)
            except DATABASE_DOWN:
                raise
            except Exception as exc:
                logger.warning("%s: a batch of %d postings was refused (%s); storing them one by one",
                               self.crawler.spider.name, len(self.buffer), _first_line(exc))
                result = self._write_one_by_one()
        except Exception as exc:  # the database refused the batch: stop the crawl, record the run as failed
            self.store_error = f"storing a batch of {len(self.buffer)} postings failed: {_first_line(exc)}"
            logger.error("%s", self.store_error)
            logger.debug("the store's error in full", exc_info=True)
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="store_failed"))
            return
        finally:
            self.buffer.clear()
            self.checkpoints.clear()
            self.to_quarantine.clear()
        self.counts.items_new += result.new
        self.counts.items_updated += result.updated
        self.counts.items_closed += result.closed
        self.crawler.stats.inc_value("munijobs/stored", result.new + result.updated + result.unchanged)

    def _write(self, postings: list[JobPosting], with_checkpoints: bool = True) -> BatchResult:
        """Postings, their release from the quarantine, new quarantine rows and the checkpoints: one transaction."""
        with session_scope(self.engine) as session:
            result = store_batch(session, postings, run_id=self.run_id)
            release_in(session, {(item.source, item.source_ad_id) for item in postings})
            if with_checkpoints:
                for row in self.to_quarantine:
                    quarantine_in(session, **row, run_id=self.run_id)
                for checkpoint in self.checkpoints:
                    set_state_in(session, checkpoint.source, checkpoint.key, checkpoint.value)
        if with_checkpoints and self.to_quarantine:
            self.quarantined += len(self.to_quarantine)
            self.crawler.stats.inc_value("munijobs/quarantined", len(self.to_quarantine))
        return result

    def _write_one_by_one(self) -> BatchResult:
        """Store each posting in its own transaction; quarantine the ones refused; then the checkpoints."""
        total = BatchResult()
        for item in self.buffer:
            try:
                result = self._write([item], with_checkpoints=False)
            except DATABASE_DOWN:
                raise
            except Exception as exc:
                self._hold(item, f"refused by the database: {_first_line(exc)}")
                continue
            for name in ("new", "updated", "unchanged", "closed", "ignored_events"):
                setattr(total, name, getattr(total, name) + getattr(result, name))
        self._write([])
        return total

    def close_spider(self):
        self.flush()

    def spider_closed(self, spider, reason):
        stats = self.crawler.stats
        self.counts.items_seen = stats.get_value("munijobs/items_seen", 0)
        self.counts.items_dropped = stats.get_value("item_dropped_count", 0)
        self.counts.errors = stats.get_value("log_count/ERROR", 0)
        failure = getattr(spider, "failure", None) or self.store_error
        left = getattr(spider, "incomplete", 0)
        unnormalised = stats.get_value("munijobs/normalise_failed", 0)
        status = run_status(failure, reason, left + self.quarantined + unnormalised)
        message = failure or (_partial_message(left, self.quarantined, unnormalised) if status == RunStatus.PARTIAL
                              else None)
        if status != RunStatus.FAILED:
            self._reconcile(spider)
        coverage = {k.removeprefix("munijobs/"): v for k, v in stats.get_stats().items() if k.startswith("munijobs/")}
        finish_run(self.engine, self.run_id, status, self.counts, message=message,
                   stats={"finish_reason": reason, **coverage})
        stats.set_value("munijobs/run_status", str(status))
        log = logger.error if status == RunStatus.FAILED else logger.info
        log("%s: crawl run %s %s: seen %d, new %d, updated %d, closed %d, dropped %d, errors %d%s", spider.name,
            self.run_id, status, self.counts.items_seen, self.counts.items_new, self.counts.items_updated,
            self.counts.items_closed, self.counts.items_dropped, self.counts.errors,
            f" ({message})" if message else "")

    def _reconcile(self, spider) -> None:
        """Compare what the spider showed (its `reconciliation`, when it has one) with the database: run stats."""
        expected = getattr(spider, "reconciliation", None)
        if expected is None:
            return
        try:
            result = reconcile(self.engine, spider.name, expected)
        except Exception as exc:  # a check that cannot run must not keep the run from being recorded
            logger.error("%s: reconciliation could not run: %s", spider.name, _first_line(exc))
            return
        for name, value in result.stats().items():
            self.crawler.stats.set_value(f"munijobs/{name}", value)
        log = logger.info if result.clean else logger.error
        log("%s: reconciliation: %d of %d postings stored active (%d expired), %d missing, %d still active though"
            " closed, %d pending", spider.name, result.stored, result.listed, result.expired, len(result.missing),
            len(result.unclosed), result.pending)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:500]


def _partial_message(left: int, quarantined: int, unnormalised: int) -> str:
    parts = [f"{left} units left for the next run"] if left else []
    if quarantined:
        parts.append(f"{quarantined} postings quarantined (see munijobs status)")
    if unnormalised:
        parts.append(f"{unnormalised} postings stored without normalised fields (the normaliser failed on them)")
    return "; ".join(parts)
