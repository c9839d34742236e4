"""Pure parsing of NAV pam-stilling-feed responses: feed pages, ad details, the public token, timestamps.

No Scrapy and no database here; the nav spider feeds bytes in and gets plain values and `JobPosting` items out.
Shapes are documented in docs/research (sources-norway.md §1.4-1.5).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

from munijobs.constants import PostingStatus
from munijobs.items import ContactPerson, JobPosting, OccupationCode, WorkLocation
from storage.boundary import storable

SOURCE = "nav"
OSLO = ZoneInfo("Europe/Oslo")
MASKED_TITLE = "..."
ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"

_TOKEN = re.compile(r"eyJ[A-Za-z0-9_.\-]+")
_ZONED = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[T ](?P<hm>\d{2}:\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d+))?)?)?"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?(?:\[[^\]]+\])?$"
)
_EXTRA_KEYS = ("occupationCategories", "source")


class MalformedResponse(ValueError):
    """A response body that is not the JSON shape NAV documents."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One line of a feed page: an event about one ad."""

    uuid: str
    status: str
    title: str
    business_name: str
    municipal: str
    modified_at: datetime | None

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def is_inactive(self) -> bool:
        return self.status == INACTIVE

    @property
    def is_masked(self) -> bool:
        """NAV masks stopped, deleted, rejected and private ads: title "..." and an empty businessName."""
        return self.title == MASKED_TITLE and not self.business_name.strip()

    @property
    def closes(self) -> bool:
        """Only an explicit INACTIVE or a masked entry closes a stored ad; a missing or unknown status never does."""
        return self.is_inactive or self.is_masked


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One feed page: its own id, the id of the next page (None at the tip) and its entries, last one per ad."""

    page_id: str
    next_id: str | None
    entries: list[FeedEntry]


@dataclass(frozen=True, slots=True)
class AdDetail:
    """A feedentry answer: status, change marker and the ad content (None for INACTIVE ads)."""

    uuid: str
    status: str
    modified_at: datetime | None
    content: dict[str, Any] | None
    answer: Any = field(default=None, repr=False, compare=False)
    """The whole answer as parsed JSON, for the quarantine (storage.quarantine.raw_json drops its contact list)."""

    @property
    def is_masked(self) -> bool:
        """No content, or content masked by NAV (title "..." and no employer)."""
        if self.content is None:
            return True
        return self.content.get("title") == MASKED_TITLE and not self.content.get("employer")

    def problem(self) -> str | None:
        """Why this answer is malformed (it then neither stores nor closes the ad), or None when it is usable."""
        if self.status == INACTIVE:
            return None
        if self.status != ACTIVE:
            return f"status {self.status or 'missing'!r}"
        if self.content is None:
            return "ACTIVE without ad_content (or ad_content not an object)"
        return None

    @property
    def closes(self) -> bool:
        """INACTIVE, or ACTIVE with content NAV masked."""
        return self.status == INACTIVE or (self.status == ACTIVE and self.content is not None and self.is_masked)


def parse_datetime(value: Any) -> datetime | None:
    """An aware datetime from NAV's ZonedDateTime text; missing fractions, seconds or offsets are tolerated.

    A value without offset is taken as Europe/Oslo local time (NAV stores LocalDateTime in Oslo time).
    Unparseable values give None.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    match = _ZONED.match(value.strip())
    if match is None:
        return None
    text = match["date"] + "T" + (match["hm"] or "00:00") + ":" + (match["s"] or "00")
    if match["frac"]:
        text += "." + match["frac"][:6].ljust(6, "0")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    offset = match["offset"]
    if offset is None:
        return parsed.replace(tzinfo=OSLO)
    if offset == "Z":
        return parsed.replace(tzinfo=UTC)
    return datetime.fromisoformat(text + offset[:3] + ":" + offset[-2:])


