"""Employer scope: is an employer a municipality, a county municipality or one of their enterprises?

Authoritative answer: the Brønnøysund register (Enhetsregisteret). NAV gives the underenhet (establishment); we climb
`overordnetEnhet` to the legal top unit and look at its org form. Without a usable org number the employer name
decides ("Leka kommune", "Ulvik herad", "Troms fylkeskommune", Sami and bilingual names).
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Engine

from munijobs import codes
from munijobs.constants import MUNICIPAL_ORG_FORMS, PUBLIC_ORG_FORMS, EmployerScope
from storage.boundary import storable
from storage.employers import MAX_CHAIN, EmployerUnit, load_units, save_units

MUNICIPAL = "municipal"
PUBLIC = "public"
PRIVATE = "private"

BY_BRREG = "brreg"
BY_NAME = "name"
BY_KNOWN_EMPLOYER = "known_employer"
BY_FEED_ENTRY = "feed_entry"

PUBLIC_SECTOR = "Offentlig"
_PRIVATE_SUFFIXES = frozenset({"AS", "ASA", "SA", "ANS", "DA", "ENK", "NUF", "A/S"})
_PUBLIC_SUFFIXES = frozenset({"HF", "SF"})
_SAMI_WORDS = ("suohkan", "gielda", "tjïelte", "tjielte", "kommuuni")
"""North, Lule and South Sami and Kven words for "municipality"; the place before them is often in the genitive."""
_MUNICIPALITY_WORDS = ("kommune", "herad", *_SAMI_WORDS)
_MUNICIPALITY_NAME = re.compile(
    rf"^(?P<place>.+?)\s+(?P<word>{'|'.join(_MUNICIPALITY_WORDS)})(?=$|[\s,.;:(/–-])"
)
_COUNTY_WORDS = ("fylkeskommune", "fylkkagielda", "fylkkasuohkan", "fylhkentjïelte", "fylkentjïelte")
_COUNTY_NAME = re.compile(rf"^\S.*\s+(?:{'|'.join(_COUNTY_WORDS)})(?:\s*\([^)]*\))?$")
_MUNICIPAL_ENTERPRISE_SUFFIXES = frozenset({"IKS", "KF", "FKF"})
"""Inter-municipal company, municipal and county-municipal enterprise: municipal by their form."""
_NAME_PARTS = re.compile(r"\s*[,;]\s*|\s*\(\s*|\s*\)\s*")
_SAMI_STEM_SLACK = 3
"""Characters a Sami genitive may differ from the nominative at the end ("Guovdageainnu" / "Guovdageaidnu")."""
FORMER_NAMES_FILE = "no_former_names.csv"
NAME_SEARCH_SIZE = 20
_ORGNR = re.compile(r"^\d{9}$")
_MUNICIPALITY_CODE = re.compile(r"^\d{4}$")
NAME_MAX = 500
ORG_FORM_MAX = 10

Fetch = Callable[[str], Awaitable[tuple[int, Any]]]
"""Downloads a URL and returns (HTTP status, parsed JSON or None); raises BrregUnavailable when it cannot."""


class BrregUnavailable(RuntimeError):
    """Brønnøysund could not be asked (network error, 5xx after retries, malformed answer)."""


class MalformedUnit(BrregUnavailable):
    """Brønnøysund answered, but not with a unit we can read: the scope is unknown (never "private")."""


@dataclass(frozen=True, slots=True)
class ScopeDecision:
    """Scope of an employer (municipal, public, private), how it was decided, and the legal top unit if known."""

    scope: str
    method: str
    top: EmployerUnit | None = None
    note: str | None = None
    """Why the decision is not what its method usually means (e.g. a broken org chain decided by the name)."""


def is_orgnr(value: str | None) -> bool:
    """Nine digits."""
    return isinstance(value, str) and bool(_ORGNR.match(value))


def in_scope(setting: str, scope: str) -> bool:
    """Whether an employer of this scope is kept under EMPLOYER_SCOPE `setting`."""
    if setting == EmployerScope.ALL:
        return True
    if setting == EmployerScope.PUBLIC:
        return scope in (MUNICIPAL, PUBLIC)
    return scope == MUNICIPAL


def scope_of_org_form(org_form: str | None) -> str:
    """municipal for KOMM/FYLK/KF/FKF/IKS, public for the state and other public forms, else private."""
    if org_form in MUNICIPAL_ORG_FORMS:
        return MUNICIPAL
    if org_form in PUBLIC_ORG_FORMS:
        return PUBLIC
    return PRIVATE


@cache
def _municipality_name_forms() -> frozenset[str]:
    """Current official name forms (bilingual and Sami ones included) and names of municipalities merged away."""
    forms = {form.lower() for m in codes.municipalities().values() for form in m.names}
    with (codes.DATA / FORMER_NAMES_FILE).open(encoding="utf-8", newline="") as fh:
        forms.update(row["name"].lower() for row in csv.DictReader(fh) if row["kind"] == "municipality")
    return frozenset(forms)


def _normalised(name: str) -> str:
    return " ".join(name.replace("\u2013", "-").split()).lower()


def _is_sami_genitive(place: str) -> bool:
    """A Sami genitive of a known name form: "guovdageainnu" (Guovdageaidnu), "kárášjoga" (Kárášjohka)."""
    for form in _municipality_name_forms():
        stem = max(3, len(form) - _SAMI_STEM_SLACK)
        if len(form) >= 4 and place[:stem] == form[:stem] and abs(len(place) - len(form)) <= _SAMI_STEM_SLACK:
            return True
    return False


def _is_municipality_or_county(part: str) -> bool:
    if _COUNTY_NAME.match(part):
        return True
    match = _MUNICIPALITY_NAME.match(part)
    if match is None:
        return False
    place = match["place"]
    return place in _municipality_name_forms() or (match["word"] in _SAMI_WORDS and _is_sami_genitive(place))


def _has_enterprise_suffix(name: str) -> bool:
    words = name.split()
    return len(words) > 1 and words[-1].strip(".,") in _MUNICIPAL_ENTERPRISE_SUFFIXES


def organisation_part(name: str | None) -> str | None:
    """The part of an employer string that names a municipality or county municipality.

    "Dalgård skole og ressurssenter, Trondheim kommune" gives "Trondheim kommune"; "Oslo kommune, Bydel Frogner"
    gives "Oslo kommune"; "Finnmark fylkeskommune (FFK)" gives "Finnmark fylkeskommune (FFK)". None when no part does.
    """
    if not name:
        return None
    text = " ".join(name.split())
    if _is_municipality_or_county(_normalised(text)):
        match = _MUNICIPALITY_NAME.match(text.lower())
        return text if match is None or _COUNTY_NAME.match(_normalised(text)) else text[: match.end()]
    for part in _NAME_PARTS.split(text):
        if part and _is_municipality_or_county(_normalised(part)):
            return part
    return None


def is_municipal_name(name: str | None) -> bool:
    """Whether the name alone shows a municipal employer.

    Forms: "X kommune" / "X herad" / Sami "X suohkan", "X gielda", "X tjïelte" (genitives too) for a current or a
    merged-away municipality ("Nøtterøy kommune"), bilingual names ("Trondheim - Tråante kommune"), "X fylkeskommune"
    with an abbreviation ("Finnmark fylkeskommune (FFK)"), any of those as one part of the name ("Dalgård skole og
    ressurssenter, Trondheim kommune", "Oslo kommune, Bydel Frogner"), and the suffixes IKS, KF and FKF.
    """
    if not name or not name.strip():
        return False
    return _has_enterprise_suffix(name.strip()) or organisation_part(name) is not None


def scope_from_company_suffix(name: str | None) -> str | None:
    """private for names ending in a private company form (" AS", " ASA", " SA", " ANS", " DA", " ENK", ...),
    public for health and state enterprises (" HF", " SF"); None otherwise."""
    if not name or " " not in name.strip():
        return None
    suffix = name.strip().rsplit(None, 1)[-1].strip(".,")
    if suffix in _PRIVATE_SUFFIXES or suffix.upper() in ("AS", "ASA"):
        return PRIVATE
    return PUBLIC if suffix in _PUBLIC_SUFFIXES else None


BROKEN_CHAIN = "broken_chain"
"""Note key: the org chain ended below a legal unit, so the employer name decided."""
_NEEDS_PARENT = frozenset({"ORGL"})
"""Org forms that always sit under another unit: a chain ending at one is broken."""


def is_broken_chain(chain: list[EmployerUnit]) -> bool:
    """The chain ends at a sub-unit or an organisasjonsledd (deleted or closed sub-unit, parent unknown)."""
    top = chain[-1]
    return top.is_subunit or top.org_form in _NEEDS_PARENT


def decide_by_chain(chain: list[EmployerUnit], name: str | None = None, sector: str | None = None) -> ScopeDecision:
    """Scope from the org form of the chain's legal top unit; a broken chain falls back to the name (and says so)."""
    top = chain[-1]
    if is_broken_chain(chain):
        by_name = decide_by_name(name, sector)
        note = f"org chain of {chain[0].orgnr} ends at {top.orgnr} ({top.org_form or 'no org form'}): decided by name"
        return replace(by_name, note=note)
    return ScopeDecision(scope_of_org_form(top.org_form), BY_BRREG, top)


def decide_by_name(name: str | None, sector: str | None) -> ScopeDecision:
    """Scope from the employer name; NAV's sector "Offentlig" makes a non-municipal name public."""
    if is_municipal_name(name):
        return ScopeDecision(MUNICIPAL, BY_NAME)
    return ScopeDecision(PUBLIC if sector == PUBLIC_SECTOR else PRIVATE, BY_NAME)


def name_search_url(base_url: str, name: str) -> str:
    """Brønnøysund search of top units (enheter) by name."""
    query = urllib.parse.urlencode({"navn": name, "size": NAME_SEARCH_SIZE})
    return f"{base_url.rstrip('/')}/enheter?{query}"


def _comparable(name: str) -> str:
    """A name for comparison: lower case, no abbreviation in brackets, no trailing company form, no punctuation."""
    text = re.sub(r"\([^)]*\)", " ", name.lower())
    words = re.sub(r"[^\w\s-]", " ", text).split()
    if len(words) > 1 and words[-1].upper() in (_MUNICIPAL_ENTERPRISE_SUFFIXES | _PRIVATE_SUFFIXES | _PUBLIC_SUFFIXES):
        words = words[:-1]
    return " ".join(words)


def parse_name_search(data: Any) -> list[EmployerUnit]:
    """The units of a Brønnøysund /enheter search answer (deleted units left out). Raises BrregUnavailable."""
    if not isinstance(data, dict):
        raise BrregUnavailable("malformed Brønnøysund search answer")
    found = (data.get("_embedded") or {}).get("enheter") or []
    if not isinstance(found, list):
        raise BrregUnavailable("malformed Brønnøysund search answer")
    return [parse_unit(unit, subunit=False) for unit in found if isinstance(unit, dict) and not unit.get("slettedato")]


def best_name_match(name: str, units: list[EmployerUnit]) -> EmployerUnit | None:
    """The unit whose name is the employer name (brackets, company form and case aside), filtered by org form.

    Among several, municipal forms win over other public forms, and those over the rest; None when no name matches.
    """
    wanted = _comparable(name)
    matches = [unit for unit in units if unit.name and _comparable(unit.name) == wanted]
    rank = {MUNICIPAL: 0, PUBLIC: 1, PRIVATE: 2}
    matches.sort(key=lambda unit: rank[scope_of_org_form(unit.org_form)])
    return matches[0] if matches else None


async def search_unit_by_name(base_url: str, fetch: Fetch, name: str) -> EmployerUnit | None:
    """The Brønnøysund top unit named `name`, or None. Raises BrregUnavailable when Brønnøysund cannot be asked."""
    status, data = await fetch(name_search_url(base_url, name))
    if status in (400, 404):
        return None
    if status != 200:
        raise BrregUnavailable(f"Brønnøysund answered HTTP {status} for a name search")
    unit = best_name_match(name, parse_name_search(data))
    return None if unit is None else replace(unit, fetched_at=datetime.now(UTC))


def unit_url(base_url: str, orgnr: str, subunit: bool) -> str:
    """Brønnøysund URL of an underenhet or an enhet."""
    return f"{base_url.rstrip('/')}/{'underenheter' if subunit else 'enheter'}/{orgnr}"


def parse_unit(data: Any, subunit: bool) -> EmployerUnit:
    """An EmployerUnit from a Brønnøysund enhet/underenhet JSON object. Raises MalformedUnit on other shapes.

    A value the cache cannot hold (a municipality number that is not four digits) is left out.
    """
    if not isinstance(data, dict) or not isinstance(data.get("organisasjonsnummer"), str) or not is_orgnr(
            data["organisasjonsnummer"]):
        raise MalformedUnit("malformed Brønnøysund unit: no organisasjonsnummer")
    data = storable(data)
    orgnr = data["organisasjonsnummer"]
    org_form = data.get("organisasjonsform")
    if not isinstance(org_form, dict) or not isinstance(org_form.get("kode"), str) or not org_form["kode"].strip():
        raise MalformedUnit(f"malformed Brønnøysund unit {orgnr}: organisasjonsform is {org_form!r}")
    parent = data.get("overordnetEnhet")
    if parent is not None and not (isinstance(parent, str) and is_orgnr(parent)):
        raise MalformedUnit(f"malformed Brønnøysund unit {orgnr}: overordnetEnhet is {parent!r}")
    address = data.get("beliggenhetsadresse" if subunit else "forretningsadresse") or data.get("postadresse")
    code = address.get("kommunenummer") if isinstance(address, dict) else None
    name = data.get("navn")
    return EmployerUnit(
        orgnr=orgnr,
        name=(name.strip()[:NAME_MAX] or None) if isinstance(name, str) else None,
        org_form=org_form["kode"].strip()[:ORG_FORM_MAX],
        parent_orgnr=parent,
        municipality_code=code if isinstance(code, str) and _MUNICIPALITY_CODE.match(code) else None,
        is_subunit=subunit,
    )


class EmployerResolver:
    """Resolves org numbers to their chain of units up to the legal top unit, through the cache and Brønnøysund.

    Each org number is asked at most once per run (concurrent callers share the answer) and once per MAX_AGE
    across runs. The cache is read once; units fetched are written by `save()`, which the caller calls per batch.
    """

    def __init__(self, base_url: str, fetch: Fetch, engine: Engine) -> None:
        self.base_url = base_url
        self.fetch = fetch
        self.engine = engine
        self.requests = 0
        self._units: dict[str, EmployerUnit] = {
            orgnr: unit for orgnr, unit in load_units(engine).items() if unit.is_fresh()
        }
        self._unsaved: list[EmployerUnit] = []
        self._inflight: dict[str, asyncio.Future[EmployerUnit]] = {}
        self._answers: asyncio.Future[bool] | None = None
        self._unfound: set[str] = set()

    def save(self) -> None:
        """Store the units fetched since the last save, in one transaction."""
        if self._unsaved:
            save_units(self.engine, self._unsaved)
            self._unsaved = []
            self._unfound.clear()

    async def chain(self, orgnr: str) -> list[EmployerUnit]:
        """Units from `orgnr` up to its top unit; [unit with found=False] when Brønnøysund does not know it.

        Raises BrregUnavailable when Brønnøysund cannot be asked.
        """
        units = [await self.unit(orgnr, subunit_first=True)]
        while units[-1].found and units[-1].parent_orgnr and len(units) < MAX_CHAIN:
            parent = await self.unit(units[-1].parent_orgnr, subunit_first=False)
            if not parent.found:
                break
            units.append(parent)
        return units

    async def unit(self, orgnr: str, subunit_first: bool) -> EmployerUnit:
        """One unit, from memory, the cache (when fresh) or Brønnøysund."""
        known = self._units.get(orgnr)
        if known is not None and known.is_fresh():
            return known
        inflight = self._inflight.get(orgnr)
        if inflight is not None:
            return await inflight
        future: asyncio.Future[EmployerUnit] = asyncio.get_running_loop().create_future()
        self._inflight[orgnr] = future
        try:
            unit = await self._lookup(orgnr, subunit_first)
        except BrregUnavailable as exc:
            future.set_exception(exc)
            future.exception()  # consumed here; waiters re-raise it
            raise
        finally:
            del self._inflight[orgnr]
        self._unsaved.append(unit)
        self._units[orgnr] = unit
        if not unit.found:
            self._unfound.add(orgnr)
        future.set_result(unit)
        return unit

    async def register_answers(self) -> bool:
        """Whether the register at base_url answers at all (its root gives 200), asked once per run.

        A 404 for an org number means "unknown number" only then; a wrong BRREG_API_URL answers 404 to everything.
        """
        if self._answers is None:
            self._answers = asyncio.get_running_loop().create_future()
            self.requests += 1
            try:
                status, _ = await self.fetch(self.base_url.rstrip("/"))
            except BrregUnavailable:
                status = 0
            self._answers.set_result(status == 200)
        return await self._answers

    @property
    def unfound(self) -> bool:
        """Whether this run got "not found" answers not yet saved."""
        return bool(self._unfound)

    def forget_unfound(self) -> None:
        """Drop this run's "not found" answers: they are not to be believed (nor cached)."""
        self._unsaved = [unit for unit in self._unsaved if unit.found]
        for orgnr in self._unfound:
            self._units.pop(orgnr, None)
        self._unfound.clear()

    async def _lookup(self, orgnr: str, subunit_first: bool) -> EmployerUnit:
        for subunit in (True, False) if subunit_first else (False,):
            self.requests += 1
            status, data = await self.fetch(unit_url(self.base_url, orgnr, subunit))
            if status == 200:
                unit = parse_unit(data, subunit)
                if unit.orgnr != orgnr:
                    raise MalformedUnit(f"Brønnøysund answered unit {unit.orgnr} when asked for {orgnr}")
                return replace(unit, fetched_at=datetime.now(UTC))
            if status not in (404, 410):
                raise BrregUnavailable(f"Brønnøysund answered HTTP {status} for {orgnr}")
        return EmployerUnit(orgnr=orgnr, found=False, fetched_at=datetime.now(UTC))


def _urllib_fetch(user_agent: str, timeout: float, pause: float) -> Fetch:
    """A polite, sequential Fetch for use outside Scrapy (the daily maintenance job)."""

    def get(url: str) -> tuple[int, Any]:
        request = urllib.request.Request(url, headers={"User-Agent": user_agent, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (OSError, ValueError) as exc:
            raise BrregUnavailable(f"{url}: {exc}") from exc
        finally:
            time.sleep(pause)

    async def fetch(url: str) -> tuple[int, Any]:
        return await asyncio.to_thread(get, url)

    return fetch


def refresh_stale_units(engine: Engine, base_url: str, user_agent: str, timeout: float = 30, pause: float = 0.2,
                        fetch: Fetch | None = None) -> tuple[int, int]:
    """Fetch every cached unit older than MAX_AGE from Brønnøysund again; returns (refreshed, failed).

    A unit that cannot be fetched keeps its old row, so its org chain is never lost.
    """
    resolver = EmployerResolver(base_url, fetch or _urllib_fetch(user_agent, timeout, pause), engine)
    stale = [unit for unit in load_units(engine).values() if not unit.is_fresh()]

    async def refresh() -> int:
        failed = 0
        for unit in stale:
            try:
                await resolver.unit(unit.orgnr, subunit_first=unit.is_subunit)
            except BrregUnavailable:
                failed += 1
        return failed

    failed = asyncio.run(refresh())
    resolver.save()
    return len(stale) - failed, failed
