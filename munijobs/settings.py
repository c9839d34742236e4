"""Scrapy and munijobs settings. Every munijobs setting can also be set by an environment variable of the same name.

Precedence: ``munijobs crawl -s NAME=VALUE`` > environment variable > the default here.

Each munijobs setting is registered in KNOWN by one line that also says how its value is checked, e.g.
``JOBBNORGE_API_URL = _url("JOBBNORGE_API_URL", "https://publicapi.jobbnorge.no")`` or
``JOBBNORGE_PAGE_SIZE = _int("JOBBNORGE_PAGE_SIZE", 100, 1, 1000)`` (``_env`` for free text); `munijobs` refuses
unknown names and bad values (one line, exit 2) before anything runs.
"""

import os
import shlex
import sys
from dataclasses import dataclass

from munijobs import __version__


@dataclass(frozen=True)
class Known:
    """A munijobs setting: how a value given as text (environment variable, `-s NAME=VALUE`) is checked and read.

    kind: "text", "int", "float", "url" (http or https; empty allowed when `optional`), "choice" (of `choices`) or
    "command" (split like a shell would; empty means `python -m munijobs crawl`).
    """

    name: str
    default: str
    kind: str = "text"
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False


KNOWN: dict[str, Known] = {}
"""Every munijobs setting, by name: one `_env`/`_int`/`_url`/... line below registers a setting."""
ENV_SETTINGS: list[str] = []
"""Names of the settings that an environment variable of the same name can set."""


class SettingError(ValueError):
    """A setting value (or name) that cannot be used; the message is one line naming it."""


class UnknownSetting(SettingError):
    """A setting name neither munijobs nor Scrapy knows (a spider may still declare it in `known_settings`)."""


def convert(known: Known, value: object):
    """The value of a setting from its text, checked by its kind and range; raises SettingError."""
    from urllib.parse import urlsplit

    text = str(value).strip()
    if known.kind in ("int", "float"):
        try:
            number = int(text) if known.kind == "int" else float(text)
        except ValueError:
            raise SettingError(f"{known.name}={text!r} is not {'a whole number' if known.kind == 'int' else 'a number'}"
                               ) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise SettingError(f"{known.name}={text!r} is not a finite number")
        low, high = known.minimum, known.maximum
        if (low is not None and number < low) or (high is not None and number > high):
            limits = f"{low:g} to {high:g}" if low is not None and high is not None else (
                f"at least {low:g}" if low is not None else f"at most {high:g}")
            raise SettingError(f"{known.name}={text} is out of range: use {limits}")
        return number
    if known.kind == "url":
        if not text and known.optional:
            return ""
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingError(f"{known.name}={text!r} is not an http:// or https:// URL")
        return text
    if known.kind == "command":
        try:
            return shlex.split(text) or [sys.executable, "-m", "munijobs", "crawl"]
        except ValueError as exc:
            raise SettingError(f"{known.name}={text!r} is not a command line: {exc}") from None
    if known.kind == "choice":
        for choice in known.choices:
            if text.casefold() == choice.casefold():
                return choice
        raise SettingError(f"{known.name}={text!r}: use one of {', '.join(known.choices)}")
    return value


def check_setting(name: str, value: str):
    """A `-s NAME=VALUE` checked before anything runs: the converted value, or SettingError for an unknown name
    (with the closest known one suggested) or a bad value. Scrapy's own settings are known too (type-checked)."""
    import difflib

    from scrapy.settings import default_settings

    if name in KNOWN:
        return convert(KNOWN[name], value)
    defaults = {key: getattr(default_settings, key) for key in dir(default_settings) if key.isupper()}
    defaults.update({key: val for key, val in globals().items() if key.isupper() and key not in ("KNOWN",
                                                                                                 "ENV_SETTINGS")})
    if name not in defaults:
        close = difflib.get_close_matches(name.upper(), [*KNOWN, *defaults], n=1, cutoff=0.6)
        raise UnknownSetting(f"unknown setting {name!r}" + (f": did you mean {close[0]}?" if close else
                                                          ": see munijobs/settings.py for the settings"))
    default = defaults[name]
    if isinstance(default, bool):
        if str(value).strip().lower() not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
            raise SettingError(f"{name}={value!r} is not true or false (1/0)")
    elif isinstance(default, int | float):
        convert(Known(name, str(default), "int" if isinstance(default, int) else "float"), value)
    return value


