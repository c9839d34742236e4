"""Scrapy and munijobs settings. Every munijobs setting can also be set by an environment variable of the same name.

Precedence: ``munijobs crawl -s NAME=VALUE`` > environment variable > the default here.
"""

import os
import shlex
import sys

from munijobs import __version__

ENV_SETTINGS: list[str] = []
"""Names of the settings that an environment variable of the same name can set."""


def _env(name: str, default: str) -> str:
    ENV_SETTINGS.append(name)
    return os.environ.get(name) or default


BOT_NAME = "munijobs"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

# -- where data goes
DATABASE_URL = _env("DATABASE_URL", "sqlite:///munijobs.db")
STORE_BATCH_SIZE = int(_env("STORE_BATCH_SIZE", "500"))
"""Postings written per transaction: a crash loses at most the batch in flight."""

# -- sources
NAV_FEED_URL = _env("NAV_FEED_URL", "https://pam-stilling-feed.nav.no")
NAV_API_TOKEN = _env("NAV_API_TOKEN", "")
NAV_FEED_LOOKBACK_DAYS = int(_env("NAV_FEED_LOOKBACK_DAYS", "180"))
NAV_DETAIL_CONCURRENCY = int(_env("NAV_DETAIL_CONCURRENCY", "4"))
"""Detail requests in flight at once."""
NAV_PAGE_SIZE = int(_env("NAV_PAGE_SIZE", "0"))
"""Entries per feed page; 0 means NAV's default (1000)."""
NAV_MAX_PAGES = int(_env("NAV_MAX_PAGES", "0"))
"""Stop after this many feed pages (the next run resumes there); 0 means no limit."""
BRREG_API_URL = _env("BRREG_API_URL", "https://data.brreg.no/enhetsregisteret/api")
EMPLOYER_SCOPE = _env("EMPLOYER_SCOPE", "municipal")

# -- politeness: identify ourselves, obey robots.txt, throttle
MUNIJOBS_CONTACT = _env("MUNIJOBS_CONTACT", "")
"""How the sites we crawl can reach the operator (an e-mail address or URL); goes into the User-Agent."""
USER_AGENT = _env(
    "USER_AGENT",
    f"munijobs/{__version__} (aggregator of Norwegian municipal job ads"
    f"{'; contact: ' + MUNIJOBS_CONTACT if MUNIJOBS_CONTACT else ''})",
)
ROBOTSTXT_OBEY = True
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# The rate kept per site: at most CONCURRENT_REQUESTS_PER_DOMAIN requests in flight (NAV: NAV_DETAIL_CONCURRENCY
# details plus the feed page). AutoThrottle aims at that many in flight, so its delay (latency / target) spaces the
# requests without capping them below the limit on a slow source (with a target of 2 it let 1.5 of 4 details fly);
# it still backs off on errors and 429s (non-200 answers only raise the delay), and the retry middleware honours
# Retry-After.
CONCURRENT_REQUESTS_PER_DOMAIN = max(4, NAV_DETAIL_CONCURRENCY + 1)
CONCURRENT_REQUESTS = max(8, CONCURRENT_REQUESTS_PER_DOMAIN)
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = float(_env("AUTOTHROTTLE_START_DELAY", "1.0"))
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = float(_env("AUTOTHROTTLE_TARGET_CONCURRENCY", str(CONCURRENT_REQUESTS_PER_DOMAIN)))
DOWNLOAD_DELAY = float(_env("DOWNLOAD_DELAY", "0"))

# -- faults: short timeouts, capped responses, retries with backoff that honour Retry-After
DOWNLOAD_TIMEOUT = int(_env("DOWNLOAD_TIMEOUT", "60"))
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = int(_env("RETRY_TIMES", "3"))
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
RETRY_BACKOFF_BASE = float(_env("RETRY_BACKOFF_BASE", "2.0"))
"""Seconds before the first retry; doubled on each further retry (Retry-After wins when the server sends it)."""
RETRY_BACKOFF_MAX = float(_env("RETRY_BACKOFF_MAX", "120"))
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "munijobs.middlewares.BackoffRetryMiddleware": 550,
}

ITEM_PIPELINES = {
    "pipelines.clean.CleanPipeline": 100,
    "pipelines.normalise.NormalisePipeline": 200,
    "pipelines.validate.ValidatePipeline": 300,
    "pipelines.deduplicate.DeduplicatePipeline": 400,
    "pipelines.store.StorePipeline": 500,
}

# -- operations
LOG_LEVEL = _env("LOG_LEVEL", "INFO")
LOGSTATS_INTERVAL = float(_env("LOGSTATS_INTERVAL", "30"))
LOG_DIR = _env("LOG_DIR", "")
ALERT_WEBHOOK_URL = _env("ALERT_WEBHOOK_URL", "")
EXTENSIONS = {
    "scrapy.extensions.logstats.LogStats": None,
    "munijobs.extensions.ProgressLog": 0,
    "munijobs.extensions.SourceLogFile": 0,
}

# -- scheduler (scheduler.py, `munijobs schedule`)
SCHEDULE_FILE = _env("SCHEDULE_FILE", "munijobs.toml")
"""The schedule: one table per source (see munijobs.toml)."""
CRAWL_COMMAND = shlex.split(_env("CRAWL_COMMAND", "")) or [sys.executable, "-m", "munijobs", "crawl"]
"""Command the scheduler runs per crawl, followed by the source name; it must exec the crawl (no forking shell)."""
CRAWL_TIME_LIMIT = float(_env("CRAWL_TIME_LIMIT", "3600"))
"""Seconds a scheduled crawl may run before it is stopped (SIGTERM, then SIGKILL) and its run recorded as failed."""
CRAWL_KILL_GRACE_SECONDS = float(_env("CRAWL_KILL_GRACE_SECONDS", "30"))
"""Seconds between SIGTERM and SIGKILL when a crawl is stopped."""
CRAWL_LOCK_TTL = int(_env("CRAWL_LOCK_TTL", "300"))
"""Seconds a crawl lock lives without renewal; a killed crawl's lock is taken over after this."""
SHUTDOWN_GRACE_SECONDS = float(_env("SHUTDOWN_GRACE_SECONDS", "120"))
"""On SIGTERM/SIGINT the scheduler lets running crawls finish this long before it stops them."""

REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
