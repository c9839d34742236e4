"""Job percentage (stillingsprosent), number of positions and extent."""

from __future__ import annotations

import re
from dataclasses import dataclass

from munijobs.constants import Extent

NUMBER_WORDS = {
    "en": 1, "ein": 1, "ei": 1, "ett": 1, "eitt": 1, "to": 2, "tre": 3, "fire": 4, "fem": 5, "seks": 6, "sju": 7,
    "syv": 7, "åtte": 8, "ni": 9, "ti": 10, "elleve": 11, "tolv": 12,
}
_NUM = r"\d{1,3}(?:[.,]\d{1,2})?"
_PCT = r"\s*(?:%|prosent\b)"
_PERCENT = re.compile(
    rf"(?P<lead>(?:inntil|opptil|minimum|minst|fra|frå|mellom)\s+)?(?P<low>{_NUM})(?:{_PCT})?"
    rf"(?:\s*(?:-|–|—|til|og|/)\s*(?P<high>{_NUM}))?{_PCT}",
    re.IGNORECASE,
)
_COUNT = r"(?P<count>\d{1,2}|" + "|".join(NUMBER_WORDS) + r")"
_POSITIONS = re.compile(
    rf"\b{_COUNT}\s+(?:(?:nye|ledige|ledig|faste|fast|nye|midlertidige|mellombelse|heile|hele|fulle)\s+){{0,2}}"
    r"(?:\d{1,3}\s*%\s*)?(?:stillinger|stillingar|vikariater|vikariat|engasjement|årsverk|stillingsheimlar|heimlar"
    r"|hjemler|lærlingplasser|lærlingplassar|sommervikarer|sommarvikarar)\b",
    re.IGNORECASE,
)
_TIMES = re.compile(rf"\b(?P<count>\d{{1,2}})\s*[x×]\s*{_NUM}{_PCT}", re.IGNORECASE)
_JOB_BEFORE = re.compile(
    r"(?:stilling\w*|heimel\w*|hjemmel\w*|omfang|arbeidstid|deltid|heltid|vikariat\w*|engasjement\w*|fast\w*"
    r"|årsverk|størrelse|brøk|prosent|tilsetting|tilsetjing|ansettelse|à|á|a|x|×|på|i|ein|en|et|eit|ei|ledig|og"
    r"|:|-|–|,|\(|/)\s*$",
    re.IGNORECASE,
)
_JOB_AFTER = re.compile(
    r"^\s*(?:\)|,|-|–)?\s*(?:fast|faste|vikariat\w*|engasjement\w*|stilling\w*|heimel\w*|hjemmel|deltid\w*"
    r"|heltid\w*|mellombels\w*|midlertidig\w*|årsverk|prosjektstilling\w*|natt|dag|turnus|\w*vakt\w*|$)",
    re.IGNORECASE,
)
_NOT_JOB = re.compile(
    r"rabatt|pensjon|lønn|løn\b|tilskudd|tilskot|skatt|rente|avgift|sykefravær|sjukefråvær|fravær|fråvær|andel|økning"
    r"|auke|vekst|reduksjon|trekk|avkastning|oppmøte|rabatt|dekning|refusjon|kompensasjon|tillegg|godtgjør|sparing"
    r"|prosentpoeng|kvote|innbyggere|innbyggjarar|elever|brukere|tilfredshet|score|resultat|av\s+\w+",
    re.IGNORECASE,
)
_WINDOW = 40


@dataclass(frozen=True)
class PercentResult:
    """Job percentage range and number of positions found in a text."""

    minimum: float | None = None
    maximum: float | None = None
    positions: int | None = None


def parse_job_percent(*texts: str | None) -> PercentResult:
    """Job percentage and positions from texts in priority order (title first): the first text that states one wins."""
    minimum = maximum = positions = None
    for text in texts:
        if not text:
            continue
        if maximum is None:
            minimum, maximum = _percent_range(text)
        if positions is None:
            positions = _positions(text)
    return PercentResult(minimum, maximum, positions)


def parse_percent_field(raw: str | None) -> PercentResult:
    """A structured percentage field ("100", "50-100 %", "80%"): bare numbers count as percentages."""
    if not raw or not raw.strip():
        return PercentResult()
    match = re.fullmatch(rf"\s*({_NUM})\s*%?\s*(?:(?:-|–|til)\s*({_NUM})\s*%?)?\s*", raw)
    if not match:
        return parse_job_percent(raw)
    values = [v for v in (_number(match.group(1)), _number(match.group(2))) if v is not None]
    if not values or not all(0 < v <= 100 for v in values):
        return PercentResult()
    return PercentResult(min(values), max(values))


def _number(value: str | None) -> float | None:
    return float(value.replace(",", ".")) if value else None


def _percent_range(text: str) -> tuple[float | None, float | None]:
    lows: list[float] = []
    highs: list[float] = []
    for match in _PERCENT.finditer(text):
        if not _is_job_percent(text, match):
            continue
        low, high = _number(match.group("low")), _number(match.group("high"))
        values = [v for v in (low, high) if v is not None]
        if not all(0 < v <= 100 for v in values):
            continue
        lead = (match.group("lead") or "").strip().lower()
        if lead in ("inntil", "opptil") and high is None:
            highs.append(values[0])
        elif lead in ("minimum", "minst") and high is None:
            lows.append(values[0])
        else:
            lows.append(min(values))
            highs.append(max(values))
    if not lows and not highs:
        return None, None
    maximum = max(highs or lows)
    minimum = min(lows) if lows else None
    return minimum, maximum


def _is_job_percent(text: str, match: re.Match[str]) -> bool:
    before = text[max(0, match.start() - _WINDOW) : match.start()]
    before = re.split(r"[.!?;\n](?=\s|$)", before)[-1]
    after = text[match.end() : match.end() + _WINDOW].split("\n")[0]
    if _NOT_JOB.search(after[:25]) or _NOT_JOB.search(before[-25:]):
        return bool(_JOB_BEFORE_STRONG.search(before)) and not _NOT_JOB.search(after[:12])
    return bool(_JOB_AFTER.match(after) or _JOB_BEFORE.search(before) or _JOB_BEFORE_STRONG.search(before))


_JOB_BEFORE_STRONG = re.compile(
    r"(?:stillingsbrøk|stillingsprosent|stillingsstørrelse|stillingsandel|heimelsbrøk|stillingsheimel|omfang)\s*:?\s*$",
    re.IGNORECASE,
)


def _positions(text: str) -> int | None:
    for pattern in (_TIMES, _POSITIONS):
        match = pattern.search(text)
        if match:
            count = match.group("count").lower()
            value = int(count) if count.isdigit() else NUMBER_WORDS[count]
            if 0 < value <= 50:
                return value
    return None


def derive_extent(percent_max: float | None, extent_raw: str | None) -> str | None:
    """full_time when the highest percentage is 100, part_time below; without one, NAV's Heltid/Deltid."""
    if percent_max is not None:
        return Extent.FULL_TIME if percent_max >= 100 else Extent.PART_TIME
    raw = (extent_raw or "").strip().lower()
    if "heltid" in raw and "deltid" in raw:
        return None
    if "heltid" in raw or raw in ("full time", "full-time", "fulltid"):
        return Extent.FULL_TIME
    if "deltid" in raw or raw in ("part time", "part-time"):
        return Extent.PART_TIME
    return None
