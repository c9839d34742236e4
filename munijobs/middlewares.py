"""Downloader middlewares of munijobs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxtMiddleware
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import sleep
from scrapy.utils.misc import load_object
from scrapy.utils.response import response_status_message

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)


def parse_retry_after(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay in seconds or an HTTP-date); None when absent or invalid."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


class BackoffRetryMiddleware:
    """Scrapy's RetryMiddleware with a pause before each retry, so a struggling server gets air.

    The pause doubles from RETRY_BACKOFF_BASE on each retry of a request, capped at RETRY_BACKOFF_MAX; a Retry-After
    header (seconds or HTTP-date) replaces it. When Retry-After asks for more than RETRY_BACKOFF_MAX the request is
    given up rather than holding the crawl. Pauses are non-blocking sleeps: other requests go on meanwhile.
    Same settings and meta keys as RetryMiddleware (RETRY_TIMES, RETRY_HTTP_CODES, RETRY_EXCEPTIONS, dont_retry,
    max_retry_times).
    """

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("RETRY_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.retry_http_codes = {int(code) for code in settings.getlist("RETRY_HTTP_CODES")}
        self.retry_exceptions = tuple(
            load_object(path) if isinstance(path, str) else path for path in settings.getlist("RETRY_EXCEPTIONS")
        )
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 2.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 120.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        return cls(crawler)

    def backoff(self, retry_number: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry number `retry_number` (1-based); None when Retry-After is beyond the cap."""
        if retry_after is not None:
            return retry_after if retry_after <= self.backoff_max else None
        return min(self.backoff_max, self.backoff_base * 2 ** (retry_number - 1))

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return await self._retry(request, response_status_message(response.status), retry_after) or response

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if request.meta.get("dont_retry", False) or not isinstance(exception, self.retry_exceptions):
            return None
        return await self._retry(request, exception, None)

    async def _retry(self, request: Request, reason: str | Exception, retry_after: float | None) -> Request | None:
        retry_number = request.meta.get("retry_times", 0) + 1
        delay = self.backoff(retry_number, retry_after)
        if delay is None:
            logger.warning("Not retrying %s: Retry-After %.0f s exceeds RETRY_BACKOFF_MAX", request, retry_after)
            self.crawler.stats.inc_value("retry/retry_after_too_long")
            return None
        retry_request = get_retry_request(request, spider=self.crawler.spider, reason=reason)
        if retry_request is None:
            return None
        logger.info("Retrying %s in %.1f s (retry %d): %s", request, delay, retry_number, reason)
        self.crawler.stats.inc_value("retry/backoff_seconds", delay)
        await sleep(delay)
        return retry_request


class OneLineErrors(logging.Filter):
    """Drops the traceback of error records unless LOG_LEVEL is DEBUG: the message alone says what failed."""

    def __init__(self, log_level: str | int) -> None:
        super().__init__()
        self.debug = logging.getLevelName(log_level) == logging.DEBUG or log_level == logging.DEBUG

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.debug:
            record.exc_info, record.exc_text = None, None
        return True


class RobotsTxtMiddleware(ScrapyRobotsTxtMiddleware):
    """Scrapy's robots.txt middleware (robots.txt obeyed), whose "Error downloading" for an unreachable site is one
    line instead of a 70-line traceback at the default log level (LOG_LEVEL=DEBUG keeps it)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        robots_logger = logging.getLogger(ScrapyRobotsTxtMiddleware.__module__)
        for old in [f for f in robots_logger.filters if isinstance(f, OneLineErrors)]:
            robots_logger.removeFilter(old)
        robots_logger.addFilter(OneLineErrors(crawler.settings.get("LOG_LEVEL")))
