"""normalise_posting: fill every normalised field of a JobPosting from its raw fields."""

from __future__ import annotations

from typing import Any

from munijobs.items import JobPosting
from munijobs.normalise.dates import parse_deadline, parse_start
from munijobs.normalise.engagement import parse_engagement
from munijobs.normalise.language import detect_language
from munijobs.normalise.occupation import best_styrk
from munijobs.normalise.percent import PercentResult, derive_extent, parse_job_percent, parse_percent_field
from munijobs.normalise.places import resolve_municipality
from munijobs.normalise.privacy import mask_personal_data, mask_posting
from munijobs.normalise.salary import parse_salary
from munijobs.normalise.text import clean_text, html_to_text, repair_glued_text


def _clean_description(posting: JobPosting) -> str:
    if posting.description_html and posting.description_html.strip():
        return repair_glued_text(html_to_text(posting.description_html))
    return repair_glued_text(clean_text(posting.description_text))


def _positions(raw: str | None, from_text: PercentResult, notes: dict[str, Any]) -> int | None:
    """The source's structured count when it is not the default 1; else a count the text states; else the source's.

    A range of positions in the text ("2–4 stillinger") is no number: None, with a note.
    """
    digits = (raw or "").strip()
    structured = int(digits) if digits.isascii() and digits.isdecimal() and int(digits) > 0 else None
    if digits and structured is None:
        notes["positions"] = f"the source's count is not a number of positions: {digits[:40]!r}"
    if structured and structured != 1:
        return structured
    if from_text.positions is not None:
        return from_text.positions
    if from_text.positions_range:
        notes["positions"] = f"a range of positions, not a number: {from_text.positions_range!r}"
        return None
    return structured


def normalise_posting(posting: JobPosting) -> JobPosting:
    """Fill every normalised field of `posting` from its raw fields (in place; returns it). Pure: no I/O."""
    notes: dict[str, Any] = {}
    mask_posting(posting, notes)
    text = _clean_description(posting)
    if not (posting.description_html and posting.description_html.strip()):
        text = mask_personal_data(text)
    posting.description_text = text or None
    headings = " | ".join(dict.fromkeys(t.strip() for t in (posting.title, posting.job_title) if t and t.strip()))

    structured = parse_percent_field(posting.job_percent_raw)
    from_text = parse_job_percent(headings, text)
    percent_min, percent_max = (
        (structured.minimum, structured.maximum)
        if structured.maximum is not None
        else (from_text.minimum, from_text.maximum)
    )
    posting.job_percent_min, posting.job_percent_max = percent_min, percent_max
    posting.positions = _positions(posting.positions_raw, from_text, notes)
    posting.extent = derive_extent(percent_max, posting.extent_raw)
    raw_extent = derive_extent(None, posting.extent_raw)
    if raw_extent and posting.extent != raw_extent:
        notes["extent_conflict"] = {"structured": posting.extent_raw, "job_percent_max": percent_max}

    engagement = parse_engagement(posting.engagement_type_raw, headings, text)
    posting.engagement_type = engagement.engagement_type
    if engagement.conflict:
        notes["engagement_type_conflict"] = engagement.conflict

    deadline = parse_deadline(posting.deadline_raw, text, posting.published_at)
    posting.deadline_kind, posting.deadline_date, posting.deadline_text = deadline.kind, deadline.date, deadline.text
    start = parse_start(posting.start_raw, text, posting.published_at)
    posting.start_date, posting.start_text = start.date, start.text

    _resolve_locations(posting, notes)
    posting.occupation_code, posting.occupation_name = best_styrk(posting.occupations)
    posting.language = detect_language(text)
    salary = parse_salary(text)
    posting.salary_min, posting.salary_max, posting.salary_text = salary.minimum, salary.maximum, salary.text
    posting.normalise_notes = notes
    return posting


def _resolve_locations(posting: JobPosting, notes: dict[str, Any]) -> None:
    """Codes of every work location; the posting takes the first resolved one (else the first county found)."""
    posting.municipality_code = posting.county_code = None
    place_notes: list[str] = []
    for location in posting.work_locations:
        code, county_code, note = resolve_municipality(
            location.municipality or location.city, location.county, location.postal_code, posting.employer_name
        )
        location.municipality_code, location.county_code = code, county_code
        if note:
            place_notes.append(note)
    first = next((loc for loc in posting.work_locations if loc.municipality_code), None)
    if first:
        posting.municipality_code, posting.county_code = first.municipality_code, first.county_code
    elif posting.work_locations:
        posting.county_code = next((loc.county_code for loc in posting.work_locations if loc.county_code), None)
    if place_notes:
        notes["work_locations"] = place_notes
