"""The labelled normalisation cases (cases.jsonl) and how each rule is run on one; shared by tests and bench."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from munijobs.items import ContactPerson, JobPosting, OccupationCode, WorkLocation
from munijobs.normalise import (
    best_styrk,
    derive_extent,
    detect_language,
    html_to_text,
    mask_personal_data,
    normalise_posting,
    parse_deadline,
    parse_engagement,
    parse_job_percent,
    parse_percent_field,
    parse_salary,
    parse_start,
    repair_glued_text,
    resolve_county,
    resolve_municipality,
)

CASES_FILE = Path(__file__).with_name("cases.jsonl")


@dataclass(frozen=True)
class Case:
    """One labelled case: a rule, its input and the expected fields."""

    line: int
    rule: str
    input: dict[str, Any]
    expected: dict[str, Any]
    note: str
    known_miss: str = ""
    """Why the normaliser still gets this case wrong (counted as a miss by the bench, an expected failure by tests)."""
    labels: dict[str, list[str]] = field(default_factory=dict)
    """Masking cases: the names, phones and e-mails in the input that must be masked, and the employer, unit, place
    and job names and numbers that must be kept ("names", "phones", "emails", "kept")."""

    @property
    def id(self) -> str:
        return f"{self.line:03d}-{self.rule}"


def load_cases() -> list[Case]:
    """Every case in cases.jsonl, in file order."""
    cases = []
    for line, raw in enumerate(CASES_FILE.read_text(encoding="utf-8").splitlines(), start=1):
        if raw.strip():
            record = json.loads(raw)
            cases.append(
                Case(
                    line, record["rule"], record["input"], record["expected"], record.get("note", ""),
                    record.get("known_miss", ""), record.get("labels", {}),
                )
            )
    return cases


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _published(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _percent(i: dict[str, Any]) -> dict[str, Any]:
    result = parse_job_percent(*i["texts"])
    return {"min": result.minimum, "max": result.maximum, "positions": result.positions}


def _percent_field(i: dict[str, Any]) -> dict[str, Any]:
    result = parse_percent_field(i["raw"])
    return {"min": result.minimum, "max": result.maximum}


def _engagement(i: dict[str, Any]) -> dict[str, Any]:
    result = parse_engagement(i["structured"], i["title"], i["text"])
    return {"type": result.engagement_type, "conflict": result.conflict is not None}


def _deadline(i: dict[str, Any]) -> dict[str, Any]:
    result = parse_deadline(i["raw"], i["text"], _published(i["published"]))
    return {"kind": result.kind, "date": result.date, "text": result.text}


def _start(i: dict[str, Any]) -> dict[str, Any]:
    result = parse_start(i["raw"], i["text"], _published(i["published"]))
    return {"date": result.date, "text": result.text}


def _place(i: dict[str, Any]) -> dict[str, Any]:
    code, county_code, _ = resolve_municipality(
        i.get("name"), i.get("county"), i.get("postal_code"), i.get("employer_name")
    )
    return {"code": code, "county_code": county_code}


def _occupation(i: dict[str, Any]) -> dict[str, Any]:
    code, name = best_styrk(OccupationCode(**o) for o in i["occupations"])
    return {"code": code, "name": name}


def _salary(i: dict[str, Any]) -> dict[str, Any]:
    result = parse_salary(i["text"])
    return {"min": result.minimum, "max": result.maximum, "text": result.text}


def build_posting(i: dict[str, Any]) -> JobPosting:
    """A JobPosting from a posting case's input (raw fields only)."""
    fields = dict(i)
    fields["work_locations"] = [WorkLocation(**loc) for loc in fields.get("work_locations", [])]
    fields["occupations"] = [OccupationCode(**o) for o in fields.get("occupations", [])]
    fields["contacts"] = [ContactPerson(**c) for c in fields.get("contacts", [])]
    fields["published_at"] = _published(fields.get("published_at"))
    return JobPosting(source="test", source_ad_id="case", **fields)


def _posting(i: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    posting = normalise_posting(build_posting(i))
    actual: dict[str, Any] = {}
    for key in expected:
        if key == "notes_keys":
            actual[key] = sorted(posting.normalise_notes)
        elif key == "notes":
            actual[key] = {name: posting.normalise_notes.get(name) for name in expected["notes"]}
        else:
            actual[key] = getattr(posting, key)
    return actual


RULES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "html_text": lambda i: {"text": html_to_text(i["html"])},
    "repair": lambda i: {"text": repair_glued_text(i["text"])},
    "percent": _percent,
    "percent_field": _percent_field,
    "extent": lambda i: {"extent": derive_extent(i["percent_max"], i["extent_raw"])},
    "engagement": _engagement,
    "deadline": _deadline,
    "start": _start,
    "place": _place,
    "county": lambda i: {"codes": sorted(resolve_county(i["name"]))},
    "occupation": _occupation,
    "language": lambda i: {"language": detect_language(i["text"])},
    "salary": _salary,
    "privacy": lambda i: {
        "text": mask_personal_data(i["text"], [ContactPerson(**c) for c in i.get("contacts", [])])
    },
}


def actual_fields(case: Case) -> dict[str, Any]:
    """What the normaliser gives for the fields the case labels, as plain JSON-like values."""
    actual = _posting(case.input, case.expected) if case.rule == "posting" else RULES[case.rule](case.input)
    return {key: _plain(actual.get(key)) for key in case.expected}
