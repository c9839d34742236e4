"""Brønnøysund answers that cannot be read are "unknown" (never "private", never cached); a broken org chain falls
back to the employer name and says so."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from spiders._brreg import (
    BY_NAME,
    MUNICIPAL,
    PRIVATE,
    EmployerResolver,
    MalformedUnit,
    decide_by_chain,
    parse_unit,
)
from storage.employers import EmployerUnit, load_units

BRREG = json.loads((Path(__file__).resolve().parents[1] / "files" / "nav" / "brreg.json").read_text("utf-8"))
LEKA_SUB = BRREG["underenheter"]["910000001"]
LEKA_TOP = BRREG["enheter"]["920000001"]
BASE = "http://brreg.invalid/enhetsregisteret/api"


@pytest.mark.parametrize("change", [
    {"organisasjonsform": "KOMM"},
    {"organisasjonsform": {"beskrivelse": "Kommune"}},
    {"organisasjonsform": None},
    {"organisasjonsnummer": 920000001},
    {"overordnetEnhet": 920000001},
    {"overordnetEnhet": "92000000"},
])
def test_unreadable_units_raise_instead_of_guessing(change):
    with pytest.raises(MalformedUnit):
        parse_unit({**LEKA_TOP, **change}, subunit=False)


def test_values_the_cache_cannot_hold_are_left_out():
    unit = copy.deepcopy(LEKA_SUB)
    unit["beliggenhetsadresse"]["kommunenummer"] = "50520"
    unit["navn"] = ["not", "a", "name"]
    parsed = parse_unit(unit, subunit=True)
    assert parsed.municipality_code is None and parsed.name is None and parsed.parent_orgnr == "920000001"
    odd = parse_unit({**LEKA_TOP, "navn": "LEKA\x00 KOMMUNE\ud800", "organisasjonsform": {"kode": "KOMM\x00"}}, False)
    assert (odd.name, odd.org_form) == ("LEKA KOMMUNE", "KOMM")  # what PostgreSQL would refuse is dropped


def test_a_broken_chain_falls_back_to_the_name_and_notes_it():
    orphan = EmployerUnit(orgnr="910000001", org_form="BEDR", is_subunit=True)
    decision = decide_by_chain([orphan], "Leka kommune", "Offentlig")
    assert (decision.scope, decision.method, decision.top) == (MUNICIPAL, BY_NAME, None)
    assert "910000001" in decision.note and "decided by name" in decision.note
    orgl = EmployerUnit(orgnr="920000002", org_form="ORGL")
    assert decide_by_chain([orphan, orgl], "Byggmester Olsen", None).scope == PRIVATE  # the name says so
    whole = decide_by_chain([orphan, parse_unit(LEKA_TOP, subunit=False)], "Byggmester Olsen", None)
    assert (whole.scope, whole.note) == (MUNICIPAL, None)  # an intact chain is not second-guessed by the name


class Register:
    def __init__(self, units: dict[str, Any], root: int = 200) -> None:
        self.units, self.root, self.urls = units, root, []

    async def __call__(self, url: str) -> tuple[int, Any]:
        self.urls.append(url)
        if url.rstrip("/") == BASE:
            return self.root, None
        unit = self.units.get(url.removeprefix(BASE + "/"))
        return (200, unit) if unit is not None else (404, None)


def test_an_unreadable_unit_is_not_cached(engine):
    register = Register({"underenheter/910000001": LEKA_SUB,
                         "enheter/920000001": {**LEKA_TOP, "organisasjonsform": "KOMM"}})
    resolver = EmployerResolver(BASE, register, engine)
    with pytest.raises(MalformedUnit):
        asyncio.run(resolver.chain("910000001"))
    resolver.save()
    assert set(load_units(engine)) == {"910000001"}  # the readable sub-unit only; its parent is asked again


def test_not_found_is_believed_only_when_the_register_answers(engine):
    wrong = EmployerResolver(BASE, Register({}, root=404), engine)

    async def ask(resolver: EmployerResolver) -> bool:
        chain = await resolver.chain("919999999")
        assert not chain[0].found
        return await resolver.register_answers()

    assert asyncio.run(ask(wrong)) is False
    wrong.forget_unfound()
    wrong.save()
    assert load_units(engine) == {}  # a wrong BRREG_API_URL leaves nothing behind

    right = EmployerResolver(BASE, Register({}), engine)
    assert asyncio.run(ask(right)) is True
    right.save()
    assert load_units(engine)["919999999"].found is False
