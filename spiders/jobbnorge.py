"""Jobbnorge's public JSON API: every open posting in one list, a detail per posting only when needed.

Requests per run: one list request (`{JOBBNORGE_API_URL}/v3/jobs?language=1`); a detail request
(`{JOBBNORGE_DETAIL_URL}/api/joblisting?jobId={id}&languageId=1`) only for an in-scope posting that is new, whose
list record changed since it was stored (a fingerprint of each record is kept in crawl state), or whose stored text
is older than its refresh age: JOBBNORGE_REFRESH_DAYS (default 7) stretched by 0-99 % per posting id, so that the
postings stored on one day are refreshed spread over the following week rather than in one run. Brønnøysund is asked
once per new employer string (see below). With 2,000 open postings of which 5 % changed since the last run that
is 1 list request and about 100 detail requests (bench/jobbnorge_ingest.py prints the measured figures).

Scope: Jobbnorge gives no org number, so the employer string decides (spiders/_brreg.py: "X kommune", "X herad",
"X fylkeskommune (FFK)", Sami and bilingual names, merged-away names, IKS/KF/FKF, company forms), together with a
Brønnøysund name search (`{BRREG_API_URL}/enheter?navn=...`) for the organisation the string names; the org number
and chain found are stored (employer_orgnr, employer_parent_orgnr, employer_org_form), and the decision is cached
per employer string like NAV's. With regardDepartmentAsEmployer the employer shown is "Department, Employer"; the
department belongs to the employer string's organisation. When Brønnøysund is down, a name that says municipal is
still decided by the name (its org number is filled in when the posting's text is next fetched); any other posting of
an employer not decided before waits for the next run (the run is partial).

Completeness rule (closing): a posting missing from a complete list is closed, `expired` when its deadline has
passed, else `withdrawn`. A list is complete when it parsed, its number of jobs matches meta.jobCountTotal within
1 % (or 2 jobs), and it holds at least half as many jobs as the last complete list (crawl state
`last_complete_count`). An answer without jobCountTotal (older API versions answer a bare array; whether v3 always
sends it is not documented) is judged by the half rule alone. A list that failed, was truncated or is suspicious
closes nothing and fails the run (the `failing` health alert opens after three such runs); the postings it does list
are still stored. If the list really halved, delete crawl state `last_complete_count` to accept it. A run's
`items_seen` counts every in-scope posting the list showed, unchanged ones included, so the health rules on item
counts (`few_items`, `no_items`) judge the list, not the day's changes.
A detail answering 404 or `isPublished: false` for a listed posting is logged and asked again next run; it never
closes a posting by itself.

Reconciliation (storage/reconcile.py): after a complete list, every listed in-scope posting must be stored active
(or expired, its deadline passed) unless it was left pending for the next run (detail 404/410, `isPublished: false`,
a failed or malformed detail, an employer Brønnøysund could not place), and no posting missing from the list may
still be stored active; the store pipeline checks it when the run ends. A listed posting whose crawl state says it
was stored but that is not in the database (quarantined by the store, deleted) has its detail fetched again.

Settings: JOBBNORGE_API_URL, JOBBNORGE_DETAIL_URL, JOBBNORGE_REFRESH_DAYS, JOBBNORGE_DETAIL_CONCURRENCY (2),
BRREG_API_URL, EMPLOYER_SCOPE. Crawl state (source "jobbnorge"): `listed` ({id: {"fp", "at", "out"}}: fingerprint,
when the text was stored, out of scope) and `last_complete_count`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from munijobs.constants import EmployerScope
from munijobs.items import JobPosting, StateCheckpoint
from spiders._base import MunijobsSpider
from spiders._brreg import (
    BY_NAME,
    MUNICIPAL,
    BrregUnavailable,
    EmployerResolver,
    ScopeDecision,
    decide_by_chain,
    decide_by_name,
    in_scope,
    is_municipal_name,
    organisation_part,
    scope_from_company_suffix,
    search_unit_by_name,
)
from spiders._jobbnorge_parse import (
    SOURCE,
    JobDetail,
    JobList,
    ListedJob,
    MalformedResponse,
    closing_event,
    incompleteness,
    parse_detail,
    parse_job_list,
    posting_from_listing,
    refresh_due,
)
from storage.employers import (
    AMBIGUOUS,
    MAX_CHAIN,
    EmployerUnit,
    NameDecision,
    load_name_decisions,
    merge_decision,
    save_name_decisions,
    save_units,
)
from storage.postings import open_postings
from storage.reconcile import Expected, stored_statuses
from storage.state import get_state

LISTED = "listed"
"""Crawl-state key: {job id: {"fp": list-record fingerprint, "at": when its text was stored, "out": the
EMPLOYER_SCOPE under which it was out of scope}}."""
LAST_COMPLETE_COUNT = "last_complete_count"
"""Crawl-state key: number of jobs in the last complete list."""
NAME_MAX_LENGTH = 300
_BRACKETS = re.compile(r"\([^)]*\)")


@dataclass(frozen=True, slots=True)
class Employer:
    """The scope decision for a posting's employer string, with the units found in Brønnøysund (may be empty)."""

    decision: ScopeDecision
    chain: tuple[EmployerUnit, ...] = ()


