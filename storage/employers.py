"""The employer cache: Brønnøysund units (one row per org number) and per-source employer-name scope decisions.

Spiders read a unit's chain up to its legal top unit from here before asking Brønnøysund, so each org number is
looked up once and refreshed after `MAX_AGE`; they write what they learnt in batches. Knows nothing of Scrapy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from storage.db import session_scope, upsert
from storage.models import Employer, EmployerNameDecision

MAX_AGE = timedelta(days=30)
MAX_CHAIN = 10
"""Longest parent chain followed (guards against a cycle in bad data)."""
AMBIGUOUS = "ambiguous"
"""Scope of a name that was decided differently for different employers: never used to skip an ad."""


@dataclass(frozen=True, slots=True)
class EmployerUnit:
    """One Brønnøysund unit (enhet or underenhet), or a number Brønnøysund does not know (found=False)."""

    orgnr: str
    name: str | None = None
    org_form: str | None = None
    parent_orgnr: str | None = None
    municipality_code: str | None = None
    is_subunit: bool = False
    found: bool = True
    fetched_at: datetime | None = None

    def is_fresh(self, now: datetime | None = None) -> bool:
        """Fetched less than MAX_AGE ago."""
        return self.fetched_at is not None and (now or datetime.now(UTC)) - self.fetched_at < MAX_AGE


@dataclass(frozen=True, slots=True)
class NameDecision:
    """The scope decided for an employer name at a source, and how."""

    scope: str
    method: str
    orgnr: str | None = None


def _unit(row: Employer) -> EmployerUnit:
    return EmployerUnit(
        orgnr=row.orgnr,
        name=row.name,
        org_form=row.org_form,
        parent_orgnr=row.parent_orgnr,
        municipality_code=row.municipality_code,
        is_subunit=row.is_subunit,
        found=row.found,
        fetched_at=row.fetched_at,
    )


def load_units(engine: Engine, orgnrs: Iterable[str] | None = None) -> dict[str, EmployerUnit]:
    """Cached units by org number, all of them when `orgnrs` is None (stale ones included; check `is_fresh`)."""
    query = select(Employer)
    if orgnrs is not None:
        wanted = sorted(set(orgnrs))
        if not wanted:
            return {}
        query = query.where(Employer.orgnr.in_(wanted))
    with Session(engine) as session:
        return {row.orgnr: _unit(row) for row in session.scalars(query)}


def save_units(engine: Engine, units: Iterable[EmployerUnit]) -> None:
    """Insert or refresh units in one transaction; fetched_at defaults to now."""
    now = datetime.now(UTC)
    rows = [
        {
            "orgnr": unit.orgnr,
            "name": unit.name,
            "org_form": unit.org_form,
            "parent_orgnr": unit.parent_orgnr,
            "municipality_code": unit.municipality_code,
            "is_subunit": unit.is_subunit,
            "found": unit.found,
            "fetched_at": unit.fetched_at or now,
        }
        for unit in {unit.orgnr: unit for unit in units}.values()
    ]
    if rows:
        with session_scope(engine) as session:
            upsert(session, Employer, rows, ("orgnr",))


def load_name_decisions(engine: Engine, source: str) -> dict[str, NameDecision]:
    """All employer-name decisions of a source, by name."""
    with Session(engine) as session:
        rows = session.scalars(select(EmployerNameDecision).where(EmployerNameDecision.source == source))
        return {row.name: NameDecision(scope=row.scope, method=row.method, orgnr=row.orgnr) for row in rows}


def merge_decision(old: NameDecision | None, new: NameDecision) -> NameDecision:
    """The decision to keep for a name: the new one, unless the name was decided differently before (AMBIGUOUS)."""
    if old is None or old.scope == new.scope:
        return new
    return NameDecision(scope=AMBIGUOUS, method=old.method, orgnr=old.orgnr)


def save_name_decisions(engine: Engine, source: str, decisions: dict[str, NameDecision]) -> None:
    """Insert or replace decisions by name, in one transaction (merge them first with `merge_decision`)."""
    now = datetime.now(UTC)
    rows = [
        {"source": source, "name": name, "scope": d.scope, "method": d.method, "orgnr": d.orgnr, "decided_at": now}
        for name, d in decisions.items()
    ]
    if rows:
        with session_scope(engine) as session:
            upsert(session, EmployerNameDecision, rows, ("source", "name"))
