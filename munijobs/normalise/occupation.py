"""Occupation: the best STYRK-08 four-digit code among the codes a source attached."""

from __future__ import annotations

from collections.abc import Iterable

from munijobs import codes
from munijobs.items import OccupationCode

STYRK_SYSTEMS = frozenset({"STYRK08", "STYRK08NAV", "STYRK-08", "STYRK"})
PLACEHOLDER = "0000"


def best_styrk(occupations: Iterable[OccupationCode]) -> tuple[str | None, str | None]:
    """(code, name) of the highest-scored STYRK-08 code ("2342.07" -> "2342"); the first one wins a tie."""
    best: tuple[float, str] | None = None
    for occupation in occupations:
        if occupation.system.strip().upper() not in STYRK_SYSTEMS:
            continue
        code = occupation.code.strip().split(".")[0]
        if len(code) != 4 or not code.isdigit() or code == PLACEHOLDER:
            continue
        score = occupation.score if occupation.score is not None else 0.0
        if best is None or score > best[0]:
            best = (score, code)
    if best is None:
        return None, None
    known = codes.occupations().get(best[1])
    return best[1], known.name if known else None