class JobbnorgeSpider(MunijobsSpider):
    """Reads Jobbnorge's list of open postings and the details it needs; see the module docstring."""

    name = "jobbnorge"

    def _configure(self) -> None:
        settings = self.settings
        self.api_url = settings.get("JOBBNORGE_API_URL").rstrip("/")
        self.detail_url = settings.get("JOBBNORGE_DETAIL_URL").rstrip("/")
        self.refresh_age = timedelta(days=settings.getfloat("JOBBNORGE_REFRESH_DAYS", 7))
        self.scope = settings.get("EMPLOYER_SCOPE", EmployerScope.MUNICIPAL)
        self.detail_slots = asyncio.Semaphore(settings.getint("JOBBNORGE_DETAIL_CONCURRENCY", 2))
        self.brreg_url = settings.get("BRREG_API_URL")
        self.resolver = EmployerResolver(self.brreg_url, self.fetch_brreg, self.engine)
        self.name_decisions: dict[str, NameDecision] = load_name_decisions(self.engine, SOURCE)
        self._unsaved_decisions: dict[str, NameDecision] = {}
        self._found_units: list[EmployerUnit] = []
        self._employers: dict[str, asyncio.Future[Employer]] = {}
        self.now = datetime.now(UTC)
        self.expected = Expected()
        self._stored: set[str] = set()
        self.reconciliation: Expected | None = None
        """Set once the list is complete: what the store pipeline reconciles at the end of the run."""

    async def start(self) -> AsyncIterator[Request]:
        self._configure()
        if self.scope not in set(EmployerScope):
            self.fail(f"unknown EMPLOYER_SCOPE {self.scope!r} (municipal, public or all)")
            return
        yield Request(
            f"{self.api_url}/v3/jobs?language=1",
            headers={"Accept": "application/json"},
            callback=self.parse_list,
            errback=self._list_unreachable,
            dont_filter=True,
            meta={"handle_httpstatus_all": True},
        )

    # -- HTTP helpers ------------------------------------------------------------------------------------------

    async def _get(self, url: str) -> Response:
        return await self.crawler.engine.download_async(
            Request(url, headers={"Accept": "application/json"}, dont_filter=True)
        )

    def _list_unreachable(self, failure: Failure) -> None:
        self.fail(f"Jobbnorge list unreachable: {failure.request.url}: {failure.getErrorMessage()}; nothing closed")

    # -- the list ----------------------------------------------------------------------------------------------

    async def parse_list(self, response: Response) -> AsyncIterator[Any]:
        """Decide, fetch and map what the list needs; close what a complete list no longer has; keep the state."""
        if response.status != 200:
            self.fail(f"Jobbnorge list answered HTTP {response.status} for {response.url}; nothing closed")
            return
        try:
            job_list = parse_job_list(response.body, response.url)
        except MalformedResponse as exc:
            self.fail(f"{exc}; nothing closed")
            return
        stats = self.crawler.stats
        stats.set_value("jobbnorge/list_jobs", len(job_list.jobs))
        listed: dict[str, dict[str, Any]] = dict(get_state(self.engine, SOURCE, LISTED, {}))
        last_count = get_state(self.engine, SOURCE, LAST_COMPLETE_COUNT)
        problem = incompleteness(job_list, last_count)
        self._stored = set(stored_statuses(self.engine, SOURCE, (job.id for job in job_list.jobs)))
        try:
            results = await asyncio.gather(*(self._handle(job, listed) for job in job_list.jobs))
            self._save_employer_knowledge()
        except Exception as exc:
            self.logger.exception("jobbnorge: processing the list failed")
            self.fail(f"processing the list failed: {exc!r}; nothing closed")
            return
        for item in results:
            if item is not None:
                yield item
        if problem is None:
            for event in self._closings(job_list, listed):
                self.expected.closed.add(event.source_ad_id)
                yield event
            self.expected.snapshot = frozenset(job.id for job in job_list.jobs)
            self.reconciliation = self.expected
            listed = {job.id: listed[job.id] for job in job_list.jobs if job.id in listed}
            yield StateCheckpoint(source=SOURCE, key=LAST_COMPLETE_COUNT, value=len(job_list.jobs))
        else:
            self.fail(f"incomplete list: {problem}; nothing closed")
        yield StateCheckpoint(source=SOURCE, key=LISTED, value=listed)

    def _closings(self, job_list: JobList, listed: dict[str, dict[str, Any]]) -> list[JobPosting]:
        on_list = {job.id for job in job_list.jobs}
        events = [closing_event(job_id, expires_at, self.now)
                  for job_id, expires_at in sorted(open_postings(self.engine, SOURCE).items()) if job_id not in on_list]
        self.crawler.stats.inc_value("jobbnorge/closed", len(events))
        return events

    def _needs_detail(self, job: ListedJob, known: dict[str, Any] | None) -> bool:
        if known is None or known.get("out") or known.get("fp") != job.fingerprint or not known.get("at"):
            return True
        if job.id not in self._stored:  # yielded before but not in the database (quarantined, deleted): again
            return True
        return refresh_due(job.id, datetime.fromisoformat(known["at"]), self.now, self.refresh_age)

    async def _handle(self, job: ListedJob, listed: dict[str, dict[str, Any]]) -> JobPosting | None:
        stats = self.crawler.stats
        known = listed.get(job.id)
        if known is not None and known.get("out") == self.scope and known.get("fp") == job.fingerprint:
            stats.inc_value("jobbnorge/out_of_scope_unchanged")
            self.expected.out_of_scope += 1
            return None
        try:
            employer = await self._employer(job.employer)
        except BrregUnavailable as exc:
            self.mark_incomplete(f"Brønnøysund could not place {job.employer!r} ({exc}); posting {job.id} waits")
            self.expected.pending.add(job.id)
            return None
        if not in_scope(self.scope, employer.decision.scope):
            stats.inc_value("jobbnorge/out_of_scope")
            self.expected.out_of_scope += 1
            listed[job.id] = {"fp": job.fingerprint, "out": self.scope}
            return None
        if not self._needs_detail(job, known):
            stats.inc_value("jobbnorge/unchanged")
            stats.inc_value("munijobs/items_seen")  # shown by the source, so seen, though nothing is yielded
            self.expected.open.add(job.id)
            return None
        detail = await self._fetch_detail(job.id)
        if detail is None:
            self.expected.pending.add(job.id)
            return None
        posting = posting_from_listing(job, detail)
        self._apply_employer(posting, employer)
        listed[job.id] = {"fp": job.fingerprint, "at": self.now.isoformat()}
        self.expected.open.add(job.id)
        return posting

    # -- details -----------------------------------------------------------------------------------------------

    async def _fetch_detail(self, job_id: str) -> JobDetail | None:
        """The posting's detail; None (logged, asked again next run) when it failed, is gone or is unpublished."""
        url = f"{self.detail_url}/api/joblisting?jobId={job_id}&languageId=1"
        stats = self.crawler.stats
        async with self.detail_slots:
            stats.inc_value("jobbnorge/details_fetched")
            try:
                response = await self._get(url)
            except Exception as exc:
                self.mark_incomplete(f"detail {url} failed: {exc!r}; asked again next run")
                return None
        if response.status in (404, 410):
            stats.inc_value("jobbnorge/details_missing")
            self.logger.warning("jobbnorge: listed posting %s has no detail (HTTP %d); asked again next run",
                                job_id, response.status)
            return None
        if response.status != 200:
            self.mark_incomplete(f"detail {url} answered HTTP {response.status}; asked again next run")
            return None
        try:
            detail = parse_detail(response.body, url, job_id)
        except MalformedResponse as exc:
            self.mark_incomplete(f"{exc}; asked again next run")
            return None
        if not detail.is_published:
            stats.inc_value("jobbnorge/details_unpublished")
            self.logger.warning("jobbnorge: listed posting %s is not published (isPublished false); asked again next"
                                " run", job_id)
            return None
        return detail

    # -- employers ---------------------------------------------------------------------------------------------

    @staticmethod
    def _usable_name(name: str | None) -> str | None:
        name = " ".join((name or "").split())[:NAME_MAX_LENGTH]
        return name or None

    async def _employer(self, raw_name: str | None) -> Employer:
        """The employer decision for a name, decided once per run (concurrent postings of one employer share it)."""
        name = self._usable_name(raw_name)
        if name is None:
            return Employer(ScopeDecision(decide_by_name(None, None).scope, BY_NAME))
        future = self._employers.get(name)
        if future is None:
            future = self._employers[name] = asyncio.ensure_future(self._decide(name))
        try:
            return await asyncio.shield(future)
        except BrregUnavailable:
            if self._employers.get(name) is future:
                del self._employers[name]  # the next posting of this employer tries again
            raise

    async def _decide(self, name: str) -> Employer:
        suffix_scope = scope_from_company_suffix(name)
        if suffix_scope is not None and not in_scope(self.scope, suffix_scope):
            return Employer(ScopeDecision(suffix_scope, BY_NAME))
        known = self.name_decisions.get(name)
        if known is not None and known.scope != AMBIGUOUS:
            try:
                chain = await self._chain(known.orgnr) if known.orgnr else ()
            except BrregUnavailable:  # a stale cached unit could not be refreshed: the known scope still holds
                chain = ()
            return Employer(ScopeDecision(known.scope, known.method, chain[-1] if chain else None), chain)
        query = _BRACKETS.sub(" ", organisation_part(name) or name)
        try:
            unit = await search_unit_by_name(self.brreg_url, self.fetch_brreg, " ".join(query.split()))
            if unit is not None:
                self._found_units.append(unit)
            chain = await self._chain_from(unit) if unit is not None else ()
        except BrregUnavailable:
            if is_municipal_name(name):
                self.logger.warning("jobbnorge: Brønnøysund unavailable, %r decided by its name", name)
                return Employer(ScopeDecision(MUNICIPAL, BY_NAME))
            raise
        if chain:
            decision = decide_by_chain(list(chain), name)
        else:
            decision = ScopeDecision(suffix_scope, BY_NAME) if suffix_scope else decide_by_name(name, None)
        self._record(name, NameDecision(scope=decision.scope, method=decision.method,
                                        orgnr=chain[0].orgnr if chain else None))
        return Employer(decision, chain)

    async def _chain_from(self, unit: EmployerUnit) -> tuple[EmployerUnit, ...]:
        """The unit and its parents up to the legal top unit."""
        units = [unit]
        while units[-1].parent_orgnr and len(units) < MAX_CHAIN:
            parent = await self.resolver.unit(units[-1].parent_orgnr, subunit_first=False)
            if not parent.found:
                break
            units.append(parent)
        return tuple(units)

    async def _chain(self, orgnr: str) -> tuple[EmployerUnit, ...]:
        """The chain of a unit found earlier (from the employer cache; Brønnøysund when stale)."""
        unit = await self.resolver.unit(orgnr, subunit_first=False)
        return await self._chain_from(unit) if unit.found else ()

    def _record(self, name: str, decision: NameDecision) -> None:
        merged = merge_decision(self.name_decisions.get(name), decision)
        self.name_decisions[name] = self._unsaved_decisions[name] = merged

    def _save_employer_knowledge(self) -> None:
        """Store the units found and the name decisions taken in this run."""
        self.resolver.save()
        if self._found_units:
            save_units(self.engine, self._found_units)
        save_name_decisions(self.engine, SOURCE, self._unsaved_decisions)
        self._found_units, self._unsaved_decisions = [], {}

    @staticmethod
    def _apply_employer(posting: JobPosting, employer: Employer) -> None:
        posting.employer_scope_method = employer.decision.method
        if employer.chain:
            posting.employer_orgnr = employer.chain[0].orgnr
            posting.employer_parent_orgnr = employer.chain[-1].orgnr
            posting.employer_org_form = employer.chain[-1].org_form

    def closed(self, reason: str) -> None:
        stats = self.crawler.stats
        self.logger.info(
            "jobbnorge: finished (%s): %s jobs listed, %s details fetched, %s closed, Brønnøysund requests %s",
            reason, stats.get_value("jobbnorge/list_jobs", 0), stats.get_value("jobbnorge/details_fetched", 0),
            stats.get_value("jobbnorge/closed", 0), stats.get_value("jobbnorge/brreg_requests", 0),
        )
