"""Progress lines and per-source log files (munijobs/extensions.py), and the scheduler's own log file."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler

import pytest
from scrapy import Spider
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from munijobs.extensions import ProgressLog, SourceLogFile


class NavSpider(Spider):
    name = "nav"


@pytest.fixture
def root_handlers():
    """Remove the handlers a test adds to the root logger."""
    before = list(logging.getLogger().handlers)
    yield
    for handler in set(logging.getLogger().handlers) - set(before):
        logging.getLogger().removeHandler(handler)
        handler.close()


def test_progress_line_counts_pages_items_and_errors(caplog):
    crawler = get_crawler(NavSpider, {"LOGSTATS_INTERVAL": 30})
    extension = ProgressLog.from_crawler(crawler)
    extension.pagesprev = extension.itemsprev = 0
    for key, value in {"response_received_count": 12, "item_scraped_count": 40, "munijobs/stored": 38,
                       "item_dropped_count": 2, "log_count/ERROR": 1, "retry/count": 3}.items():
        crawler.stats.set_value(key, value)
    with caplog.at_level(logging.INFO, logger="munijobs.extensions"):
        extension.log(NavSpider())
    assert caplog.messages == ["nav: progress: 12 pages (24/min), 40 items (80/min), 38 stored, 2 dropped, 1 errors, "
                               "3 retries"]


def test_source_log_file(tmp_path, root_handlers):
    with pytest.raises(NotConfigured):
        SourceLogFile.from_crawler(get_crawler(NavSpider, {"LOG_DIR": ""}))
    crawler = get_crawler(NavSpider, {"LOG_DIR": str(tmp_path / "logs")})
    SourceLogFile.from_crawler(crawler)
    SourceLogFile.from_crawler(crawler)
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, RotatingFileHandler)]
    assert [h.baseFilename for h in handlers] == [str(tmp_path / "logs" / "nav.log")], "one handler per file"
    logging.getLogger("spiders.nav").warning("feed answered 503")
    assert "feed answered 503" in (tmp_path / "logs" / "nav.log").read_text()
