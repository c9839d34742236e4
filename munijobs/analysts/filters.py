"""Filters shared by export, search, stats and report: parsing of user values and the WHERE clauses on v_ads.

Every parser raises `BadValue` with a one-line message naming the value and the accepted forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Table, func, or_, select

from munijobs import codes
from munijobs.analysts.views import v_ad_history, v_ads
from munijobs.constants import PostingStatus


class BadValue(ValueError):
    """A filter value that cannot be understood."""


MAX_TEXT = 300
"""Longest filter value (employer, occupation, place name) accepted: longer ones match nothing anyway."""
MAX_QUERY = 1_000
MAX_QUERY_WORDS = 50
"""Longest search query and most words in it: beyond that a query is a pasted text, not a search."""
UNLIMITED = float("inf")


def check_text(value: str, option: str, limit: float = MAX_TEXT) -> str:
    """A value from the command line that the databases can take: UTF-8 (no bytes of another encoding), no NUL,
    at most `limit` characters; raises BadValue naming the option."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = value.encode("utf-8", "surrogateescape").decode("latin-1")
        raise BadValue(f"{option} {shown!r} is not UTF-8 text: set the terminal's encoding to UTF-8 (LANG=nb_NO.UTF-8)"
                       ) from None
    if "\x00" in value:
        raise BadValue(f"{option} contains a NUL character")
    if len(value) > limit:
        raise BadValue(f"{option} is {len(value):,} characters long: give at most {limit:,}")
    return value


def check_query(query: str) -> str:
    """A search query within MAX_QUERY characters and MAX_QUERY_WORDS words (raises BadValue)."""
    check_text(query, "QUERY", MAX_QUERY)
    words = len(query.split())
    if words > MAX_QUERY_WORDS:
        raise BadValue(f"QUERY has {words} words: give at most {MAX_QUERY_WORDS}")
    return query


@dataclass(frozen=True)
class AdFilters:
    """Resolved filters on v_ads; empty tuples and None mean no restriction."""

    statuses: tuple[str, ...] = ()
    municipality_codes: tuple[str, ...] = ()
    county_codes: tuple[str, ...] = ()
    employer_orgnr: str | None = None
    employer_name: str | None = None
    occupation_codes: tuple[str, ...] | None = None
    published_since: date | None = None
    published_until: date | None = None
    updated_since: datetime | None = None


def _split(values: tuple[str, ...] | list[str] | str) -> list[str]:
    """Repeated and comma-separated values as one list, blanks dropped."""
    values = [values] if isinstance(values, str) else values
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_status(values) -> tuple[str, ...]:
    allowed = [s.value for s in PostingStatus]
    result = []
    for value in _split(values):
        if value.lower() not in allowed:
            raise BadValue(f"unknown status {value!r}: use one of {', '.join(allowed)}")
        result.append(value.lower())
    return tuple(result)


def municipality_code(value: str) -> str:
    """A municipality number from a number ("5001", "301") or any official name form, in any letter case."""
    known = codes.municipalities()
    text = value.strip()
    if re.fullmatch(r"\d{3,4}", text):
        if text.zfill(4) in known:
            return text.zfill(4)
        raise BadValue(f"unknown municipality number {value!r}: give one of the 357 numbers of 2024 (e.g. 5001)"
                       " or a name (e.g. Trondheim)")
    matches = sorted(m.code for m in known.values() if text.casefold() in {n.casefold() for n in m.names})
    if len(matches) == 1:
        return matches[0]
    if matches:
        options = ", ".join(f"{c} ({codes.counties()[known[c].county_code].short_name})" for c in matches)
        raise BadValue(f"municipality name {value!r} is ambiguous: give the number, one of {options}")
    raise BadValue(f"unknown municipality {value!r}: give a municipality number (e.g. 5001) or a name"
                   " (e.g. Trondheim, TRONDHEIM, Tråante)")


def county_code(value: str) -> str:
    """A county number from a number ("50", "3") or any official name form, in any letter case."""
    known = codes.counties()
    text = value.strip()
    if re.fullmatch(r"\d{1,2}", text):
        if text.zfill(2) in known:
            return text.zfill(2)
        raise BadValue(f"unknown county number {value!r}: give one of {', '.join(sorted(known))}"
                       " or a name (e.g. Trøndelag)")
    for county in known.values():
        if text.casefold() in {form.casefold() for form in county.names}:
            return county.code
    raise BadValue(f"unknown county {value!r}: give a county number (e.g. 50) or a name (e.g. Trøndelag, Vestland)")


