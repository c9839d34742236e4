"""The one item every spider yields, and the small value objects it holds.

A `JobPosting` is one ad as one source publishes it. Raw values travel beside their normalised values
(`deadline_raw` / `deadline_date`), so a better normaliser can be re-run over stored postings without a recrawl.
Spiders fill the raw side; the normalise pipeline (``munijobs.normalise``) fills the normalised side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from munijobs.constants import PostingStatus


def make_key(source: str, source_ad_id: str) -> str:
    """The identity of a posting across runs: source name and the source's own ad id."""
    return f"{source}:{source_ad_id}"


@dataclass(kw_only=True)
class WorkLocation:
    """One place of work as the source gives it, with its resolved codes."""

    address: str | None = None
    """Street address, as given."""
    postal_code: str | None = None
    """Four-digit Norwegian postal code, as given."""
    city: str | None = None
    """Postal town, as given (often upper case)."""
    municipality: str | None = None
    """Municipality name as the source spells it (NAV: upper case, no number)."""
    county: str | None = None
    """County name as the source spells it (may predate the 2024 county split)."""
    country: str | None = None
    """Country name as given (NAV: "NORGE")."""
    municipality_code: str | None = None
    """Resolved four-digit municipality number, 2024 numbering; None when ambiguous or unknown."""
    county_code: str | None = None
    """Resolved two-digit county number, 2024 numbering."""


@dataclass(kw_only=True)
class OccupationCode:
    """One occupation classification the source attached to the ad."""

    system: str
    """Code system, e.g. "STYRK08", "STYRK08NAV", "ESCO", "JANZZ"."""
    code: str
    """The code as given, e.g. "2342.07" or "2342"."""
    name: str | None = None
    """The code's label, as given."""
    score: float | None = None
    """The source's confidence score, when it gives one."""


@dataclass(kw_only=True)
class ContactPerson:
    """A contact person the source lists for an ad: used only to mask them in the ad's texts, never stored."""

    name: str | None = None
    title: str | None = None
    phone: str | None = None
    email: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ContactPerson:
        """A contact person from a source's JSON record (NAV's contactList, Jobbnorge's contacts); blank or
        non-text values become None."""
        def text(*keys: str) -> str | None:
            for key in keys:
                value = record.get(key)
                if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
                    return str(value).strip()
            return None
        return cls(name=text("name"), title=text("title", "position"),
                   phone=text("phone", "mobile", "phoneNumber", "mobilePhone"), email=text("email"))


