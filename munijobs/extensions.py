"""Scrapy extensions for unattended crawls: steady progress lines and one rotating log file per source."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from scrapy.exceptions import NotConfigured
from scrapy.extensions.logstats import LogStats

LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5

logger = logging.getLogger(__name__)


FRAMEWORK_CHATTER = ("scrapy.utils.log", "scrapy.addons", "scrapy.middleware", "scrapy.crawler",
                     "scrapy.statscollectors")
"""Scrapy loggers that list versions, components, settings and the stats dump at every start and end (about 120
lines a crawl); the run's stats are kept in crawl_runs.stats."""


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def quiet_framework_chatter(level: str) -> None:
    """At LOG_LEVEL INFO, leave Scrapy's start-up listings and stats dump out (their warnings still show); DEBUG
    keeps them. A filter, not a level: Scrapy's logging set-up resets the levels of its loggers."""
    if logging.getLevelName(level) == logging.INFO:
        for name in FRAMEWORK_CHATTER:
            chatter = logging.getLogger(name)
            if _warnings_only not in chatter.filters:
                chatter.addFilter(_warnings_only)


def rotating_log(log_dir: str, name: str, formatter: logging.Formatter, level: int | str = logging.INFO
                 ) -> RotatingFileHandler:
    """Attach LOG_DIR/<name>.log (rotating) to the root logger, once per path; returns its handler."""
    path = Path(log_dir).expanduser() / f"{name}.log"
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, RotatingFileHandler) and Path(handler.baseFilename) == path.resolve():
            return handler
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8")
    handler.setFormatter(formatter)
    handler.setLevel(level)
    root.addHandler(handler)
    return handler


class ProgressLog(LogStats):
    """Every LOGSTATS_INTERVAL seconds: pages, items, postings stored, items dropped and errors so far.

    A spider with a `progress_note()` method adds its own part after a semicolon (NAV: the page, details in flight and
    waiting, the rates and ETAs), so long work shows what it is doing even while few postings are stored yet.
    """

    def log(self, spider) -> None:
        self.calculate_stats()
        get = self.stats.get_value
        note = getattr(spider, "progress_note", None)
        logger.info("%s: progress: %d pages (%d/min), %d items (%d/min), %d stored, %d dropped, %d errors, "
                    "%d retries%s", spider.name, self.pages, self.prate, self.items, self.irate,
                    get("munijobs/stored", 0), get("item_dropped_count", 0), get("log_count/ERROR", 0),
                    get("retry/count", 0), f"; {note()}" if callable(note) else "", extra={"spider": spider})


class SourceLogFile:
    """With LOG_DIR set, the crawl's log also goes to LOG_DIR/<source>.log (rotating) for the rest of the process.

    The handler stays until the process exits, so the run summary and health verdict that follow the crawl land in
    the file too; `munijobs crawl` runs one crawl per process.
    """

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        if not settings.get("LOG_DIR"):
            raise NotConfigured
        formatter = logging.Formatter(settings.get("LOG_FORMAT"), settings.get("LOG_DATEFORMAT"))
        rotating_log(settings.get("LOG_DIR"), crawler.spidercls.name, formatter, settings.get("LOG_LEVEL"))
        return cls()