def parse_municipalities(values) -> tuple[str, ...]:
    return tuple(municipality_code(v) for v in _split(values))


def parse_counties(values) -> tuple[str, ...]:
    return tuple(county_code(v) for v in _split(values))


def parse_occupation(value: str) -> tuple[str, ...]:
    """STYRK-08 codes for a code or code prefix ("2223", "22") or a substring of the occupation name."""
    text = value.strip()
    known = codes.occupations()
    if re.fullmatch(r"\d{1,4}", text):
        found = tuple(sorted(c for c in known if c.startswith(text)))
        if not found:
            raise BadValue(f"unknown STYRK-08 code {value!r}: give a code or code prefix (e.g. 2223, 22)"
                           " or part of an occupation name (e.g. sykepleier)")
        return found
    found = tuple(sorted(c for c, o in known.items() if text.casefold() in o.name.casefold())) if text else ()
    if not found:
        raise BadValue(f"no STYRK-08 occupation name contains {value!r}: give a code (e.g. 2223) or part of a name"
                       " (e.g. sykepleier)")
    return found


def parse_employer(value: str) -> tuple[str | None, str | None]:
    """(orgnr, None) for a nine-digit organisation number (spaces allowed), else (None, name substring)."""
    text = value.strip()
    if re.fullmatch(r"\d{3} ?\d{3} ?\d{3}", text):
        return text.replace(" ", ""), None
    if not text:
        raise BadValue("empty employer: give part of the employer's name or a nine-digit organisation number")
    return None, text


def parse_day(value: str, option: str = "date") -> date:
    """A calendar day written YYYY-MM-DD."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            return date.fromisoformat(value.strip())
    except ValueError:
        pass
    raise BadValue(f"bad {option} {value!r}: write a date as YYYY-MM-DD (e.g. 2026-01-31)")


def parse_moment(value: str, option: str = "time") -> datetime:
    """A day (YYYY-MM-DD, midnight UTC) or an ISO timestamp (UTC unless it has an offset), as aware UTC."""
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.combine(parse_day(text, option), time(), UTC)
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", text):
            raise ValueError(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadValue(f"bad {option} {value!r}: write YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM]"
                       " (UTC unless an offset is given)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_columns(value: str | None, table: Table = v_ads) -> list[str]:
    """A comma-separated subset of the table's columns, in the order given; None means all columns."""
    names = list(table.columns.keys())
    if value is None:
        return names
    chosen = _split(value)
    unknown = [c for c in chosen if c not in names]
    if unknown or not chosen:
        raise BadValue(f"unknown column {(unknown or [value])[0]!r} for --columns: choose from {', '.join(names)}")
    return list(dict.fromkeys(chosen))


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def contains_casefolded(column, text: str, dialect: str) -> ColumnElement[bool]:
    """Case-insensitive substring test that folds æ/ø/å and other non-ASCII letters on both databases."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if dialect == "sqlite":
        return func.munijobs_casefold(column).like(pattern.casefold(), escape="\\")
    return column.ilike(pattern, escape="\\")


def where(filters: AdFilters, dialect: str, v: Table = v_ads) -> list[ColumnElement[bool]]:
    """WHERE clauses on v_ads for the filters (`v` may be an alias of v_ads)."""
    c = v.c
    clauses: list[ColumnElement[bool]] = []
    if filters.statuses:
        clauses.append(c.status.in_(filters.statuses))
    if filters.municipality_codes:
        clauses.append(c.municipality_code.in_(filters.municipality_codes))
    if filters.county_codes:
        clauses.append(c.county_code.in_(filters.county_codes))
    if filters.employer_orgnr:
        clauses.append(or_(c.employer_orgnr == filters.employer_orgnr,
                           c.employer_parent_orgnr == filters.employer_orgnr))
    if filters.employer_name:
        clauses.append(contains_casefolded(c.employer_name, filters.employer_name, dialect))
    if filters.occupation_codes is not None:
        clauses.append(c.occupation_code.in_(filters.occupation_codes))
    if filters.published_since:
        clauses.append(c.published_at >= midnight(filters.published_since))
    if filters.published_until:
        clauses.append(c.published_at < midnight(filters.published_until + timedelta(days=1)))
    if filters.updated_since:
        changed = select(v_ad_history.c.ad_id).where(v_ad_history.c.changed_at >= filters.updated_since)
        clauses.append(or_(c.last_seen_at >= filters.updated_since, c.ad_id.in_(changed)))
    return clauses