@dataclass(kw_only=True)
class JobPosting:
    """One job ad as published by one source (NAV, Jobbnorge, ...)."""

    source: str
    """Spider name of the source, e.g. "nav"."""
    source_ad_id: str
    """The source's own id of the ad (NAV: the ad UUID)."""
    status: PostingStatus = PostingStatus.ACTIVE
    """active, expired or withdrawn."""
    closed_at: datetime | None = None
    """When the source reported the ad closed (only for expired/withdrawn)."""
    has_content: bool = True
    """False for a status-only event (e.g. NAV INACTIVE): stored content is kept, only the status changes."""

    url: str | None = None
    """Public page of the ad at this source."""
    application_url: str | None = None
    """Where to apply (usually the ATS)."""
    origin_url: str | None = None
    """The ad's page in the system it came from (NAV: sourceurl)."""

    title: str | None = None
    """Ad heading."""
    job_title: str | None = None
    """Job title, when the source gives it apart from the heading."""

    employer_name: str | None = None
    """Employer or unit name, as given."""
    employer_orgnr: str | None = None
    """Nine-digit organisation number, as given (NAV: the establishment, "underenhet")."""
    employer_parent_orgnr: str | None = None
    """Organisation number of the legal top unit, resolved through Brønnøysund."""
    employer_org_form: str | None = None
    """Org form of the legal top unit (KOMM, FYLK, KF, IKS, AS, ...)."""
    employer_scope_method: str | None = None
    """How the municipal scope was decided: "brreg", "name", "known_employer" or "feed_entry"."""
    sector: str | None = None
    """Sector as given (NAV: Offentlig / Privat)."""

    work_locations: list[WorkLocation] = field(default_factory=list)
    """Places of work, in the source's order; the first is the primary one."""
    municipality_code: str | None = None
    """Four-digit municipality number of the primary work location (2024 numbering)."""
    county_code: str | None = None
    """Two-digit county number of the primary work location."""

    description_html: str | None = None
    """Ad text as HTML, as given, contact persons masked by the normaliser. Stored apart; never exported."""
    description_text: str | None = None
    """Clean plain text of the ad, paragraphs kept, e-mail addresses and phone numbers masked."""
    contacts: list[ContactPerson] = field(default_factory=list)
    """Contact persons as the source lists them; the normaliser masks them in every text, then empties this list."""

    occupations: list[OccupationCode] = field(default_factory=list)
    """Occupation codes as given by the source."""
    occupation_code: str | None = None
    """Best STYRK-08 four-digit code."""
    occupation_name: str | None = None
    """Name of occupation_code from the STYRK-08 code list."""

    engagement_type_raw: str | None = None
    """Engagement type as given (NAV: Fast, Vikariat, ...)."""
    engagement_type: str | None = None
    """Normalised engagement type (constants.EngagementType)."""
    extent_raw: str | None = None
    """Extent as given (NAV: Heltid / Deltid)."""
    extent: str | None = None
    """Normalised extent (constants.Extent)."""
    job_percent_raw: str | None = None
    """Job percentage as given by a structured field, when the source has one."""
    job_percent_min: float | None = None
    """Lowest job percentage stated, 0-100."""
    job_percent_max: float | None = None
    """Highest job percentage stated, 0-100."""
    positions_raw: str | None = None
    """Number of positions as given (NAV: a string)."""
    positions: int | None = None
    """Number of positions."""

    deadline_raw: str | None = None
    """Application deadline as given (free text: "15.01.2027", "Snarest", "Løpende")."""
    deadline_date: date | None = None
    """Application deadline date, when one is stated."""
    deadline_kind: str | None = None
    """Kind of deadline (constants.DeadlineKind)."""
    deadline_text: str | None = None
    """The deadline in words, when it is not a date ("snarest", "fortløpende")."""
    start_raw: str | None = None
    """Start as given (NAV: starttime, free text)."""
    start_date: date | None = None
    """Start date, when one is stated."""
    start_text: str | None = None
    """Start in words ("snarest", "etter avtale")."""

    published_at: datetime | None = None
    """When the source published the ad."""
    updated_at: datetime | None = None
    """When the source last updated the ad's content."""
    expires_at: datetime | None = None
    """When the source stops showing the ad."""
    source_modified_at: datetime | None = None
    """The source's change marker for the ad (NAV: sistEndret); decides whether details must be fetched again."""

    language: str | None = None
    """Language of the ad text (constants.Language)."""
    salary_min: float | None = None
    """Lowest yearly salary in NOK, when stated."""
    salary_max: float | None = None
    """Highest yearly salary in NOK, when stated."""
    salary_text: str | None = None
    """Salary statement as written ("lønnstrinn 45", "etter avtale")."""

    normalise_notes: dict[str, Any] = field(default_factory=dict)
    """What the normaliser noticed (conflicts between structured fields and text, ambiguous places)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Per-source leftovers that have no field of their own. Never contact persons."""

    @property
    def key(self) -> str:
        """Identity of the posting (see make_key)."""
        return make_key(self.source, self.source_ad_id)


@dataclass(kw_only=True)
class StateCheckpoint:
    """A per-source crawl-state value to persist once everything yielded before it is stored.

    Spiders yield it after the items of a unit of work (e.g. one NAV feed page); the store pipeline writes it in
    the same transaction as those items, so a crawl killed halfway resumes after the last stored unit.
    """

    source: str
    key: str
    value: Any