def _register(known: Known):
    """Register a setting and return its value: the environment's when it is valid, else the default.

    An invalid environment value is reported by `munijobs` (one line, exit 2) before anything runs.
    """
    KNOWN[known.name] = known
    ENV_SETTINGS.append(known.name)
    try:
        return convert(known, os.environ.get(known.name) or known.default)
    except SettingError:
        return convert(known, known.default)


def _env(name: str, default: str, **options) -> str:
    return _register(Known(name, default, **options))


def _int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    return _register(Known(name, str(default), "int", minimum, maximum))


def _float(name: str, default: float, minimum: float | None = None, maximum: float | None = None) -> float:
    return _register(Known(name, str(default), "float", minimum, maximum))


def _url(name: str, default: str, optional: bool = False) -> str:
    return _register(Known(name, default, "url", optional=optional))


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    return _register(Known(name, default, "choice", choices=choices))


BOT_NAME = "munijobs"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

# -- where data goes
DATABASE_URL = _env("DATABASE_URL", "sqlite:///munijobs.db")
STORE_BATCH_SIZE = _int("STORE_BATCH_SIZE", 500, 1, 100_000)
"""Postings written per transaction: a crash loses at most the batch in flight."""

# -- sources
NAV_FEED_URL = _url("NAV_FEED_URL", "https://pam-stilling-feed.nav.no")
NAV_API_TOKEN = _env("NAV_API_TOKEN", "")
NAV_FEED_LOOKBACK_DAYS = _int("NAV_FEED_LOOKBACK_DAYS", 180, 1)
NAV_DETAIL_CONCURRENCY = _int("NAV_DETAIL_CONCURRENCY", 4, 1, 256)
"""Detail requests in flight at once."""
NAV_PAGE_SIZE = _int("NAV_PAGE_SIZE", 0, 0, 10_000)
"""Entries per feed page; 0 means NAV's default (1000)."""
NAV_MAX_PAGES = _int("NAV_MAX_PAGES", 0, 0)
"""Stop after this many feed pages (the next run resumes there); 0 means no limit."""
JOBBNORGE_API_URL = _url("JOBBNORGE_API_URL", "https://publicapi.jobbnorge.no")
"""Jobbnorge's public API: the list is {JOBBNORGE_API_URL}/v3/jobs?language=1."""
JOBBNORGE_DETAIL_URL = _url("JOBBNORGE_DETAIL_URL", "https://id.jobbnorge.no")
"""Jobbnorge's posting texts: {JOBBNORGE_DETAIL_URL}/api/joblisting?jobId=ID&languageId=1."""
JOBBNORGE_REFRESH_DAYS = _float("JOBBNORGE_REFRESH_DAYS", 7.0, 0.0)
"""Days after which an unchanged posting's text is fetched again (stretched by up to 99 % per posting)."""
JOBBNORGE_DETAIL_CONCURRENCY = _int("JOBBNORGE_DETAIL_CONCURRENCY", 2, 1, 2)
"""Jobbnorge detail requests in flight at once (at most 2 by the politeness rule)."""
BRREG_API_URL = _url("BRREG_API_URL", "https://data.brreg.no/enhetsregisteret/api")
EMPLOYER_SCOPE = _choice("EMPLOYER_SCOPE", "municipal", ("municipal", "public", "all"))

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
REMOTE_CONTROL_ENABLED = False
"""Scrapy's remote-control server executes the code it is sent: off, like Telnet, unless asked for with -s."""
# The rate kept per site: at most CONCURRENT_REQUESTS_PER_DOMAIN requests in flight (NAV: NAV_DETAIL_CONCURRENCY
# details plus the feed page). AutoThrottle aims at that many in flight, so its delay (latency / target) spaces the
# requests without capping them below the limit on a slow source (with a target of 2 it let 1.5 of 4 details fly);
# it still backs off on errors and 429s (non-200 answers only raise the delay), and the retry middleware honours
# Retry-After.
CONCURRENT_REQUESTS_PER_DOMAIN = max(4, NAV_DETAIL_CONCURRENCY + 1)
CONCURRENT_REQUESTS = max(8, CONCURRENT_REQUESTS_PER_DOMAIN)
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = _float("AUTOTHROTTLE_START_DELAY", 1.0, 0, 600)
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = _float("AUTOTHROTTLE_TARGET_CONCURRENCY", float(CONCURRENT_REQUESTS_PER_DOMAIN),
                                         0.1, 64)
