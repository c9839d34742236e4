"""Code lists shipped with munijobs: municipalities and counties (2024 numbering) and STYRK-08.

Loaded once from the CSV files in ``munijobs/data`` (their ``.source.txt`` files say where each came from).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

DATA = files("munijobs") / "data"


def name_forms(name: str) -> tuple[str, ...]:
    """Every official form of a name: the full name and each " - " part ("Trondheim - Tråante", "Trondheim", ...)."""
    parts = tuple(p.strip() for p in name.split(" - "))
    return (name, *parts) if len(parts) > 1 else (name,)


@dataclass(frozen=True)
class Municipality:
    code: str
    """Four-digit municipality number."""
    name: str
    """Official name, multilingual where official ("Trondheim - Tråante")."""
    county_code: str

    @property
    def names(self) -> tuple[str, ...]:
        """Every official name form: the full name and each " - " part ("Trondheim", "Tråante")."""
        return name_forms(self.name)

    @property
    def short_name(self) -> str:
        """First name form ("Trondheim" for "Trondheim - Tråante")."""
        return self.names[1] if len(self.names) > 1 else self.name


@dataclass(frozen=True)
class County:
    code: str
    name: str

    @property
    def names(self) -> tuple[str, ...]:
        """Every official name form ("Nordland - Nordlánnda", "Nordland", "Nordlánnda")."""
        return name_forms(self.name)

    @property
    def short_name(self) -> str:
        return self.names[1] if len(self.names) > 1 else self.name


@dataclass(frozen=True)
class Occupation:
    code: str
    """STYRK-08 four-digit code."""
    name: str
    category_l1: str
    category_l2: str


def _rows(filename: str, delimiter: str = ",") -> list[dict[str, str]]:
    with (DATA / filename).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


@cache
def municipalities() -> dict[str, Municipality]:
    """The 357 municipalities valid from 2024-01-01, by code."""
    return {
        r["kommunenummer"]: Municipality(r["kommunenummer"], r["kommunenavn"].strip(), r["fylkesnummer"])
        for r in _rows("no_kommuner_2024.csv")
    }


@cache
def counties() -> dict[str, County]:
    """The 15 counties valid from 2024-01-01, by code."""
    return {r["fylkesnummer"]: County(r["fylkesnummer"], r["fylkesnavn"].strip()) for r in _rows("no_fylker_2024.csv")}


@cache
def occupations() -> dict[str, Occupation]:
    """STYRK-08 unit groups with NAV's job categories, by four-digit code (0000 is NAV's placeholder)."""
    return {
        r["Styrk code"]: Occupation(
            r["Styrk code"],
            r["Styrk description"].strip(),
            r["Category level 1"].strip(),
            r["Category level 2"].strip(),
        )
        for r in _rows("no_styrk08_nav_category_mapping.csv", delimiter=";")
    }
