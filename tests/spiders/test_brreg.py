"""Employer scope: Brønnøysund chains, the employer cache, name patterns."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from spiders._brreg import (
    BrregUnavailable,
    EmployerResolver,
    decide_by_chain,
    decide_by_name,
    in_scope,
    is_municipal_name,
    parse_unit,
    scope_from_company_suffix,
    scope_of_org_form,
)
from storage.employers import (
    AMBIGUOUS,
    EmployerUnit,
    NameDecision,
    load_name_decisions,
    load_units,
    merge_decision,
    save_name_decisions,
    save_units,
)
from tests.fakes.nav_server import FIXTURES

BRREG = json.loads((FIXTURES / "brreg.json").read_text(encoding="utf-8"))
BASE = "https://brreg.example/enhetsregisteret/api"


@pytest.mark.parametrize(
    "name",
    [
        "Leka kommune",
        "LEKA KOMMUNE",
        "Oslo kommune, Bydel Frogner",
        "Ulvik herad",
        "Vestland fylkeskommune",
        "Troms fylkeskommune (TFK)",
        "Trondheim - Tråante kommune",
        "Snåase - Snåsa kommune",
        "Deatnu suohkan",
        "Tråante tjïelte",
        "Nord-Fron kommune",
    ],
)
def test_municipal_names(name):
    assert is_municipal_name(name)


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        "Kommune",
        "Hjemmetjenesten Brevik",
        "Kirkenes Tannklinikk",
        "Atlantis kommune",
        "Kommunenes Sentralforbund",
        "Statens vegvesen",
    ],
)
def test_not_municipal_names(name):
    assert not is_municipal_name(name)


@pytest.mark.parametrize(
    ("name", "scope"),
    [
        ("Rørlegger Hansen AS", "private"),
        ("Equinor ASA", "private"),
        ("Tine SA", "private"),
        ("Hansen og Sønn ANS", "private"),
        ("Frisør Berit ENK", "private"),
        ("Bygg As", "private"),
        ("Sykehuset Innlandet HF", "public"),
        ("Leka kommune", None),
        ("Salten Brann IKS", None),
        ("AS", None),
        ("Glass", None),
    ],
)
def test_company_form_suffixes(name, scope):
    assert scope_from_company_suffix(name) == scope


def test_org_forms_and_settings():
    assert [scope_of_org_form(form) for form in ("KOMM", "FYLK", "KF", "FKF", "IKS", "STAT", "ORGL", "AS", None)] == [
        "municipal",
        "municipal",
        "municipal",
        "municipal",
        "municipal",
        "public",
        "public",
        "private",
        "private",
    ]
    assert in_scope("municipal", "municipal") and not in_scope("municipal", "public")
    assert in_scope("public", "public") and not in_scope("public", "private")
    assert in_scope("all", "private")


def test_decide_by_name_uses_the_sector_for_public():
    assert decide_by_name("Ulvik herad", None).scope == "municipal"
    assert decide_by_name("Hjemmetjenesten Brevik", "Offentlig").scope == "public"
    assert decide_by_name("Hjemmetjenesten Brevik", "Privat").scope == "private"


def test_parse_units_of_both_kinds():
    sub = parse_unit(BRREG["underenheter"]["910000002"], subunit=True)
    assert (sub.orgnr, sub.parent_orgnr, sub.municipality_code, sub.is_subunit) == (
        "910000002",
        "920000002",
        "5001",
        True,
    )
    top = parse_unit(BRREG["enheter"]["920000003"], subunit=False)
    assert (top.org_form, top.parent_orgnr, top.is_subunit) == ("KOMM", None, False)
    with pytest.raises(BrregUnavailable):
        parse_unit({"navn": "x"}, subunit=False)


class FakeBrreg:
    """Answers resolver fetches from the fixture file and counts them."""

    def __init__(self, status: int | None = None):
        self.urls: list[str] = []
        self.status = status

    async def __call__(self, url: str):
        self.urls.append(url)
        await asyncio.sleep(0.01)
        if self.status:
            return self.status, None
        kind, orgnr = url.split("/")[-2:]
        data = BRREG[kind].get(orgnr)
        return (200, data) if data else (404, None)


def test_resolver_climbs_orgl_levels_and_caches(engine):
    fetch = FakeBrreg()
    resolver = EmployerResolver(BASE, fetch, engine)

    async def resolve_twice_at_once():
        return await asyncio.gather(resolver.chain("910000002"), resolver.chain("910000002"))

    first, second = asyncio.run(resolve_twice_at_once())
    assert [unit.orgnr for unit in first] == ["910000002", "920000002", "920000003"] == [u.orgnr for u in second]
    decision = decide_by_chain(first)
    assert (decision.scope, decision.method, decision.top.org_form) == ("municipal", "brreg", "KOMM")
    assert fetch.urls == [f"{BASE}/underenheter/910000002", f"{BASE}/enheter/920000002", f"{BASE}/enheter/920000003"]
    assert load_units(engine, ["910000002"]) == {}  # written per batch
    resolver.save()
    stored = load_units(engine, ["910000002", "920000002", "920000003"])
    assert stored["920000002"].org_form == "ORGL" and stored["910000002"].municipality_code == "5001"

    asyncio.run(resolver.chain("910000002"))
    assert len(fetch.urls) == 3  # asked again in the same run: answered from memory

    later_fetch = FakeBrreg()
    chain = asyncio.run(EmployerResolver(BASE, later_fetch, engine).chain("910000002"))
    assert chain[-1].orgnr == "920000003" and later_fetch.urls == []  # a new run reuses the cache


def test_resolver_records_unknown_numbers_and_refreshes_stale_units(engine):
    fetch = FakeBrreg()
    resolver = EmployerResolver(BASE, fetch, engine)
    chain = asyncio.run(resolver.chain("919999999"))
    resolver.save()
    assert not chain[0].found
    assert fetch.urls == [f"{BASE}/underenheter/919999999", f"{BASE}/enheter/919999999"]
    assert load_units(engine, ["919999999"])["919999999"].found is False

    stale = datetime.now(UTC) - timedelta(days=31)
    save_units(engine, [EmployerUnit(orgnr="920000001", name="LEKA KOMMUNE", org_form="KOMM", fetched_at=stale)])
    fetch = FakeBrreg()
    asyncio.run(EmployerResolver(BASE, fetch, engine).unit("920000001", subunit_first=False))
    assert fetch.urls == [f"{BASE}/enheter/920000001"]


def test_resolver_raises_when_brreg_is_down(engine):
    with pytest.raises(BrregUnavailable):
        asyncio.run(EmployerResolver(BASE, FakeBrreg(status=503), engine).chain("910000001"))
    assert load_units(engine, ["910000001"]) == {}


def test_name_decisions_turn_ambiguous_on_conflict(engine):
    municipal = NameDecision("municipal", "brreg", "910000001")
    assert merge_decision(None, municipal) == municipal
    assert merge_decision(municipal, NameDecision("municipal", "brreg", "910000002")).orgnr == "910000002"
    ambiguous = merge_decision(municipal, NameDecision("private", "brreg", "910000006"))
    assert ambiguous.scope == AMBIGUOUS
    assert merge_decision(ambiguous, municipal).scope == AMBIGUOUS  # for good
    save_name_decisions(engine, "nav", {"Kommune": ambiguous, "Leka kommune": municipal})
    save_name_decisions(engine, "nav", {"Leka kommune": NameDecision("municipal", "name")})
    decisions = load_name_decisions(engine, "nav")
    assert decisions["Kommune"].scope == AMBIGUOUS and decisions["Leka kommune"].method == "name"
