"""Application deadline and start: dates in the forms Norwegian ads write them, and the words used instead."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from munijobs.constants import DeadlineKind
from munijobs.normalise.text import hint_spans

OSLO = ZoneInfo("Europe/Oslo")
_MONTH_NAMES = (
    ("januar jan january", 1),
    ("februar feb february", 2),
    ("mars mar march", 3),
    ("april apr", 4),
    ("mai may", 5),
    ("juni jun june", 6),
    ("juli jul july", 7),
    ("august aug", 8),
    ("september sep sept", 9),
    ("oktober okt october oct", 10),
    ("november nov", 11),
    ("desember des december dec", 12),
)
MONTHS = {name: number for names, number in _MONTH_NAMES for name in names.split()}
"""Bokmål, nynorsk (same month names) and English month names and abbreviations."""
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_ISO = re.compile(
    r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<tz>Z|[+-]\d{2}:?\d{2})?)?(?!\d)"
)
_NUMERIC = re.compile(r"(?<![\d.])(?P<d>\d{1,2})[./](?P<m>\d{1,2})(?:[./](?P<y>\d{4}|\d{2})(?![\d])|\.(?!\d))")
_WORDS = re.compile(
    rf"(?<!\d)(?P<d>\d{{1,2}})\.?\s*(?:de\s+)?(?P<month>{_MONTH})\b\.?(?:\s*(?P<y>\d{{4}})(?!\d))?", re.IGNORECASE
)
_ENGLISH = re.compile(rf"\b(?P<month>{_MONTH})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})", re.IGNORECASE)

ASAP = re.compile(
    r"\b(?:snarest|snarast|straks|omgående|omgåande|asap|as soon as possible|så snart som mu?o?g)", re.IGNORECASE
)
ROLLING = re.compile(
    r"\b(?:fortløpende|fortløpande|løpende|løpande|rullerende|kontinuerlig|ongoing|rolling)\b", re.IGNORECASE
)
_DEADLINE_LABEL = re.compile(
    r"\b(?:søknadsfrist(?:en)?|søknadsfrest|frist for søknad|siste søknadsdag|frist(?=\s*:)|apply by"
    r"|application deadline|deadline)(?:\s+(?:er|er satt til|er sett til|:))?\s*[:\-–]?\s*(?P<value>[^\n]{1,80})",
    re.IGNORECASE,
)
DEADLINE_HINTS = ("frist", "frest", "deadline", "apply by")
"""A deadline label in the text contains one of these; only the lines (and what follows) that hold one are searched."""
_LABEL_REACH = 100
"""How far past a label its value is looked for (it may stand on the next line: "Søknadsfrist" as a heading)."""
_ROLLING_PHRASE = re.compile(
    r"(?:søknader|søknadar|søkere|søkjarar|kandidater|intervju\w*)\s+(?:blir\s+|vil\s+bli\s+)?"
    r"(?:behandles|vurderes|behandlast|vurderast|behandla|vurdert|innkalles|kallast inn|gjennomføres)\s+"
    r"(?:\w+\s+)?(?:fortløpende|fortløpande|løpende|løpande)"
    r"|\b(?:vi|me)\s+(?:ansetter|ansettar|tilset|tilsetter|rekrutterer|intervjuer|intervjuar)\s+(?:\w+\s+)?"
    r"(?:fortløpende|fortløpande|løpende|løpande)"
    r"|\b(?:ansettelse|ansettelser|tilsetting|tilsettingar|tilsettinger)\s+(?:skjer|vil skje|skjer derfor)\s+"
    r"(?:fortløpende|fortløpande|løpende|løpande)",
    re.IGNORECASE,
)
"""A phrase that says applications are dealt with as they come: "søknader behandles fortløpende", "Vi ansetter
fortløpende", "tilsetting skjer fortløpande"."""
_START_LABEL = re.compile(
    r"\b(?:ønsket oppstart|oppstart(?:sdato)?|tiltredelse(?:sdato)?|tiltreding(?:sdato)?|tiltredingsdato|startdato"
    r"|start date|tiltre|stillingen er ledig (?:fra|frå)|ledig (?:fra|frå)|tilsetting frå|ansettelse fra)"
    r"(?:\s+(?:er|blir|vil vere|vil være|:))?\s*[:\-–]?\s*(?P<value>[^\n]{1,80})",
    re.IGNORECASE,
)
_START_WORDS = re.compile(
    r"(?:snarest(?: mulig)?|snarast(?: mogleg)?|straks|omgående|så snart som mulig|så snart som mogleg"
    r"|etter (?:nærmare |nærmere )?avtale|as soon as possible|by agreement"
    r"|(?:i |fra |frå )?(?:våren|høsten|hausten|sommeren|sommaren|vinteren) \d{4}"
    rf"|(?:i |fra |frå )?(?:{_MONTH}) \d{{4}})",
    re.IGNORECASE,
)
_LEADS_WITH_DATE = re.compile(
    r"(?:(?:den|dato|fra|frå|innen|innan|senest|seinast|mandag|tirsdag|onsdag|torsdag|fredag|lørdag|søndag|måndag"
    r"|tysdag|laurdag|sundag|monday|tuesday|wednesday|thursday|friday|saturday|sunday),?\s+)*"
    rf"(?:\d|(?:{_MONTH})\b)",
    re.IGNORECASE,
)
"""A value that starts with a date (after a weekday or a preposition), as after "Søknadsfrist:" or "Oppstart"."""