def http_date(moment: datetime) -> str:
    """RFC 1123 text of a moment, as If-Modified-Since wants it."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def extract_public_token(text: str) -> str | None:
    """The JWT in the text/plain answer of /api/publicToken."""
    match = _TOKEN.search(text)
    return match.group(0) if match else None


def _load_json(body: bytes, url: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedResponse(f"malformed JSON from {url}: {exc}") from exc


def _text(value: Any) -> str:
    """A text value as a string any database stores (NUL and lone surrogates dropped); other values give ""."""
    return storable(value) if isinstance(value, str) else ""


def parse_feed_page(body: bytes, url: str) -> FeedPage:
    """Parse one feed page; entries keep page order, and an ad listed twice keeps only its last occurrence.

    Raises MalformedResponse when the body is not a feed page.
    """
    data = _load_json(body, url)
    if not isinstance(data, dict) or not isinstance(data.get("items"), list) or not isinstance(data.get("id"), str):
        raise MalformedResponse(f"malformed feed page from {url}: no id or items")
    latest: dict[str, FeedEntry] = {}
    for item in data["items"]:
        entry_data = item.get("_feed_entry") if isinstance(item, dict) else None
        if not isinstance(entry_data, dict):
            raise MalformedResponse(f"malformed feed page from {url}: an item has no _feed_entry")
        uuid = _text(entry_data.get("uuid")) or _text(item.get("id"))
        if not uuid:
            raise MalformedResponse(f"malformed feed page from {url}: an item has no uuid")
        latest.pop(uuid, None)
        latest[uuid] = FeedEntry(
            uuid=uuid,
            status=_text(entry_data.get("status")).upper(),
            title=_text(entry_data.get("title")),
            business_name=_text(entry_data.get("businessName")),
            municipal=_text(entry_data.get("municipal")),
            modified_at=parse_datetime(entry_data.get("sistEndret") or item.get("date_modified")),
        )
    next_id = data.get("next_id")
    return FeedPage(
        page_id=data["id"],
        next_id=next_id if isinstance(next_id, str) and next_id else None,
        entries=list(latest.values()),
    )


def parse_detail(body: bytes, url: str) -> AdDetail:
    """Parse a feedentry answer. Raises MalformedResponse when the body is not one."""
    data = _load_json(body, url)
    if not isinstance(data, dict) or not isinstance(data.get("uuid"), str):
        raise MalformedResponse(f"malformed feed entry from {url}: no uuid")
    content = data.get("ad_content")
    return AdDetail(
        uuid=storable(data["uuid"]),
        status=_text(data.get("status")).upper(),
        modified_at=parse_datetime(data.get("sistEndret")),
        content=content if isinstance(content, dict) and content else None,
        answer=data,
    )


def _blank_to_none(value: Any) -> str | None:
    """Text of a scalar JSON value, stripped; blanks, objects, lists and booleans become None."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _work_locations(content: dict[str, Any]) -> list[WorkLocation]:
    return [
        WorkLocation(
            address=_blank_to_none(place.get("address")),
            postal_code=_blank_to_none(place.get("postalCode")),
            city=_blank_to_none(place.get("city")),
            municipality=_blank_to_none(place.get("municipal")),
            county=_blank_to_none(place.get("county")),
            country=_blank_to_none(place.get("country")),
        )
        for place in _list(content.get("workLocations"))
        if isinstance(place, dict)
    ]


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _occupations(content: dict[str, Any]) -> list[OccupationCode]:
    return [
        OccupationCode(
            system=_blank_to_none(category.get("categoryType")) or "",
            code=_blank_to_none(category.get("code")),
            name=_blank_to_none(category.get("name")),
            score=_score(category.get("score")),
        )
        for category in _list(content.get("categoryList"))
        if isinstance(category, dict) and _blank_to_none(category.get("code"))
    ]


def _contacts(content: dict[str, Any]) -> list[ContactPerson]:
    """NAV's contactList, only for the normaliser to mask these persons in the ad's texts (never stored)."""
    people = _list(content.get("contactList"))
    return [ContactPerson.from_record(person) for person in people if isinstance(person, dict)]


def _extra(content: dict[str, Any]) -> dict[str, Any]:
    """Leftovers worth keeping. contactList is personal data and never copied."""
    extra = {key: content[key] for key in _EXTRA_KEYS if content.get(key)}
    homepage = _blank_to_none(_object(content.get("employer")).get("homepage"))
    if homepage:
        extra["employer_homepage"] = homepage
    return extra


def employer_of(content: dict[str, Any]) -> tuple[str | None, str | None]:
    """Employer name and org number (the underenhet) of an ad's content; blanks become None."""
    employer = _object(content.get("employer"))
    orgnr = _blank_to_none(employer.get("orgnr"))
    return _blank_to_none(employer.get("name")), orgnr.replace(" ", "") if orgnr else None


def posting_from_detail(detail: AdDetail, entry_modified_at: datetime | None = None) -> JobPosting:
    """Map an active ad's content onto a JobPosting (raw side only; contacts only for the normaliser to mask).

    Employer resolution fields (parent org number, org form, scope method) are left for the spider.
    """
    content = detail.content or {}
    employer_name, employer_orgnr = employer_of(content)
    return JobPosting(
        source=SOURCE,
        source_ad_id=detail.uuid,
        url=_blank_to_none(content.get("link")),
        application_url=_blank_to_none(content.get("applicationUrl")),
        origin_url=_blank_to_none(content.get("sourceurl")),
        title=_blank_to_none(content.get("title")),
        job_title=_blank_to_none(content.get("jobtitle")),
        employer_name=employer_name,
        employer_orgnr=employer_orgnr,
        sector=_blank_to_none(content.get("sector")),
        work_locations=_work_locations(content),
        description_html=_blank_to_none(content.get("description")),
        contacts=_contacts(content),
        occupations=_occupations(content),
        engagement_type_raw=_blank_to_none(content.get("engagementtype")),
        extent_raw=_blank_to_none(content.get("extent")),
        positions_raw=_blank_to_none(content.get("positioncount")),
        deadline_raw=_blank_to_none(content.get("applicationDue")),
        start_raw=_blank_to_none(content.get("starttime")),
        published_at=parse_datetime(content.get("published")),
        updated_at=parse_datetime(content.get("updated")),
        expires_at=parse_datetime(content.get("expires")),
        source_modified_at=detail.modified_at or entry_modified_at,
        extra=_extra(content),
    )


def closing_status(expires_at: datetime | None, closed_at: datetime | None) -> PostingStatus:
    """expired when the ad's expiry had passed when it was closed, else withdrawn."""
    moment = closed_at or datetime.now(UTC)
    if expires_at is not None and expires_at <= moment:
        return PostingStatus.EXPIRED
    return PostingStatus.WITHDRAWN


def closing_event(uuid: str, expires_at: datetime | None, closed_at: datetime | None) -> JobPosting:
    """A status-only posting that closes a stored ad and keeps its content."""
    return JobPosting(
        source=SOURCE,
        source_ad_id=uuid,
        status=closing_status(expires_at, closed_at),
        closed_at=closed_at or datetime.now(UTC),
        has_content=False,
    )
