"""Work location names to 2024 municipality and county codes, with old, bilingual and Sami name forms."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

from munijobs import codes

FORMER_NAMES_FILE = "no_former_names.csv"
POSTAL_COUNTIES_FILE = "no_postal_code_counties.csv"
_SUFFIX = re.compile(r"\s+(?:kommune|herad|municipality|fylkeskommune|fylke|county)$")
_QUALIFIED = re.compile(r"^(?P<name>.+?)\s*(?:\((?P<paren>[^)]+)\)|\s(?:i|på)\s(?P<tail>.+))$")
_PARTS = re.compile(r"\s+-\s+|\s*/\s*|\s*,\s*")
_FOLD = str.maketrans({"ŋ": "n", "đ": "d", "ŧ": "t", "ʒ": "z", "æ": "ae", "ø": "o"})


@dataclass(frozen=True)
class Candidate:
    """A municipality a name may mean, with every county code it may be listed under."""

    code: str
    counties: frozenset[str]


def _key(name: str) -> str:
    name = re.sub(r"[\u2010-\u2015]", "-", name.casefold())
    name = re.sub(r"\s+", " ", name).strip(" .,")
    return _SUFFIX.sub("", name)


def _folded(key: str) -> str:
    decomposed = unicodedata.normalize("NFKD", key.translate(_FOLD))
    return re.sub(r"[\u0300-\u036f'’-]", "", decomposed).replace(" ", "")


def _former_rows() -> list[dict[str, str]]:
    with (codes.DATA / FORMER_NAMES_FILE).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@cache
def _county_index() -> dict[str, frozenset[str]]:
    index: dict[str, set[str]] = defaultdict(set)
    for county in codes.counties().values():
        for form in (county.name, *_PARTS.split(county.name)):
            index[_key(form)].add(county.code)
    for row in _former_rows():
        if row["kind"] in ("county", "district"):
            index[_key(row["name"])].update(row["code"].split("|"))
    return {key: frozenset(value) for key, value in index.items()}


@cache
def _municipality_index() -> tuple[dict[str, tuple[Candidate, ...]], dict[str, tuple[Candidate, ...]]]:
    exact: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for municipality in codes.municipalities().values():
        for form in municipality.names:
            exact[_key(form)][municipality.code].add(municipality.county_code)
    for row in _former_rows():
        if row["kind"] == "municipality":
            counties = set(resolve_county(row["old_county"])) | {row["code"][:2]}
            exact[_key(row["name"])][row["code"]].update(counties)
    folded: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for key, by_code in exact.items():
        for code, counties in by_code.items():
            folded[_folded(key)][code].update(counties)
    return _freeze(exact), _freeze(folded)


def _freeze(index: dict[str, dict[str, set[str]]]) -> dict[str, tuple[Candidate, ...]]:
    return {
        key: tuple(Candidate(code, frozenset(counties)) for code, counties in sorted(by_code.items()))
        for key, by_code in index.items()
    }


@cache
def _postal_counties() -> dict[str, str]:
    """Postal code -> county code (2024), from munijobs/data/no_postal_code_counties.csv (ODbL, see .source.txt)."""
    with (codes.DATA / POSTAL_COUNTIES_FILE).open(encoding="utf-8", newline="") as fh:
        return {row["postnummer"]: row["fylkesnummer"] for row in csv.DictReader(fh)}


def county_of_postal_code(postal_code: str | None) -> str | None:
    """County code (2024) of a Norwegian four-digit postal code, from the shipped postal code register."""
    if not postal_code:
        return None
    return _postal_counties().get(postal_code.strip().zfill(4))


def resolve_county(name: str | None) -> frozenset[str]:
    """The 2024 county codes a county name (current, bilingual, pre-2024, pre-2020 or a district) may mean."""
    if not name or not name.strip():
        return frozenset()
    index = _county_index()
    key = _key(name)
    if key in index:
        return index[key]
    for part in _PARTS.split(key):
        if part in index:
            return index[part]
    return frozenset()


def _lookup(name: str) -> tuple[Candidate, ...]:
    exact, folded = _municipality_index()
    key = _key(name)
    if key in exact:
        return exact[key]
    for part in _PARTS.split(key):
        if part in exact:
            return exact[part]
    return folded.get(_folded(key), ())


def _counties_named_in(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset()
    key = _key(text)
    found: set[str] = set()
    for name, counties in _county_index().items():
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", key):
            found.update(counties)
    return frozenset(found)


def _county_hints(
    qualifier: frozenset[str], county_hint: frozenset[str], postal_code: str | None, employer_name: str | None
) -> Iterator[frozenset[str]]:
    """County codes that may tell same-named municipalities apart, strongest first (computed only when needed)."""
    yield qualifier
    yield county_hint
    postal_county = county_of_postal_code(postal_code)
    yield frozenset({postal_county}) if postal_county else frozenset()
    yield _counties_named_in(employer_name)


def resolve_municipality(
    name: str | None,
    county: str | None = None,
    postal_code: str | None = None,
    employer_name: str | None = None,
) -> tuple[str | None, str | None, str | None]:
    """(municipality code, county code, note): None for the code when the name is unknown or stays ambiguous.

    A name shared by several municipalities (Herøy, Våler; Sande, Bø, Os, Nes with their former namesakes) is
    decided by a qualifier in the name ("Våler i Solør"), the county, the postal code or a county named in the
    employer name, in that order; when none decides, the code stays empty and the note says why.
    """
    county_hint = resolve_county(county)
    county_only = next(iter(county_hint)) if len(county_hint) == 1 else county_of_postal_code(postal_code)
    if not name or not name.strip():
        return None, county_only, None
    candidates = _lookup(name)
    qualifier: frozenset[str] = frozenset()
    qualified = _QUALIFIED.match(name.strip())
    if not candidates and qualified:
        qualifier = resolve_county(qualified["paren"] or qualified["tail"])
        candidates = _lookup(qualified["name"]) if qualifier or qualified["paren"] else ()
    if not candidates:
        return None, county_only, f"unknown municipality name {name!r}"
    for counties in _county_hints(qualifier, county_hint, postal_code, employer_name):
        if len(candidates) == 1:
            break
        candidates = tuple(c for c in candidates if c.counties & counties) or candidates
    if len(candidates) == 1:
        return candidates[0].code, candidates[0].code[:2], None
    shared_county = {c.code[:2] for c in candidates}
    codes_found = ", ".join(c.code for c in candidates)
    return (
        None,
        shared_county.pop() if len(shared_county) == 1 else None,
        f"ambiguous municipality name {name!r}: {codes_found}",
    )


@lru_cache(maxsize=4096)
def is_place_name(name: str) -> bool:
    """True when `name` is the name of a municipality or county (current, former, bilingual; any case)."""
    exact, folded = _municipality_index()
    key = _key(name)
    return key in exact or key in _county_index() or _folded(key) in folded
