"""Salary statements: yearly NOK amounts, lønnstrinn, and "etter avtale"/"etter tariff"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from munijobs.normalise.text import lines_containing, lowered

_SALARY_WORD = (
    r"(?:lønn|løn|årslønn|årsløn|lønnsramme|lønnsspenn|lønnsnivå|lønnsintervall|lønnes|lønast|avlønning|salary)"
)
_SALARY_WORD_PATTERN = re.compile(rf"\b{_SALARY_WORD}", re.IGNORECASE)
_AMOUNT = r"\d(?<![\d.,]\d)(?:\d{0,2}(?:[ \u00a0.]\d{3})+|\d{4,6})(?!\d)"
"""An amount of 5-7 digits, maybe grouped by thousands ("550 000"), not part of a longer number. It begins with the
digit (the check on the character before comes after it), so that the regex engine can skip ahead to digits."""
_ANY_AMOUNT = re.compile(_AMOUNT)
_AMOUNTS = re.compile(
    rf"(?P<lead>fra|frå|from|inntil|opptil|up to)?\s*(?:kroner|kr\.?|nok)?\s*(?P<low>{_AMOUNT})(?:,-|,00)?"
    rf"(?:\s*(?:kroner|kr\.?|nok))?(?:\s*(?:-|–|—|til|to)\s*(?:kr\.?|nok)?\s*(?P<high>{_AMOUNT})(?:,-|,00)?)?"
    rf"(?:\s*(?:kroner|kr\.?|nok))?(?P<period>\s*(?:pr\.?|per|i|/)\s*(?:år|året|måned|mnd\.?|månad|month|year))?",
    re.IGNORECASE,
)
_STEP = re.compile(
    r"\b(?:lønnstrinn|løntrinn|lønstrinn|lønnssteg|lønssteg|ltr\.?)\s*(?P<low>\d{1,3})(?:\s*(?:-|–|til)\s*(?P<high>\d{1,3}))?\b"
)
"""Lønnstrinn, matched in lower-cased text (as _TERMS): a case-insensitive alternation scans several times slower."""
_TERMS = re.compile(
    rf"{_SALARY_WORD}\w*\b[^.\n]{{0,30}}?\b(?P<terms>(?:etter|i henhold til|i samsvar med|ifølge|iht\.?)\s+"
    r"(?:nærmere |nærmare |gjeldande |gjeldende |sentrale |lokale |kvalifikasjoner og )?"
    r"(?:avtale|avtalar|avtaler|tariff|tariffavtale|hovedtariffavtalen|hovudtariffavtalen|kvalifikasjonar"
    r"|kvalifikasjoner|regulativ|lønnsregulativ|statens lønnsregulativ)\w*)"
)
SALARY_HINTS = ("løn", "ltr", "salary")
"""Every salary statement has one of these in its line; other lines are not searched."""
YEARLY_RANGE = (100_000, 5_000_000)
MONTHLY_RANGE = (15_000, 400_000)


@dataclass(frozen=True)
class SalaryResult:
    """Yearly salary range in NOK where stated, and the statement in words."""

    minimum: float | None = None
    maximum: float | None = None
    text: str | None = None


def _amount(value: str | None) -> float | None:
    return float(re.sub(r"\D", "", value)) if value else None


def parse_salary(text: str | None) -> SalaryResult:
    """The salary an ad states: amounts (near a salary word) first, then lønnstrinn, then terms like "etter avtale"."""
    text = "\n".join(lines_containing(text or "", SALARY_HINTS))
    if not text:
        return SalaryResult()
    words = _SALARY_WORD_PATTERN.finditer(text) if _ANY_AMOUNT.search(text) else ()
    for word in words:
        line_start = text.rfind("\n", 0, word.start()) + 1
        line_end = text.find("\n", word.end())
        line_end = len(text) if line_end < 0 else line_end
        amounts = _amounts_in(text[max(line_start, word.start() - 60) : min(line_end, word.end() + 120)])
        if amounts:
            return amounts
    lower = lowered(text)
    step = _STEP.search(lower)
    if step:
        steps = step["low"] + (f"-{step['high']}" if step["high"] else "")
        return SalaryResult(text=f"lønnstrinn {steps}")
    terms = _TERMS.search(lower)
    if terms:
        return SalaryResult(text=re.sub(r"\s+", " ", terms["terms"]))
    return SalaryResult()


def _amounts_in(sentence: str) -> SalaryResult | None:
    for match in _AMOUNTS.finditer(sentence):
        low, high = _amount(match["low"]), _amount(match["high"])
        monthly = bool(match["period"]) and re.search(r"måne?d|mnd|month", match["period"], re.IGNORECASE)
        bounds = MONTHLY_RANGE if monthly else YEARLY_RANGE
        if not all(bounds[0] <= v <= bounds[1] for v in (low, high) if v is not None):
            continue
        factor = 12 if monthly else 1
        low, high = low * factor, high * factor if high is not None else None
        lead = (match["lead"] or "").lower()
        words = re.sub(r"\s+", " ", match.group(0)).strip()
        if lead in ("inntil", "opptil", "up to") and high is None:
            return SalaryResult(None, low, words)
        if lead in ("fra", "frå", "from") and high is None:
            return SalaryResult(low, None, words)
        return SalaryResult(low, high if high is not None else low, words)
    return None
