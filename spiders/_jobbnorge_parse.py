"""Pure parsing of Jobbnorge's public API: the list of open postings, a posting's detail, and the mapping to JobPosting.

No Scrapy and no database here. Shapes as real consumers read them (docs/research, sources-norway.md §2):

* list, `GET /v3/jobs?language=1`: `{"jobs": [record, ...], "meta": {"jobCountTotal": N, ...}}`, every open posting
  in one answer. Older versions answer a bare array; that is read too, but without `meta` it cannot be checked for
  completeness (see `incompleteness`).
* detail, `GET /api/joblisting?jobId={id}&languageId=1`: the text in `components[{heading, text}]` and/or titled
  `jobGapComponents[{title, content}]` (which of the two a posting uses depends on its template; both are read, in
  that order), `contacts` (personal data: handed to the normaliser for masking, never stored), `positionCount`,
  `isPublished`. Whether `text` is HTML or plain text is not documented: both are accepted.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import nh3

from munijobs.items import ContactPerson, JobPosting, WorkLocation
from spiders._nav_parse import MalformedResponse, closing_status

SOURCE = "jobbnorge"
OSLO = ZoneInfo("Europe/Oslo")
ROLLING = "Løpende"
VOLATILE_KEYS = frozenset({"promoted"})
"""List-record keys left out of the fingerprint: they change without the posting changing."""
TOTAL_TOLERANCE = 0.01
"""A list is consistent with meta.jobCountTotal when they differ by at most this share (or by 2 jobs)."""
SHRINK_LIMIT = 0.5
"""A list with fewer jobs than this share of the last complete list is suspicious."""
POSTING_PAGE = "https://www.jobbnorge.no/ledige-stillinger/stilling/{id}"
ALLOWED_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "ul", "ol", "li", "strong", "em", "b", "i", "a"}
_DATE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*$")
_HTML = re.compile(r"<[a-zA-Z/][^>]*>")
_EXTRA_KEYS = {"jobType": "job_type", "department": "department", "employer": "jobbnorge_employer"}


@dataclass(frozen=True, slots=True)
class ListedJob:
    """One record of the list: the posting's id, the record as given and its fingerprint."""

    id: str
    record: dict[str, Any]
    fingerprint: str

    @property
    def employer(self) -> str | None:
        return _blank_to_none(self.record.get("employer"))

    @property
    def department(self) -> str | None:
        return _blank_to_none(self.record.get("department"))


@dataclass(frozen=True, slots=True)
class JobList:
    """The parsed list: its jobs (one per id) and meta.jobCountTotal when the answer has one."""

    jobs: list[ListedJob]
    total: int | None


@dataclass(slots=True)
class JobDetail:
    """A joblisting answer: published or not, the text as clean HTML, the position count and the contacts."""

    id: str
    is_published: bool
    description_html: str | None
    position_count: Any = None
    contacts: list[ContactPerson] = field(default_factory=list)


