"""Job percentage (stillingsprosent), number of positions and extent."""

from __future__ import annotations

import re
from dataclasses import dataclass

from munijobs.constants import Extent
from munijobs.normalise.text import lines_containing, lowered

NUMBER_WORDS = {
    **{"en": 1, "ein": 1, "ei": 1, "eit": 1, "ett": 1, "eitt": 1, "to": 2, "tre": 3, "fire": 4, "fem": 5, "seks": 6},
    **{"sju": 7, "syv": 7, "åtte": 8, "ni": 9, "ti": 10, "elleve": 11, "tolv": 12},
}
"""Number words (bokmål and nynorsk) that count positions ("to stillinger", "tre stillingar")."""

_NUM_REST = r"\d{0,2}(?:[.,]\d{1,2})?"
_NUM = rf"\d{_NUM_REST}"
_PCT = r"\s*(?:%|prosent\b)"
_PERCENT = re.compile(
    rf"(?P<low>\d(?<![\d.,]\d){_NUM_REST})(?:{_PCT})?(?:\s*(?:-|–|—|til|og|/)\s*(?P<high>{_NUM}))?{_PCT}",
    re.IGNORECASE,
)
"""A percentage or a range of them; the number not part of a longer one (checked after its first digit, so that the
regex engine can skip ahead to digits)."""
_BOUND_BEFORE = re.compile(r"\b(?P<bound>inntil|opptil|minimum|minst)\s+$", re.IGNORECASE)
"""A word right before a single percentage that makes it only an upper or a lower bound."""
_COUNT = r"(?P<count>\d{1,2}|" + "|".join(NUMBER_WORDS) + r")"
_COUNTED_NOUN = re.compile(
    r"\b(?:(?P<plural>stillinger|stillingar|vikariater|stillingsheimlar|heimlar|hjemler|lærlingplasser|lærlingplassar"
    r"|sommervikarer|sommarvikarar)|(?P<either>vikariat|engasjement)|stilling|heimel|hjemmel)\b"
)
"""Nouns that are counted ("to stillinger"); a singular noun only takes a count of one ("ei fast stilling"). Not
"årsverk": a unit's staff ("en enhet som har 13 årsverk") is no count of positions. Matched in lower-cased text: a
case-insensitive alternation scans several times slower."""
_RANGE_BEFORE = re.compile(rf"\b{_COUNT}\s*(?:-|–|—|til|eller)\s*$")
"""The first half of a range of counts ("2–4 stillinger", "to eller tre stillingar"): no number of positions."""
_COUNT_BEFORE = re.compile(
    rf"\b{_COUNT}\s+(?:(?:nye|nytt|ledige?|faste?|midlertidige?|mellombelse?|heile|hele|fulle"
    r"|\d{1,3}\s*(?:%|prosent))\s+){0,3}$"
)
"""A count right before a counted noun, in lower-cased text."""
_TIMES = re.compile(rf"(?P<count>\d(?<!\w\d)\d?)\s*[x×]\s*{_NUM}{_PCT}", re.IGNORECASE)
""""2 x 50 %": the count starts a word (checked after its first digit, so that the engine can skip to digits)."""

_JOB_BEFORE_STRONG = re.compile(
    r"(?:stillingsbrøk|stillingsprosent|stillingsstørrelse|stillingsandel|heimelsbrøk|stillingsheimel|omfang)\s*:?\s*$",
    re.IGNORECASE,
)
"""Labels that make the next percentage a job percentage whatever follows."""
_JOB_BEFORE = re.compile(
    r"(?:stilling\w*|heimel\w*|hjemmel\w*|arbeidstid|deltid|heltid|vikariat\w*|engasjement\w*|årsverk|størrelse"
    r"|brøk|prosent|tilsetting|tilsetjing|ansettelse)\s*$"
    r"|\b(?:fast\w*|à|á|a|x|på|i|ein|en|et|eit|ei|ledig|og|inntil|opptil|minst|minimum)\s*$"
    r"|[:\-–,(/×]\s*$",
    re.IGNORECASE,
)
"""Words and signs right before a percentage that make it a job percentage ("stilling på 80 %", "2 à 50 %")."""
_JOB_NOUN_AFTER = re.compile(
    r"^\s*(?:\)|,|-|–)?\s*(?:fast|faste|vikariat\w*|engasjement\w*|stilling\w*|heimel\w*|hjemmel|deltid\w*"
    r"|heltid\w*|mellombels\w*|midlertidig\w*|årsverk|prosjektstilling\w*|natt|dag|turnus|\w*vakt\w*)\b",
    re.IGNORECASE,
)
_NOT_JOB = re.compile(
    r"rabatt|pensjon|lønn|løn\b|tilskudd|tilskot|skatt|rente|avgift|sykefravær|sjukefråvær|fravær|fråvær|andel|økning"
    r"|auke|vekst|reduksjon|trekk|avkastning|oppmøte|dekning|refusjon|kompensasjon|tillegg|godtgjør|sparing"
    r"|prosentpoeng|kvote|innbyggere|innbyggjarar|elever|brukere|tilfredshet|score|resultat|av\s+\w+",
    re.IGNORECASE,
)
"""Words near a percentage that make it something else than a job percentage (discount, pension, share of pay)."""
_NOT_JOB_BEFORE = re.compile(
    r"\b(?:med|økt|økte|auka|over|under|ca\.?|cirka|om lag|rundt|nesten|drøyt|kun|bare|berre)\s*$", re.IGNORECASE
)
"""Words right before a percentage that make it an amount of change or an estimate."""
_SENTENCE_WORD = re.compile(r"\b(?:om|av|er|har|var|ble|blir|vart|vert|det|vi|du|som)\b", re.IGNORECASE)
"""Words of a sentence, not of a title: a bare percentage ending such a line is a figure, not a job percentage."""
_WINDOW = 40
PERCENT_HINTS = ("%", "prosent")
COUNTED_NOUN_HINTS = (
    "stilling",
    "vikar",
    "engasjement",
    "heimel",
    "heimlar",
    "hjemmel",
    "hjemler",
    "lærlingplass",
)
"""Lower-case words that pick the lines worth the full patterns."""


