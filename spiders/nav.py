"""NAV pam-stilling-feed: the backbone source of munijobs, read incrementally.

The feed is a change log in pages. The spider starts at the stored cursor (or, on the first run, at the first page
changed within NAV_FEED_LOOKBACK_DAYS), follows `next_id` page by page and stores the cursor after each page's
postings are stored, so a later or interrupted run resumes there. Within a page, results are stored as details arrive:
at least every CHECKPOINT_SECONDS the postings so far are written with a checkpoint (crawl state `page_progress`) of
the page's entries that are done, so a run stopped mid-page (the scheduler's SIGTERM at its time limit,
CLOSESPIDER_TIMEOUT, a kill) keeps what it fetched and the next run re-reads that page skipping the done entries. The
cursor never moves past a page before all of it is stored. When the crawl is told to stop, no new detail is started,
details in flight are abandoned (asked again next run) and the last checkpoint is written at once.

Details are fetched only for active ads whose change marker (`sistEndret`) is not stored yet and whose employer may be
in EMPLOYER_SCOPE; inactive entries only close stored postings. Employer scope is resolved through Brønnøysund (see
spiders/_brreg.py).

Settings: NAV_FEED_URL, NAV_API_TOKEN (empty: the public token), NAV_FEED_LOOKBACK_DAYS, BRREG_API_URL,
EMPLOYER_SCOPE; and, with defaults here, NAV_DETAIL_CONCURRENCY (4 detail requests at a time), NAV_PAGE_SIZE
(0: NAV's default of 1000 entries) and NAV_MAX_PAGES (0: no limit; else stop after that many pages, resuming later).
Crawl state (source "nav"): cursor, pending_details, skipped_versions, page_progress.

Wrong shapes lose nothing: only an explicit INACTIVE status or an entry NAV masked closes a stored ad. A missing or
unknown status, a detail without ad_content and the like leave the ad as stored, keep it pending for the next run and
make the run partial; so does a page where most details answer 404 (NAV is broken, the ads are not gone). An ad the
spider cannot map at all goes to the quarantine with its answer. A `next_id` pointing back to a page read this run
fails the run.

Reconciliation (storage/reconcile.py): the feed is a change log, so only what this run read is checked: every ad whose
last entry read yielded a posting is stored active after the run, and every ad it closed is no longer active.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scrapy import Request, signals
from scrapy.http import Response
from twisted.python.failure import Failure

from munijobs.constants import EmployerScope
from munijobs.items import JobPosting, StateCheckpoint
from spiders._base import MunijobsSpider
from spiders._brreg import (
    BY_BRREG,
    BY_KNOWN_EMPLOYER,
    BY_NAME,
    BrregUnavailable,
    EmployerResolver,
    ScopeDecision,
    decide_by_chain,
    decide_by_name,
    in_scope,
    is_orgnr,
    scope_from_company_suffix,
)
from spiders._nav_parse import (
    ACTIVE,
    SOURCE,
    AdDetail,
    FeedEntry,
    FeedPage,
    MalformedResponse,
    closing_event,
    extract_public_token,
    http_date,
    parse_detail,
    parse_feed_page,
    posting_from_detail,
)
from storage.employers import AMBIGUOUS, NameDecision, load_name_decisions, merge_decision, save_name_decisions
from storage.postings import source_versions, stored_expiry
from storage.quarantine import quarantine, raw_json
from storage.reconcile import Expected
from storage.state import get_state

CURSOR = "cursor"
"""Crawl-state key: id of the feed page still to read."""
PENDING_DETAILS = "pending_details"
"""Crawl-state key: uuids of active ads whose details could not be fetched; fetched first on the next run."""
SKIPPED_VERSIONS = "skipped_versions"
"""Crawl-state key: {uuid: sistEndret} of out-of-scope ads on the last page read, which the next run re-reads."""
PAGE_PROGRESS = "page_progress"
"""Crawl-state key: {"page": page id, "done": {uuid: sistEndret or ""}}: entries of the cursor's page whose results are
stored (or need nothing); a run resuming on that page skips them. Empty once the page is done."""
CHECKPOINT_SECONDS = 5.0
"""Longest time finished details of a page wait before they are stored with a checkpoint."""
STOP_POLL_SECONDS = 0.25
"""How often the spider checks whether the crawl is being stopped."""
RATE_WINDOW_SECONDS = 300.0
"""Details answered in this last stretch of time give the rate shown in progress lines."""
STOPPED = "stopped"
"""A detail not fetched because the crawl is stopping; the entry is left for the next run."""
NAME_MAX_LENGTH = 300
GONE = "gone"
"""A detail that answered 404/410."""
GONE_BURST_MIN = 2
"""404/410 answers on one page from which, when they are most of the page's detail answers, NAV is taken as broken
(for the rest of the run: no later 404 closes an ad either)."""


@dataclass(frozen=True, slots=True)
class Gone:
    """An entry whose detail answered 404/410; it closes the stored ad unless most of its page answered so."""

    entry: FeedEntry


class Unauthorized(RuntimeError):
    """The feed rejected a fresh token."""


def _done_key(entry: FeedEntry) -> str:
    """How a done entry is recorded in `page_progress`: its sistEndret (a newer version of the ad is not done)."""
    return entry.modified_at.isoformat() if entry.modified_at is not None else ""


class _PageProgress:
    """Which entries of the page being read are done, for its checkpoint."""

    def __init__(self, page: FeedPage) -> None:
        self.page_id = page.page_id
        self.finished = False
        self.total = 0
        self.done: dict[str, str] = {}
        self.carried: set[str] = set()
        self.previous_skips: dict[str, str] = {}
        self._todo: list[FeedEntry] = []
        self._undone: set[int] = set()

    def start(self, entries: list[FeedEntry], todo: list[FeedEntry], resumed: dict[str, str], carried: set[str],
              previous_skips: dict[str, str]) -> None:
        """`resumed`: entries a stopped run did; `carried`: pending details of the last run."""
        self.total, self._todo = len(entries), todo
        self._undone = set(range(len(todo)))
        self.done = {entry.uuid: resumed[entry.uuid] for entry in entries
                     if entry.uuid in resumed and resumed[entry.uuid] == _done_key(entry)}
        self.carried, self.previous_skips = carried, dict(previous_skips)

    def mark_done(self, index: int) -> None:
        entry = self._todo[index]
        self._undone.discard(index)
        self.done[entry.uuid] = max(self.done.get(entry.uuid, ""), _done_key(entry))

    def undone_uuids(self) -> set[str]:
        return {self._todo[index].uuid for index in self._undone}


class NavSpider(MunijobsSpider):
    """Reads NAV's job-ad feed from the stored cursor to the tip; see the module docstring."""

    name = "nav"

    @classmethod
    def from_crawler(cls, crawler, *args: Any, **kwargs: Any) -> NavSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._checkpoint_stored, signal=signals.item_scraped)
        crawler.signals.connect(spider._checkpoint_lost, signal=signals.item_dropped)
        crawler.signals.connect(spider._checkpoint_lost, signal=signals.item_error)
        return spider

    # -- set-up ------------------------------------------------------------------------------------------------

    def _configure(self) -> None:
        settings = self.settings
        self.feed_url = settings.get("NAV_FEED_URL").rstrip("/")
        self.token: str = settings.get("NAV_API_TOKEN") or ""
        self.lookback = timedelta(days=settings.getint("NAV_FEED_LOOKBACK_DAYS", 180))
        self.scope = settings.get("EMPLOYER_SCOPE", EmployerScope.MUNICIPAL)
        self.page_size = settings.getint("NAV_PAGE_SIZE", 0)
        self.max_pages = settings.getint("NAV_MAX_PAGES", 0)
        self.detail_slots = asyncio.Semaphore(settings.getint("NAV_DETAIL_CONCURRENCY", 4))
        self.resolver = EmployerResolver(settings.get("BRREG_API_URL"), self.fetch_brreg, self.engine)
        self.name_decisions: dict[str, NameDecision] = load_name_decisions(self.engine, SOURCE)
        self.pending: set[str] = set(get_state(self.engine, SOURCE, PENDING_DETAILS, []))
        self.skipped_versions: dict[str, str] = dict(get_state(self.engine, SOURCE, SKIPPED_VERSIONS, {}))
        self.pages_read = 0
        self.pages_seen: set[str] = set()
        self.detail_answers = 0
        self.details_broken = False
        self.failed_details = 0
        self._token_lock = asyncio.Lock()
        self._token_unproven = False
        self._deciding: dict[str, asyncio.Future[None]] = {}
        self._unsaved_decisions: dict[str, NameDecision] = {}
        self._versions: dict[str, datetime | None] = {}
        self._expiry: dict[str, datetime | None] = {}
        self._continuation: tuple[str, Request] | None = None
        self.reconciliation = Expected()
        """The pages' postings and closings, reconciled by the store pipeline at the end of the run."""
        self.resume_progress: dict[str, Any] = get_state(self.engine, SOURCE, PAGE_PROGRESS, None) or {}
        self.stopping = asyncio.Event()
        self._stop_watch: asyncio.Task[None] | None = None
        self.started_at = time.monotonic()
        self.details_in_flight = 0
        self.page_entries = 0
        self.page_waiting = 0
        self.page_done = 0
        self._answer_times: deque[float] = deque()
        self._stored_samples: deque[tuple[float, int]] = deque()
        self._feed_start: datetime | None = None
        self._page_span: tuple[datetime, datetime] | None = None

    async def start(self) -> AsyncIterator[Request]:
        self._configure()
        if self.scope not in set(EmployerScope):
            self.fail(f"unknown EMPLOYER_SCOPE {self.scope!r} (municipal, public or all)")
            return
        if not self.token and not await self._renew_token(""):
            return
        cursor = get_state(self.engine, SOURCE, CURSOR)
        if cursor:
            self.logger.info("nav: resuming at feed page %s", cursor)
        else:
            self.logger.info("nav: first run, reading changes since %s", http_date(self._since()))
        if self.pending:
            self.logger.info("nav: %d details left over from the last run are fetched first", len(self.pending))
        if cursor and self.resume_progress.get("page") == cursor:
            self.logger.info("nav: %d entries of page %s were done by the stopped run; they are skipped",
                             len(self.resume_progress.get("done", {})), cursor)
        self._stop_watch = asyncio.get_running_loop().create_task(self._watch_for_stop())
        yield self._feed_request(cursor)

    async def _watch_for_stop(self) -> None:
        """Set `stopping` once the engine closes the spider (SIGTERM at a time limit, CLOSESPIDER_TIMEOUT, ...)."""
        engine = self.crawler.engine
        while not self.stopping.is_set():
            slot = getattr(engine, "_slot", None)
            if not engine.running or slot is None or slot.closing is not None:
                self.logger.info("nav: the crawl is stopping: no new details; what is done is stored now")
                self.stopping.set()
                return
            await asyncio.sleep(STOP_POLL_SECONDS)

    def _since(self) -> datetime:
        return datetime.now(UTC) - self.lookback

    # -- HTTP helpers ------------------------------------------------------------------------------------------

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def _feed_request(self, page_id: str | None) -> Request:
        url = f"{self.feed_url}/api/v1/feed" + (f"/{page_id}" if page_id else "")
        if self.page_size:
            url += f"?pageSize={self.page_size}"
        headers = self._headers(self.token)
        if not page_id:
            headers["If-Modified-Since"] = http_date(self._since())
        return Request(
            url,
            headers=headers,
            callback=self.parse_feed_page,
            errback=self._feed_unreachable,
            dont_filter=True,
            priority=10,
            meta={"handle_httpstatus_all": True, "page_id": page_id, "token": self.token},
        )

    async def _renew_token(self, rejected: str) -> bool:
        """Fetch the public token after `rejected` got a 401; False (run failed) when a fresh token was refused too."""
        async with self._token_lock:
            if self.token != rejected:
                return True
            if self._token_unproven:
                self.fail(f"NAV feed answered 401 twice, also with a fresh public token ({self.feed_url})")
                return False
            url = f"{self.feed_url}/api/publicToken"
            try:
                response = await self.crawler.engine.download_async(Request(url, dont_filter=True))
            except Exception as exc:
                self.fail(f"NAV public token unreachable: {url}: {exc!r}")
                return False
            token = extract_public_token(response.text) if response.status == 200 else None
            if token is None:
                self.fail(f"no NAV public token at {url} (HTTP {response.status})")
                return False
            if rejected:
                self.logger.warning("nav: token refused (401); using a freshly fetched public token")
            self.token, self._token_unproven = token, bool(rejected)
            return True

    async def _get_nav(self, url: str) -> Response:
        """GET a NAV URL with the token; renews the token once on 401. Raises Unauthorized or download errors."""
        while True:
            token = self.token
            response = await self.crawler.engine.download_async(
                Request(url, headers=self._headers(token), dont_filter=True)
            )
            if response.status != 401:
                if token == self.token:
                    self._token_unproven = False
                return response
            if not await self._renew_token(token):
                raise Unauthorized(url)

    # -- feed pages --------------------------------------------------------------------------------------------

    def _feed_unreachable(self, failure: Failure) -> None:
        self.fail(f"NAV feed unreachable: {failure.request.url}: {failure.getErrorMessage()}")

    async def parse_feed_page(self, response: Response) -> AsyncIterator[Any]:
        """Process one feed page, then store its postings and the cursor; the next page follows once stored."""
        if response.status == 401:
            if await self._renew_token(response.meta["token"]):
                yield self._feed_request(response.meta["page_id"])
            return
        if response.status != 200:
            hint = ""
            if response.status == 404 and response.meta["page_id"]:
                hint = f"; NAV does not know the stored cursor: delete crawl state '{CURSOR}' to start over"
            self.fail(f"NAV feed answered HTTP {response.status} for {response.url}{hint}")
            return
        if response.meta["token"] == self.token:
            self._token_unproven = False
        try:
            page = parse_feed_page(response.body, response.url)
        except MalformedResponse as exc:
            self.fail(f"{exc}; cursor stays at {response.meta['page_id'] or 'the first page'}")
            return
        self.pages_read += 1
        self.pages_seen.add(page.page_id)
        self.crawler.stats.inc_value("nav/pages")
        progress = _PageProgress(page)
        page_postings: list[JobPosting] = []
        try:
            async for item in self._process_page(page, progress):
                if isinstance(item, JobPosting):
                    page_postings.append(item)
                yield item
            await self._save_employer_knowledge()
        except Exception as exc:
            self.logger.exception("nav: processing feed page %s failed", response.url)
            self.fail(f"processing feed page {response.url} failed: {exc!r}; cursor stays at this page")
            for item in self._page_checkpoint(progress):
                yield item
            return
        if not progress.finished:
            self.logger.info("nav: stopped in page %s with %d of %d entries done; the next run goes on there",
                             page.page_id, len(progress.done), progress.total)
            for item in self._page_checkpoint(progress):
                yield item
            return
        self.reconciliation.saw(page_postings)
        self.reconciliation.pending = set(self.pending)
        yield StateCheckpoint(source=SOURCE, key=SKIPPED_VERSIONS, value=self.skipped_versions)
        yield StateCheckpoint(source=SOURCE, key=PENDING_DETAILS, value=sorted(self.pending))
        cursor = page.next_id or page.page_id
        if page.next_id is None:
            self.logger.info("nav: reached the tip of the feed at page %s", page.page_id)
        elif page.next_id in self.pages_seen:
            cursor = page.page_id
            self.fail(f"NAV feed loops: next_id of page {page.page_id} points back to page {page.next_id}, already"
                      f" read this run; stopped with the cursor at {page.page_id}")
        elif self.max_pages and self.pages_read >= self.max_pages:
            self.logger.info(
                "nav: stopping after %d pages (NAV_MAX_PAGES); next run resumes at %s", self.pages_read, cursor
            )
        elif not self.stopping.is_set():
            self._continuation = (cursor, self._feed_request(cursor))
        yield StateCheckpoint(source=SOURCE, key=CURSOR, value=cursor)
        yield StateCheckpoint(source=SOURCE, key=PAGE_PROGRESS, value={})

    def _page_checkpoint(self, progress: _PageProgress) -> list[StateCheckpoint]:
        """The state of a page in progress: what is done, what is left pending; the cursor stays on the page.

        Written after the postings yielded so far, in this order so that a kill between two of them only ever makes
        the next run repeat work: the done entries first, the pending list (which may shrink) last.
        """
        skipped = {**progress.previous_skips, **self.skipped_versions}
        pending = self.pending | (progress.carried & progress.undone_uuids())
        return [
            StateCheckpoint(source=SOURCE, key=PAGE_PROGRESS, value={"page": progress.page_id, "done": progress.done}),
            StateCheckpoint(source=SOURCE, key=SKIPPED_VERSIONS, value=skipped),
            StateCheckpoint(source=SOURCE, key=PENDING_DETAILS, value=sorted(pending)),
            StateCheckpoint(source=SOURCE, key=CURSOR, value=progress.page_id),
        ]

    def _checkpoint_stored(self, item: Any, **_: Any) -> None:
        """Request the next page once the previous page's cursor (and so its postings) is stored."""
        if isinstance(item, StateCheckpoint) and item.key == CURSOR and self._continuation is not None:
            cursor, request = self._continuation
            if item.value == cursor:
                self._continuation = None
                self.crawler.engine.crawl(request)

    def _checkpoint_lost(self, item: Any, **_: Any) -> None:
        if isinstance(item, StateCheckpoint) and item.key == CURSOR:
            self._continuation = None
            self.fail(f"could not store the NAV feed cursor {item.value}")

    async def _process_page(self, page: FeedPage, progress: _PageProgress) -> AsyncIterator[Any]:
        """Yield the page's postings as their details arrive, with a checkpoint every CHECKPOINT_SECONDS.

        `progress.finished` tells at the end whether every entry was handled (False when the crawl is stopping).
        """
        entries = page.entries
        if self.pages_read == 1 and self.pending:
            on_page = {entry.uuid for entry in entries}
            entries = entries + [
                FeedEntry(uuid=uuid, status=ACTIVE, title="", business_name="", municipal="", modified_at=None)
                for uuid in sorted(self.pending - on_page)
            ]
        self.crawler.stats.inc_value("nav/entries", len(page.entries))
        resumed: dict[str, str] = {}
        if self.pages_read == 1 and self.resume_progress.get("page") == page.page_id:
            resumed = dict(self.resume_progress.get("done") or {})
        todo = [entry for entry in entries if resumed.get(entry.uuid) != _done_key(entry)]
        self.crawler.stats.inc_value("nav/entries_done_before", len(entries) - len(todo))
        progress.start(entries, todo, resumed, carried=set(self.pending), previous_skips=self.skipped_versions)
        self._note_page(page, progress)
        ids = [entry.uuid for entry in todo]
        stored_versions = source_versions(self.engine, SOURCE, ids)
        versions = stored_versions | {i: self._versions[i] for i in ids if i in self._versions}
        stored = set(stored_versions) | {i for i in ids if i in self._expiry}
        expiry = stored_expiry(self.engine, SOURCE, stored) | {i: self._expiry[i] for i in stored if i in self._expiry}
        previous_skips = self.skipped_versions
        self.skipped_versions = {uuid: version for uuid, version in previous_skips.items() if uuid in resumed}
        self.detail_answers = 0
        tasks = {
            asyncio.ensure_future(self._guarded_entry(entry, versions, stored, expiry, previous_skips)): index
            for index, entry in enumerate(todo)
        }
        gone: list[FeedEntry] = []
        stopped = False
        last_checkpoint = time.monotonic()
        waiting = set(tasks)
        while waiting:
            finished, waiting = await asyncio.wait(waiting, timeout=CHECKPOINT_SECONDS,
                                                   return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                index, result = tasks[task], task.result()
                entry = todo[index]
                if result is STOPPED:
                    stopped = True
                elif isinstance(result, Gone):
                    gone.append(entry)
                else:
                    if isinstance(result, JobPosting):
                        yield result
                    if entry.uuid not in self.pending:
                        progress.mark_done(index)
                self.page_waiting = len(waiting)
                self.page_done = len(progress.done)
            if time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS and (waiting or stopped):
                await self._save_employer_knowledge()
                for item in self._page_checkpoint(progress):
                    yield item
                last_checkpoint = time.monotonic()
        if stopped or self.stopping.is_set():
            return
        if len(gone) >= GONE_BURST_MIN and len(gone) * 2 > self.detail_answers:
            self.details_broken = True
        if gone and self.details_broken:
            self.pending.update(entry.uuid for entry in gone)
            self.crawler.stats.inc_value("munijobs/details_gone_burst", len(gone))
            self.logger.error("nav: %d of %d details on this page answered 404/410: NAV looks broken; nothing closed,"
                              " they are asked again next run", len(gone), self.detail_answers)
            self.mark_incomplete(f"{len(gone)} details answered 404/410 at once; kept pending", count=len(gone))
        else:
            for entry in gone:
                closing = self._settle_gone(entry, stored, expiry)
                if closing is not None:
                    yield closing
        progress.finished = True

    def _settle_gone(self, entry: FeedEntry, stored: set[str], expiry: dict[str, datetime | None]) -> JobPosting | None:
        """An isolated 404/410: NAV's word that the ad was removed."""
        self._remember_settled(entry)
        if entry.uuid not in stored:
            return None
        self.crawler.stats.inc_value("nav/closed")
        return closing_event(entry.uuid, expiry.get(entry.uuid), entry.modified_at)

    async def _guarded_entry(self, entry: FeedEntry, *args: Any) -> JobPosting | Gone | str | None:
        """One entry; an ad the spider fails on is quarantined, so it never fails its page."""
        try:
            return await self._handle_entry(entry, *args)
        except Exception as exc:
            self.logger.exception("nav: entry %s failed", entry.uuid)
            self._quarantine(entry.uuid, asdict(entry), exc)
            return None

    def _quarantine(self, uuid: str, answer: Any, exc: Exception) -> None:
        quarantine(self.engine, SOURCE, uuid, raw_json(answer), f"{type(exc).__name__}: {exc}",
                   self.crawler.stats.get_value("munijobs/run_id"))
        self.crawler.stats.inc_value("munijobs/quarantined")
        self.mark_incomplete(f"ad {uuid} could not be read ({exc!r}); it is in the quarantine")

    # -- one entry ---------------------------------------------------------------------------------------------

    async def _handle_entry(
        self,
        entry: FeedEntry,
        versions: dict[str, datetime | None],
        stored: set[str],
        expiry: dict[str, datetime | None],
        previous_skips: dict[str, str],
    ) -> JobPosting | Gone | str | None:
        stats = self.crawler.stats
        if entry.closes:
            self.pending.discard(entry.uuid)
            if entry.uuid not in stored:
                return None
            stats.inc_value("nav/closed")
            return closing_event(entry.uuid, expiry.get(entry.uuid), entry.modified_at)
        if not entry.is_active:
            self.pending.add(entry.uuid)
            stats.inc_value("nav/malformed_entries")
            self.mark_incomplete(f"feed entry {entry.uuid} has status {entry.status or 'missing'!r}: kept as stored,"
                                 " asked again next run")
            return None
        known_versions = [versions.get(entry.uuid)]
        if entry.uuid in previous_skips:
            known_versions.append(datetime.fromisoformat(previous_skips[entry.uuid]))
        known_version = max((version for version in known_versions if version is not None), default=None)
        if entry.modified_at is not None and known_version is not None and known_version >= entry.modified_at:
            stats.inc_value("nav/unchanged")
            if entry.uuid not in stored:
                self._remember_settled(entry, known_version)
            return None
        if not await self._may_be_in_scope(entry):
            stats.inc_value("nav/out_of_scope_before_detail")
            return None
        name = self._usable_name(entry.business_name)
        deciding = None
        if name and name not in self.name_decisions and name not in self._deciding and self.scope != EmployerScope.ALL:
            deciding = self._deciding[name] = asyncio.get_running_loop().create_future()
        try:
            return await self._capture(entry, stored, expiry)
        finally:
            if deciding is not None:
                del self._deciding[name]
                deciding.set_result(None)

    def _remember_settled(self, entry: FeedEntry, version: datetime | None = None) -> None:
        """Keep the version of an ad with nothing to store (out of scope, gone) so re-reading it costs no request.

        `version` is the detail's sistEndret, which may be newer than the entry's: older entries then need nothing.
        """
        newest = max((moment for moment in (entry.modified_at, version) if moment is not None), default=None)
        if newest is not None:
            self._versions[entry.uuid] = newest
            self.skipped_versions[entry.uuid] = newest.isoformat()

    @staticmethod
    def _usable_name(name: str) -> str | None:
        name = " ".join(name.split())[:NAME_MAX_LENGTH]
        return name if name and name not in ("?", "...") else None

    def _known_decision(self, name: str | None) -> NameDecision | None:
        decision = self.name_decisions.get(name) if name else None
        return None if decision is None or decision.scope == AMBIGUOUS else decision

    async def _may_be_in_scope(self, entry: FeedEntry) -> bool:
        """False when the feed entry alone shows the employer is out of scope (saves the detail request)."""
        if self.scope == EmployerScope.ALL or entry.modified_at is None:
            return True
        name = self._usable_name(entry.business_name)
        suffix_scope = scope_from_company_suffix(name)
        if suffix_scope is not None:
            return in_scope(self.scope, suffix_scope)
        if name in self._deciding:
            await self._deciding[name]
        known = self._known_decision(name)
        return known is None or in_scope(self.scope, known.scope)

    async def _fetch_detail(self, uuid: str) -> AdDetail | str | None:
        """The ad's detail; GONE on 404/410; None when it could not be fetched (kept pending for the next run);
        STOPPED when the crawl stops before it is answered."""
        url = f"{self.feed_url}/api/v1/feedentry/{uuid}"
        async with self.detail_slots:
            if self.stopping.is_set():
                return STOPPED
            self.crawler.stats.inc_value("nav/details_fetched")
            self.details_in_flight += 1
            download = asyncio.ensure_future(self._get_nav(url))
            stop = asyncio.ensure_future(self.stopping.wait())
            try:
                await asyncio.wait({download, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not download.done():
                    download.cancel()
                    return STOPPED
                response = download.result()
            except Unauthorized:
                return None
            except Exception as exc:
                self.logger.warning("nav: detail %s failed: %r", url, exc)
                return None
            finally:
                stop.cancel()
                self.details_in_flight -= 1
        self.detail_answers += 1
        self._answer_times.append(time.monotonic())
        if response.status in (404, 410):
            return GONE
        if response.status != 200:
            self.logger.warning("nav: detail %s answered HTTP %d", url, response.status)
            return None
        try:
            return parse_detail(response.body, url)
        except MalformedResponse as exc:
            self.logger.warning("nav: %s", exc)
            return None

    async def _capture(
        self, entry: FeedEntry, stored: set[str], expiry: dict[str, datetime | None]
    ) -> JobPosting | Gone | str | None:
        detail = await self._fetch_detail(entry.uuid)
        if detail is STOPPED:
            return STOPPED
        problem = None
        if isinstance(detail, AdDetail):
            problem = detail.problem() or (None if detail.uuid == entry.uuid else f"uuid {detail.uuid!r}")
        if detail is None or problem:
            self.pending.add(entry.uuid)
            self.failed_details += 1
            self.crawler.stats.inc_value("nav/details_failed")
            why = f"answered a malformed detail ({problem})" if problem else "could not be fetched"
            self.mark_incomplete(f"NAV detail {entry.uuid} {why}; kept as stored, fetched again next run")
            return None
        self.pending.discard(entry.uuid)
        if detail == GONE:
            return Gone(entry)
        if detail.closes:
            self._remember_settled(entry, detail.modified_at)
            if entry.uuid not in stored:
                return None
            self.crawler.stats.inc_value("nav/closed")
            return closing_event(entry.uuid, expiry.get(entry.uuid), detail.modified_at or entry.modified_at)
        try:
            return await self._posting(entry, detail)
        except Exception as exc:
            self.logger.exception("nav: ad %s could not be mapped", entry.uuid)
            self._quarantine(entry.uuid, detail.answer, exc)
            return None

    async def _posting(self, entry: FeedEntry, detail: AdDetail) -> JobPosting | None:
        """The posting of an active detail once its employer is found in scope; None when out of scope or undecided."""
        posting = posting_from_detail(detail, entry.modified_at)
        try:
            decision = await self._decide(posting, entry)
        except BrregUnavailable as exc:
            self.pending.add(entry.uuid)
            self.mark_incomplete(f"Brønnøysund could not place {posting.employer_orgnr} ({exc}); ad {entry.uuid} is"
                                 " decided next run")
            return None
        if not in_scope(self.scope, decision.scope):
            self.crawler.stats.inc_value("nav/out_of_scope_after_detail")
            self._remember_settled(entry, posting.source_modified_at)
            return None
        posting.employer_scope_method = decision.method
        if decision.note:
            posting.normalise_notes["employer_scope"] = decision.note
        if decision.top is not None:
            posting.employer_parent_orgnr = decision.top.orgnr
            posting.employer_org_form = decision.top.org_form
        self._versions[posting.source_ad_id] = posting.source_modified_at
        self._expiry[posting.source_ad_id] = posting.expires_at
        return posting

    async def _decide(self, posting: JobPosting, entry: FeedEntry) -> ScopeDecision:
        """Scope of the posting's employer: Brønnøysund by org number, else a known name, else the name itself."""
        name = self._usable_name(entry.business_name)
        orgnr = posting.employer_orgnr
        if is_orgnr(orgnr):
            try:
                chain = await self.resolver.chain(orgnr)
            except BrregUnavailable:
                by_name = self._decide_by_name(posting, name)
                if in_scope(self.scope, by_name.scope):
                    self.logger.warning("nav: Brønnøysund unavailable, %s decided by its name", orgnr)
                    return by_name
                raise
            if chain[0].found:
                decision = decide_by_chain(chain, posting.employer_name or name, posting.sector)
                self._record(name, decision, orgnr)
                return decision
        known = self._known_decision(name)
        if known is not None:
            decision = ScopeDecision(known.scope, BY_KNOWN_EMPLOYER)
        else:
            decision = self._decide_by_name(posting, name)
        if is_orgnr(orgnr) and not in_scope(self.scope, decision.scope) and not await self._unfound_believed():
            raise BrregUnavailable(f"{self.resolver.base_url} answers 404 to everything; check BRREG_API_URL")
        if known is None:
            self._record(name, decision, None)
        return decision

    async def _unfound_believed(self) -> bool:
        """Whether Brønnøysund's "not found" can be believed: only when its root answers (else nothing is cached)."""
        if await self.resolver.register_answers():
            return True
        self.resolver.forget_unfound()
        return False

    @staticmethod
    def _decide_by_name(posting: JobPosting, name: str | None) -> ScopeDecision:
        return decide_by_name(posting.employer_name or name, posting.sector)

    def _record(self, name: str | None, decision: ScopeDecision, orgnr: str | None) -> None:
        if name is None or decision.method not in (BY_BRREG, BY_NAME):
            return
        known = self.name_decisions.get(name)
        if known is not None and (known.scope in (AMBIGUOUS, decision.scope)) and known.method == decision.method:
            return
        merged = merge_decision(known, NameDecision(scope=decision.scope, method=decision.method, orgnr=orgnr))
        self.name_decisions[name] = self._unsaved_decisions[name] = merged

    async def _save_employer_knowledge(self) -> None:
        """Store the Brønnøysund units and name decisions learnt so far (a stopping crawl asks nothing more)."""
        if self.resolver.unfound and self.stopping.is_set():
            self.resolver.forget_unfound()
        elif self.resolver.unfound:
            await self._unfound_believed()
        self.resolver.save()
        save_name_decisions(self.engine, SOURCE, self._unsaved_decisions)
        self._unsaved_decisions = {}

    # -- progress ----------------------------------------------------------------------------------------------

    def _note_page(self, page: FeedPage, progress: _PageProgress) -> None:
        """Remember where in feed time this page lies, for the ETA of progress lines."""
        self.page_entries, self.page_done = progress.total, len(progress.done)
        self.page_waiting = progress.total - len(progress.done)
        moments = [entry.modified_at for entry in page.entries if entry.modified_at is not None]
        self._page_span = (min(moments), max(moments)) if moments else None
        if self._feed_start is None and self._page_span is not None:
            self._feed_start = self._page_span[0]

    def details_per_second(self) -> float | None:
        """Details answered per second over the last RATE_WINDOW_SECONDS (None before the first answer)."""
        now = time.monotonic()
        while self._answer_times and self._answer_times[0] < now - RATE_WINDOW_SECONDS:
            self._answer_times.popleft()
        if not self._answer_times:
            return None
        return len(self._answer_times) / max(min(RATE_WINDOW_SECONDS, now - self.started_at), 1.0)

    def progress_note(self) -> str:
        """NAV's part of the periodic progress line: the page, details in flight and waiting, the rate, ETAs."""
        if not getattr(self, "pages_read", 0):
            return "reading the first feed page"
        parts = [f"page {self.pages_read}: {self.page_done} of {self.page_entries} entries done",
                 f"details {self.details_in_flight} in flight, {max(self.page_waiting - self.details_in_flight, 0)}"
                 " waiting"]
        now, stored = time.monotonic(), self.crawler.stats.get_value("munijobs/stored", 0)
        self._stored_samples.append((now, stored))
        while self._stored_samples[0][0] < now - RATE_WINDOW_SECONDS:
            self._stored_samples.popleft()
        then, before = self._stored_samples[0]
        span = now - then
        if span > 0:
            parts.append(f"{(stored - before) * 60 / span:.1f} stored/min")
        rate = self.details_per_second()
        if rate:
            parts.append(f"{rate * 60:.1f} details/min")
            if self.page_waiting:
                parts.append(f"page done in ~{_duration(self.page_waiting / rate)}")
        eta = self._feed_eta()
        if eta is not None:
            parts.append(f"feed tip in ~{_duration(eta)} (read up to {self._feed_position():%Y-%m-%d %H:%M})")
        return ", ".join(parts)

    def _feed_position(self) -> datetime:
        first, last = self._page_span or (datetime.now(UTC), datetime.now(UTC))
        share = self.page_done / self.page_entries if self.page_entries else 1.0
        return first + (last - first) * share

    def _feed_eta(self) -> float | None:
        """Seconds to the feed's tip at this run's pace through feed time; None until a stretch of it is read."""
        if self._feed_start is None or self._page_span is None:
            return None
        position, start = self._feed_position(), self._feed_start
        covered = (position - start).total_seconds()
        elapsed = time.monotonic() - self.started_at
        if covered <= 0 or elapsed < 1:
            return None
        return elapsed * max((datetime.now(UTC) - position).total_seconds(), 0.0) / covered

    def closed(self, reason: str) -> None:
        """Log what the run left for the next one."""
        if self._stop_watch is not None:
            self._stop_watch.cancel()
        if self.failed_details:
            self.logger.warning(
                "nav: %d NAV details could not be fetched; %d kept in crawl state '%s' for the next run",
                self.failed_details,
                len(self.pending),
                PENDING_DETAILS,
            )
        self.logger.info(
            "nav: finished (%s): %d pages, Brønnøysund requests %d", reason, self.pages_read, self.resolver.requests
        )


def _duration(seconds: float) -> str:
    """A rough duration for humans: 45 s, 12 min, 3.5 h, 2.1 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