@dataclass(frozen=True)
class DeadlineResult:
    """Kind of deadline, its date when it is one, and its words when it is not."""

    kind: str
    date: date | None = None
    text: str | None = None


@dataclass(frozen=True)
class StartResult:
    """Start date when one is stated, else the start in words."""

    date: date | None = None
    text: str | None = None


def _reference_day(published: date | datetime | None) -> date | None:
    if isinstance(published, datetime):
        return (published.astimezone(OSLO) if published.tzinfo else published).date()
    return published


def _next_on_or_after(day: int, month: int, reference: date | None) -> date | None:
    if reference is None:
        return None
    for year in (reference.year, reference.year + 1):
        candidate = _safe_date(year, month, day)
        if candidate and candidate >= reference:
            return candidate
    return None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year(value: str) -> int:
    return int(value) + 2000 if len(value) == 2 else int(value)


def parse_date(text: str | None, published: date | datetime | None = None) -> date | None:
    """The first date in `text`; a date without a year takes its next occurrence on/after `published`."""
    if not text:
        return None
    found: list[tuple[int, date | None]] = []
    iso = _ISO.search(text)
    if iso:
        found.append((iso.start(), _iso_date(iso)))
    for pattern in (_NUMERIC, _WORDS, _ENGLISH):
        match = pattern.search(text)
        if match:
            found.append((match.start(), _match_date(match, published)))
    found = [item for item in found if item[1] is not None]
    return min(found, key=lambda item: item[0])[1] if found else None


def _iso_date(match: re.Match[str]) -> date | None:
    day = _safe_date(int(match["y"]), int(match["m"]), int(match["d"]))
    if day is None or not match["tz"] or not match["time"]:
        return day
    moment = datetime.fromisoformat(f"{day.isoformat()}T{match['time'].zfill(5)}{match['tz'].replace('Z', '+00:00')}")
    return moment.astimezone(OSLO).date()


def _match_date(match: re.Match[str], published: date | datetime | None) -> date | None:
    groups = match.groupdict()
    month = MONTHS[groups["month"].lower()] if groups.get("month") else int(groups["m"])
    day = int(groups["d"])
    if groups.get("y"):
        return _safe_date(_year(groups["y"]), month, day)
    return _next_on_or_after(day, month, _reference_day(published))


def _words(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip(" .,:;!-–").lower()


def parse_deadline(
    raw: str | None, text: str | None = None, published: date | datetime | None = None
) -> DeadlineResult:
    """Deadline from the structured value, else from a "Søknadsfrist: ..." line or a rolling-review phrase."""
    if raw and raw.strip():
        return _deadline_from_value(raw, published)
    if not text:
        return DeadlineResult(DeadlineKind.UNKNOWN)
    for start, end in hint_spans(text, DEADLINE_HINTS, reach=_LABEL_REACH):
        for label in _DEADLINE_LABEL.finditer(text, start, end):
            result = _deadline_from_value(label["value"], published, from_text=True)
            if result.kind != DeadlineKind.UNKNOWN:
                return result
    for start, end in hint_spans(text, ("løp",)):
        rolling = _ROLLING_PHRASE.search(text, start, end)
        if rolling:
            return DeadlineResult(DeadlineKind.ROLLING, text=_words(rolling.group(0)))
    return DeadlineResult(DeadlineKind.UNKNOWN)


def _deadline_from_value(value: str, published: date | datetime | None, from_text: bool = False) -> DeadlineResult:
    day = parse_date(value, published) if not from_text or _LEADS_WITH_DATE.match(value) else None
    if day:
        return DeadlineResult(DeadlineKind.DATE, day)
    asap, rolling = ASAP.search(value), ROLLING.search(value)
    if from_text:
        first = min((m for m in (asap, rolling) if m), key=lambda m: m.start(), default=None)
        if first is None or first.start() > 3:
            return DeadlineResult(DeadlineKind.UNKNOWN)
        return DeadlineResult(DeadlineKind.ASAP if first is asap else DeadlineKind.ROLLING, text=_words(first.group(0)))
    if asap:
        return DeadlineResult(DeadlineKind.ASAP, text=_words(value))
    if rolling:
        return DeadlineResult(DeadlineKind.ROLLING, text=_words(value))
    return DeadlineResult(DeadlineKind.UNKNOWN, text=_words(value) or None)


def parse_start(raw: str | None, text: str | None = None, published: date | datetime | None = None) -> StartResult:
    """Start from the structured value, else from an "Oppstart/Tiltredelse/Tiltreding ..." phrase in the text."""
    if raw and raw.strip():
        day = parse_date(raw, published)
        if day:
            return StartResult(day)
        label = _START_LABEL.match(raw.strip())
        return StartResult(text=_words(label["value"] if label else raw) or None)
    for label in _START_LABEL.finditer(text or ""):
        found = _start_after_label(label["value"], published)
        if found:
            return found
    return StartResult()


def _start_after_label(value: str, published: date | datetime | None) -> StartResult | None:
    words = _START_WORDS.match(value)
    if words:
        return StartResult(text=_words(words.group(0)))
    day = parse_date(value[:30], published) if _LEADS_WITH_DATE.match(value) else None
    return StartResult(day) if day else None
