"""Employer scope: Brønnøysund chains, the employer cache, name patterns."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from spiders._brreg import (
    BrregUnavailable,
    EmployerResolver,
    best_name_match,
    decide_by_chain,
    decide_by_name,
    in_scope,
    is_municipal_name,
    name_search_url,
    organisation_part,
    parse_name_search,
    parse_unit,
    scope_from_company_suffix,
    scope_of_org_form,
    search_unit_by_name,
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
from tests.fakes.jobbnorge_server import FIXTURES as JOBBNORGE_FIXTURES
from tests.fakes.nav_server import FIXTURES

BRREG = json.loads((FIXTURES / "brreg.json").read_text(encoding="utf-8"))
SEARCHABLE = json.loads((JOBBNORGE_FIXTURES / "brreg.json").read_text(encoding="utf-8"))["enheter"]
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


# -- scope by name: the forms real employer strings take (issue 13), each case labelled by its form ----------------

MUNICIPAL_FORMS = {
    "unit, X kommune": "Dalgård skole og ressurssenter, Trondheim kommune",
    "bydel, X kommune": "Bydel Grorud, Oslo kommune",
    "unit (X kommune)": "Helse og velferd (Trondheim kommune)",
    "X kommune - unit": "Trondheim kommune - Helse og velferd",
    "X herad, unit": "Ulvik herad, Ulvik skule",
    "herad": "Kvam herad",
    "merged away: Nøtterøy": "Nøtterøy kommune",
    "merged away: Tjøme, unit first": "Tjøme sykehjem, Tjøme kommune",
    "merged away: Hornindal": "Hornindal kommune",
    "IKS with abbreviation": "Nedre Romerike Avløpsselskap (NRA) IKS",
    "IKS": "Salten Brann IKS",
    "KF": "Kristiansand Havn KF",
    "FKF": "Vestfold fylkeskommunale eiendom FKF",
    "fylkeskommune (FFK)": "Finnmark fylkeskommune (FFK)",
    "fylkeskommune (TFK), unit": "Tromsø maritime skole, Troms fylkeskommune (TFK)",
    "fylkeskommune": "Innlandet fylkeskommune",
    "Sami county word": "Finnmárkku fylkkagielda",
    "North Sami genitive": "Guovdageainnu suohkan",
    "North Sami gielda": "Kárášjoga gielda",
    "North Sami, short name": "Deanu gielda",
    "South Sami": "Snåasen tjïelte",
    "bilingual official name": "Trondheim - Tråante kommune",
    "bilingual, Sami first": "Snåase - Snåsa kommune",
    "upper case": "NØTTERØY KOMMUNE",
}
NOT_MUNICIPAL_FORMS = {
    "the bare word": "Kommune",
    "unit only": "Kirkenes Tannklinikk",
    "unknown place": "Atlantis kommune",
    "unknown place, Sami word": "Atlantis suohkan",
    "kommunal as an adjective": "Kommunal Landspensjonskasse",
    "kommunale as an adjective": "Tromsø kommunale boligstiftelse",
    "association of municipalities": "Kommunenes Sentralforbund",
    "state": "Universitetet i Bergen",
    "health enterprise": "Helse Bergen HF",
    "company form": "KS Bedrift AS",
    "IKS alone": "IKS",
}


@pytest.mark.parametrize("name", MUNICIPAL_FORMS.values(), ids=MUNICIPAL_FORMS.keys())
def test_municipal_name_forms(name):
    assert is_municipal_name(name)
    assert decide_by_name(name, None).scope == "municipal"


@pytest.mark.parametrize("name", NOT_MUNICIPAL_FORMS.values(), ids=NOT_MUNICIPAL_FORMS.keys())
def test_not_municipal_name_forms(name):
    assert not is_municipal_name(name)


@pytest.mark.parametrize(
    ("name", "part"),
    [
        ("Dalgård skole og ressurssenter, Trondheim kommune", "Trondheim kommune"),
        ("Oslo kommune, Bydel Frogner", "Oslo kommune"),
        ("Trondheim kommune - Helse og velferd", "Trondheim kommune"),
        ("Finnmark fylkeskommune (FFK)", "Finnmark fylkeskommune (FFK)"),
        ("Helse og velferd (Trondheim kommune)", "Trondheim kommune"),
        ("Nedre Romerike Avløpsselskap (NRA) IKS", None),
        ("Kirkenes Tannklinikk", None),
    ],
)
def test_organisation_part_names_the_municipality(name, part):
    assert organisation_part(name) == part


def test_name_search_url_and_answer():
    assert name_search_url(BASE + "/", "Bergen kommune") == f"{BASE}/enheter?navn=Bergen+kommune&size=20"
    answer = {"_embedded": {"enheter": [SEARCHABLE["930000003"], SEARCHABLE["930000013"]]}, "page": {}}
    units = parse_name_search(answer)
    assert [unit.orgnr for unit in units] == ["930000003"]  # the deleted namesake is left out
    assert parse_name_search({"page": {"totalElements": 0}}) == []
    with pytest.raises(BrregUnavailable):
        parse_name_search([])


def test_best_name_match_needs_the_same_name_and_prefers_municipal_forms():
    units = [parse_unit(SEARCHABLE[orgnr], subunit=False) for orgnr in ("930000007", "930000017", "930000004")]
    assert best_name_match("Bergen kommune", units).orgnr == "930000007"  # not BERGEN KOMMUNE EIENDOM
    assert best_name_match("Nedre Romerike Avløpsselskap (NRA) IKS", units).orgnr == "930000004"
    assert best_name_match("Nedre Romerike Avløpsselskap", units).orgnr == "930000004"
    assert best_name_match("Bergen", units) is None
    private_namesake = parse_unit({**SEARCHABLE["930000007"], "organisasjonsnummer": "930000099",
                                   "organisasjonsform": {"kode": "AS"}}, subunit=False)
    assert best_name_match("Bergen kommune", [private_namesake, *units]).orgnr == "930000007"


def test_search_unit_by_name_asks_brreg_once_and_reports_outages():
    asked: list[str] = []

    def fetcher(status: int, data):
        async def fetch(url: str):
            asked.append(url)
            return status, data
        return fetch

    answer = {"_embedded": {"enheter": [SEARCHABLE["930000008"]]}}
    unit = asyncio.run(search_unit_by_name(BASE, fetcher(200, answer), "Stiftelsen Kanvas"))
    assert (unit.orgnr, unit.org_form, unit.fetched_at is not None) == ("930000008", "STI", True)
    assert asked == [f"{BASE}/enheter?navn=Stiftelsen+Kanvas&size=20"]
    assert asyncio.run(search_unit_by_name(BASE, fetcher(200, {}), "Kirkenes Tannklinikk")) is None
    with pytest.raises(BrregUnavailable):
        asyncio.run(search_unit_by_name(BASE, fetcher(503, None), "Stiftelsen Kanvas"))
