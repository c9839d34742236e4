"""BackoffRetryMiddleware: exponential backoff, Retry-After, non-blocking pauses."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from scrapy import Request
from scrapy.http import Response
from scrapy.utils.test import get_crawler
from twisted.internet.error import ConnectionRefusedError

from munijobs.middlewares import BackoffRetryMiddleware, parse_retry_after


def middleware(**settings) -> BackoffRetryMiddleware:
    crawler = get_crawler(
        settings_dict={"RETRY_TIMES": 3, "RETRY_BACKOFF_BASE": 0.1, "RETRY_BACKOFF_MAX": 1.0, **settings}
    )
    crawler.spider = crawler._create_spider("test")
    crawler.stats.open_spider()
    return BackoffRetryMiddleware.from_crawler(crawler)


def test_retry_after_in_seconds_and_as_http_date():
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after(b"5") == 5.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after(b"soon") is None and parse_retry_after(None) is None


def test_backoff_doubles_up_to_the_cap_and_retry_after_wins():
    mw = middleware()
    assert [mw.backoff(n) for n in (1, 2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
    assert mw.backoff(1, retry_after=0.7) == 0.7
    assert mw.backoff(1, retry_after=5) is None  # more than RETRY_BACKOFF_MAX: give up instead of stalling


def test_a_429_is_retried_after_retry_after_without_blocking_the_loop():
    mw = middleware()
    request = Request("https://feed.example/api/v1/feed")
    response = Response(request.url, status=429, headers={"Retry-After": "0"}, request=request)

    async def retry_while_ticking():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        mw.backoff_base = 0.3
        result = await mw.process_response(request, Response(request.url, status=503, request=request))
        elapsed = time.monotonic() - started
        task.cancel()
        return result, elapsed, ticks

    result, elapsed, ticks = asyncio.run(retry_while_ticking())
    assert isinstance(result, Request) and result.meta["retry_times"] == 1
    assert elapsed >= 0.29 and ticks >= 10  # the loop kept running while the retry waited

    retried = asyncio.run(mw.process_response(request, response))
    assert isinstance(retried, Request)


@pytest.mark.parametrize("status", [200, 404])
def test_other_statuses_pass_through(status):
    request = Request("https://feed.example/x")
    response = Response(request.url, status=status, request=request)
    assert asyncio.run(middleware().process_response(request, response)) is response


def test_gives_up_after_retry_times_and_on_dont_retry():
    mw = middleware(RETRY_BACKOFF_BASE=0.0)
    request = Request("https://feed.example/x", meta={"retry_times": 3})
    response = Response(request.url, status=500, request=request)
    assert asyncio.run(mw.process_response(request, response)) is response
    quiet = Request("https://feed.example/x", meta={"dont_retry": True})
    assert asyncio.run(mw.process_response(quiet, Response(quiet.url, status=500, request=quiet))).status == 500


def test_network_errors_are_retried_with_backoff():
    mw = middleware(RETRY_BACKOFF_BASE=0.0)
    request = Request("https://feed.example/x")
    retried = asyncio.run(mw.process_exception(request, ConnectionRefusedError()))
    assert isinstance(retried, Request) and retried.dont_filter
    assert asyncio.run(mw.process_exception(request, ValueError("not a network error"))) is None