def _blank_to_none(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _load_json(body: bytes, url: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedResponse(f"malformed JSON from {url}: {exc}") from exc


def fingerprint(record: dict[str, Any]) -> str:
    """A short, stable hash of a list record (key order and VOLATILE_KEYS aside)."""
    stable = {key: value for key, value in record.items() if key not in VOLATILE_KEYS}
    text = json.dumps(stable, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def parse_job_list(body: bytes, url: str) -> JobList:
    """Parse the list answer; a posting listed twice keeps its last record. Raises MalformedResponse."""
    data = _load_json(body, url)
    meta: Any = {}
    if isinstance(data, dict):
        jobs, meta = data.get("jobs"), data.get("meta") or {}
    else:
        jobs = data
    if not isinstance(jobs, list) or not isinstance(meta, dict):
        raise MalformedResponse(f"malformed job list from {url}: no jobs array")
    by_id: dict[str, ListedJob] = {}
    for record in jobs:
        job_id = record.get("id") if isinstance(record, dict) else None
        if isinstance(job_id, bool) or not isinstance(job_id, (int, str)) or not str(job_id).strip().isdigit():
            raise MalformedResponse(f"malformed job list from {url}: a job has no integer id")
        key = str(job_id).strip()
        by_id.pop(key, None)
        by_id[key] = ListedJob(id=key, record=record, fingerprint=fingerprint(record))
    total = meta.get("jobCountTotal")
    return JobList(jobs=list(by_id.values()), total=total if isinstance(total, int) and total >= 0 else None)


def incompleteness(job_list: JobList, last_complete_count: int | None) -> str | None:
    """Why the list may not hold every open posting, or None when it is complete.

    Complete means: it parsed (else parse_job_list raised), its number of jobs matches meta.jobCountTotal within
    TOTAL_TOLERANCE (or 2 jobs), and it is not smaller than SHRINK_LIMIT of the last complete list. An answer without
    jobCountTotal is judged by the second rule alone; the very first list without it is taken as complete only when
    it is not empty.
    """
    count = len(job_list.jobs)
    if job_list.total is not None:
        if abs(count - job_list.total) > max(2, TOTAL_TOLERANCE * job_list.total):
            return f"the list has {count} jobs but meta.jobCountTotal says {job_list.total}"
    elif not last_complete_count and not count:
        return "an empty list without meta.jobCountTotal"
    if last_complete_count and count < SHRINK_LIMIT * last_complete_count:
        return (f"the list has {count} jobs, fewer than {SHRINK_LIMIT:.0%} of the last complete list"
                f" ({last_complete_count})")
    return None


def _html_of(text: Any) -> str:
    """A component's text as HTML: HTML as given, plain text as paragraphs (blank lines) with line breaks."""
    value = _blank_to_none(text)
    if value is None:
        return ""
    if _HTML.search(value):
        return value
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", value) if p.strip()]
    return "".join("<p>" + "<br>".join(nh3.clean_text(line.strip()) for line in p.splitlines()) + "</p>"
                   for p in paragraphs)


def _heading(text: Any) -> str:
    value = _blank_to_none(text)
    return f"<h2>{nh3.clean_text(value)}</h2>" if value else ""


def description_html(data: dict[str, Any]) -> str | None:
    """The posting's text as clean HTML: every component in order, its heading as <h2>, paragraphs and lists kept.

    Scripts, styles, images and attributes other than link targets are removed (nh3, the ammonia sanitiser).
    """
    parts: list[str] = []
    for component in data.get("components") or []:
        if isinstance(component, dict):
            parts.append(_heading(component.get("heading")) + _html_of(component.get("text")))
    for component in data.get("jobGapComponents") or []:
        if isinstance(component, dict):
            parts.append(_heading(component.get("title")) + _html_of(component.get("content")))
    html = nh3.clean("".join(parts), tags=ALLOWED_TAGS, attributes={"a": {"href"}}).strip()
    return html or None


def _contacts(data: dict[str, Any]) -> list[ContactPerson]:
    return [ContactPerson.from_record(contact) for contact in data.get("contacts") or [] if isinstance(contact, dict)]


def parse_detail(body: bytes, url: str, job_id: str) -> JobDetail:
    """Parse a joblisting answer. Raises MalformedResponse when the body is not one."""
    data = _load_json(body, url)
    if not isinstance(data, dict):
        raise MalformedResponse(f"malformed job listing from {url}: not an object")
    return JobDetail(
        id=job_id,
        is_published=data.get("isPublished") is not False,
        description_html=description_html(data),
        position_count=data.get("positionCount"),
        contacts=_contacts(data),
    )


def refresh_due(job_id: str, stored_at: datetime, now: datetime, refresh_age: timedelta) -> bool:
    """Whether a stored text is old enough to fetch again: `refresh_age` stretched by 0-99 % by the posting's id.

    The stretch spreads the refreshes of postings stored on one day over the following days.
    """
    return now - stored_at >= refresh_age * (1 + (int(job_id) % 100) / 100)


def parse_date(value: Any) -> datetime | None:
    """Midnight Oslo time of a DD.MM.YYYY date; None for other values (e.g. «Løpende»)."""
    match = _DATE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    day, month, year = (int(group) for group in match.groups())
    try:
        return datetime(year, month, day, tzinfo=OSLO)
    except ValueError:
        return None


def expiry_of(record: dict[str, Any]) -> datetime | None:
    """When a posting's deadline has passed: the end of its deadline day in Oslo; None for «Løpende» or no date."""
    deadline = parse_date(record.get("deadline"))
    return None if deadline is None else deadline + timedelta(days=1)


def _work_locations(record: dict[str, Any]) -> list[WorkLocation]:
    places = [place for place in record.get("locations") or [] if isinstance(place, dict)]
    places.sort(key=lambda place: not place.get("isPrimary"))  # stable: the primary one first, the rest in order
    return [
        WorkLocation(
            address=_blank_to_none(place.get("address")),
            postal_code=_blank_to_none(place.get("zipCode")),
            city=_blank_to_none(place.get("area")),
            municipality=_blank_to_none(place.get("municipality")),
            county=_blank_to_none(place.get("county")),
            country="NORGE" if place.get("isDomestic", True) else None,
        )
        for place in places
    ]


def employer_name_of(job: ListedJob) -> str | None:
    """The employer as Jobbnorge shows it: with regardDepartmentAsEmployer, "Department, Employer"."""
    if job.record.get("regardDepartmentAsEmployer") and job.department and job.employer:
        return f"{job.department}, {job.employer}"
    return job.employer or job.department


def _extra(record: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for key, name in _EXTRA_KEYS.items():
        value = record.get(key)
        value = value.get("name") if isinstance(value, dict) else value
        if _blank_to_none(value):
            extra[name] = _blank_to_none(value)
    if record.get("regardDepartmentAsEmployer"):
        extra["regard_department_as_employer"] = True
    return extra


def posting_from_listing(job: ListedJob, detail: JobDetail) -> JobPosting:
    """Map a list record and its detail onto a JobPosting (raw side; the normaliser fills the rest).

    Scope and employer register fields (org number, parent, org form, scope method) are left for the spider.
    """
    record = job.record
    positions = detail.position_count if detail.position_count is not None else record.get("positionCount")
    deadline = _blank_to_none(record.get("deadline")) or _blank_to_none(record.get("deadlineDate"))
    return JobPosting(
        source=SOURCE,
        source_ad_id=job.id,
        url=_blank_to_none(record.get("link")) or POSTING_PAGE.format(id=job.id),
        title=_blank_to_none(record.get("title")),
        employer_name=employer_name_of(job),
        work_locations=_work_locations(record),
        description_html=detail.description_html,
        contacts=detail.contacts,
        extent_raw=_blank_to_none(record.get("jobScope")),
        engagement_type_raw=_blank_to_none(record.get("jobDuration")),
        positions_raw=_blank_to_none(positions),
        deadline_raw=deadline,
        published_at=parse_date(record.get("publicationDate")),
        expires_at=expiry_of(record),
        extra=_extra(record),
    )


def closing_event(job_id: str, expires_at: datetime | None, closed_at: datetime) -> JobPosting:
    """A status-only posting closing a stored posting missing from a complete list: expired or withdrawn."""
    return JobPosting(
        source=SOURCE,
        source_ad_id=job_id,
        status=closing_status(expires_at, closed_at),
        closed_at=closed_at,
        has_content=False,
    )