DOWNLOAD_DELAY = _float("DOWNLOAD_DELAY", 0, 0, 600)

# -- faults: short timeouts, capped responses, retries with backoff that honour Retry-After
DOWNLOAD_TIMEOUT = _float("DOWNLOAD_TIMEOUT", 60, 0.01)
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = _int("RETRY_TIMES", 3, 0, 100)
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
RETRY_BACKOFF_BASE = _float("RETRY_BACKOFF_BASE", 2.0, 0, 3600)
"""Seconds before the first retry; doubled on each further retry (Retry-After wins when the server sends it)."""
RETRY_BACKOFF_MAX = _float("RETRY_BACKOFF_MAX", 120, 0, 86400)
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "munijobs.middlewares.BackoffRetryMiddleware": 550,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "munijobs.middlewares.RobotsTxtMiddleware": 100,
}

ITEM_PIPELINES = {
    "pipelines.clean.CleanPipeline": 100,
    "pipelines.normalise.NormalisePipeline": 200,
    "pipelines.validate.ValidatePipeline": 300,
    "pipelines.deduplicate.DeduplicatePipeline": 400,
    "pipelines.store.StorePipeline": 500,
}

# -- operations
LOG_LEVEL = _choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOGSTATS_INTERVAL = _float("LOGSTATS_INTERVAL", 30, 0.01, 86400)
LOG_DIR = _env("LOG_DIR", "")
ALERT_WEBHOOK_URL = _url("ALERT_WEBHOOK_URL", "", optional=True)
EXTENSIONS = {
    "scrapy.extensions.logstats.LogStats": None,
    "munijobs.extensions.ProgressLog": 0,
    "munijobs.extensions.SourceLogFile": 0,
}

# -- scheduler (scheduler.py, `munijobs schedule`)
SCHEDULE_FILE = _env("SCHEDULE_FILE", "munijobs.toml")
"""The schedule: one table per source (see munijobs.toml)."""
CRAWL_COMMAND = _env("CRAWL_COMMAND", "", kind="command")
"""Command the scheduler runs per crawl, followed by the source name; it must exec the crawl (no forking shell)."""
CRAWL_TIME_LIMIT = _float("CRAWL_TIME_LIMIT", 3600, 0.01)
"""Seconds a scheduled crawl may run before it is stopped (SIGTERM, then SIGKILL) and its run recorded as failed."""
CRAWL_KILL_GRACE_SECONDS = _float("CRAWL_KILL_GRACE_SECONDS", 30, 0, 3600)
"""Seconds between SIGTERM and SIGKILL when a crawl is stopped."""
CRAWL_LOCK_TTL = _int("CRAWL_LOCK_TTL", 300, 1, 86400)
"""Seconds a crawl lock lives without renewal. A killed crawl frees its lock at once (advisory or file lock); only a
lease of a holder on another host sharing a SQLite file must expire first."""
SHUTDOWN_GRACE_SECONDS = _float("SHUTDOWN_GRACE_SECONDS", 120, 0, 86400)
"""On SIGTERM/SIGINT the scheduler lets running crawls finish this long before it stops them."""

REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