@dataclass(frozen=True)
class PercentResult:
    """Job percentage range and number of positions found in a text."""

    minimum: float | None = None
    maximum: float | None = None
    positions: int | None = None
    positions_range: str | None = None
    """A range of positions the text gives instead of a number ("2–4 stillinger"), as written."""


def parse_job_percent(*texts: str | None) -> PercentResult:
    """Job percentage and positions from texts in priority order (title first): the first text that states one wins."""
    minimum = maximum = positions = positions_range = None
    for text in texts:
        if not text:
            continue
        if maximum is None:
            minimum, maximum = _percent_range(text)
        if positions is None and positions_range is None:
            positions, positions_range = _positions(text)
    return PercentResult(minimum, maximum, positions, positions_range)


def parse_percent_field(raw: str | None) -> PercentResult:
    """A structured percentage field ("100", "50-100 %", "80%"): bare numbers count as percentages."""
    if not raw or not raw.strip():
        return PercentResult()
    match = re.fullmatch(rf"\s*({_NUM})\s*%?\s*(?:(?:-|–|til)\s*({_NUM})\s*%?)?\s*", raw)
    if not match:
        return parse_job_percent(raw)
    values = [v for v in (_number(match.group(1)), _number(match.group(2))) if v is not None]
    if not all(0 < v <= 100 for v in values):
        return PercentResult()
    return PercentResult(min(values), max(values))


def _number(value: str | None) -> float | None:
    return float(value.replace(",", ".")) if value else None


def _percent_range(text: str) -> tuple[float | None, float | None]:
    lows: list[float] = []
    highs: list[float] = []
    for line in lines_containing(text, PERCENT_HINTS):
        _collect_percentages(line, lows, highs)
    if not highs and not lows:
        return None, None
    return (min(lows) if lows else None), max(highs or lows)


def _collect_percentages(text: str, lows: list[float], highs: list[float]) -> None:
    for match in _PERCENT.finditer(text):
        if not _is_job_percent(text, match):
            continue
        low, high = _number(match.group("low")), _number(match.group("high"))
        values = [v for v in (low, high) if v is not None]
        if not all(0 < v <= 100 for v in values):
            continue
        bound = _BOUND_BEFORE.search(text, max(0, match.start() - 12), match.start()) if high is None else None
        bound_word = bound["bound"].lower() if bound else ""
        if bound_word in ("inntil", "opptil"):
            highs.append(values[0])
        elif bound_word in ("minimum", "minst"):
            lows.append(values[0])
        else:
            lows.append(min(values))
            highs.append(max(values))


def _is_job_percent(text: str, match: re.Match[str]) -> bool:
    before = text[max(0, match.start() - _WINDOW) : match.start()]
    before = re.split(r"[.!?;\n](?=\s|$)", before)[-1]
    after = text[match.end() : match.end() + _WINDOW].split("\n")[0]
    if _JOB_BEFORE_STRONG.search(before):
        return True
    if _NOT_JOB.search(after[:12]):
        return False
    if _JOB_NOUN_AFTER.match(after):
        return True
    if _NOT_JOB.search(before[-25:]) or _NOT_JOB_BEFORE.search(before):
        return False
    if _JOB_BEFORE.search(before):
        return True
    return not after.strip() and not _SENTENCE_WORD.search(before)


def _positions(text: str) -> tuple[int | None, str | None]:
    """The number of positions the text states explicitly, or else the range it gives instead of one."""
    for line in lines_containing(text, PERCENT_HINTS):
        times = _TIMES.search(line)
        if times:
            return _count(times["count"]), None
    for line in lines_containing(text, COUNTED_NOUN_HINTS):
        count, range_text = _count_in_line(line)
        if count or range_text:
            return count, range_text
    return None, None


def _count_in_line(text: str) -> tuple[int | None, str | None]:
    lower = lowered(text)
    for noun in _COUNTED_NOUN.finditer(lower):
        before = _COUNT_BEFORE.search(lower, max(0, noun.start() - 50), noun.start())
        if not before:
            continue
        first = _RANGE_BEFORE.search(lower, max(0, before.start() - 20), before.start())
        if first:
            return None, text[first.start() : noun.end()]
        count = _count(before["count"])
        if count and (noun["either"] or (count > 1) == bool(noun["plural"])):
            return count, None
    return None, None


def _count(word: str) -> int | None:
    value = int(word) if word.isdigit() else NUMBER_WORDS[word.lower()]
    return value if 0 < value <= 50 else None


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
