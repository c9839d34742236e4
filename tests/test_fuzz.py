"""Property-based fuzzing (hypothesis) of what the sources answer: random JSON in every field of a NAV detail and of
a Brønnøysund unit. Whatever comes, nothing crashes, no stored ad is closed by anything but an explicit INACTIVE (or
NAV's masking), every ad is stored or quarantined, and an unreadable unit is never taken as "private" nor cached."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from munijobs.constants import PostingStatus
from spiders._brreg import MUNICIPAL, BrregUnavailable, EmployerResolver, decide_by_chain
from spiders._nav_parse import ACTIVE, INACTIVE, MASKED_TITLE, parse_detail, posting_from_detail
from storage.db import session_scope
from storage.employers import load_units
from storage.models import Employer, Posting
from storage.quarantine import quarantined
from tests.pipelines.pipeline_harness import Pipelines

FIXTURES = Path(__file__).resolve().parent / "files" / "nav"
DETAILS = json.loads((FIXTURES / "details.json").read_text(encoding="utf-8"))
BRREG = json.loads((FIXTURES / "brreg.json").read_text(encoding="utf-8"))
BASE_CONTENT = next(iter(next(iter(DETAILS.values())).values()))
"""Leka kommune's ad, whose fields are replaced by random values."""
LEKA_SUBUNIT = BRREG["underenheter"]["910000001"]
BASE = "http://brreg.invalid/enhetsregisteret/api"
MISSING = object()

ODD_TEXT = st.sampled_from(["²", "①", "1" * 20, "99999999999", "\x00", "a\ud800b", "0001-01-01", "9999-12-31",
                            "9999-12-31T23:59:59-05:00", "x" * 400, "", " ", "...", "91000000111", "50520"])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | ODD_TEXT
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=12) | st.sampled_from(["code", "kode", "name"]), inner,
                                             max_size=3), max_leaves=8)
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


def with_random_fields(draw, base: dict[str, Any]) -> dict[str, Any]:
    """`base` with a random subset of its fields replaced by random JSON, or removed."""
    result = copy.deepcopy(base)
    for key in draw(st.sets(st.sampled_from(sorted(base)), min_size=1, max_size=len(base))):
        value = draw(st.just(MISSING) | JSON_VALUES)
        if value is MISSING:
            del result[key]
        else:
            result[key] = value
    return result


@st.composite
def nav_details(draw) -> dict[str, Any]:
    content = with_random_fields(draw, BASE_CONTENT)
    if draw(st.booleans()):
        content["workLocations"] = [with_random_fields(draw, BASE_CONTENT["workLocations"][0])]
    if draw(st.booleans()):
        content["employer"] = with_random_fields(draw, BASE_CONTENT["employer"])
    body = {"uuid": "", "sistEndret": draw(JSON_VALUES | st.just("2026-10-05T08:00:00+02:00")),
            "status": draw(st.sampled_from([ACTIVE, INACTIVE, None, MISSING, "PAUSED", "active"]) | JSON_VALUES),
            "ad_content": draw(st.just(content) | st.just(content) | JSON_VALUES)}
    return {key: value for key, value in body.items() if value is not MISSING}


@given(body=nav_details())
@FUZZ
def test_random_nav_details_never_crash_close_or_lose_an_ad(database_url, body):
    ad_id = str(uuid.uuid4())
    body["uuid"] = ad_id
    first = Pipelines(database_url)
    first.feed(posting_from_detail(parse_detail(json.dumps({"uuid": ad_id, "status": ACTIVE,
                                                            "ad_content": BASE_CONTENT}).encode(), "u")))
    first.close()

    detail = parse_detail(json.dumps(body).encode(), f"/api/v1/feedentry/{ad_id}")
    run = Pipelines(database_url)
    if detail.problem():  # the spider keeps the ad as stored and pending
        expected = "kept"
    elif detail.closes:
        content = body.get("ad_content")
        assert body["status"] == INACTIVE or (content.get("title") == MASKED_TITLE and not content.get("employer"))
        expected = "closed"
    else:
        run.feed(posting_from_detail(detail))
        expected = "stored or quarantined"
    run.close()

    with Session(run.store.engine) as session:
        row = session.scalars(select(Posting).where(Posting.source_ad_id == ad_id)).one()
    assert row.status == PostingStatus.ACTIVE  # nothing here closes: closing events are the spider's, explicit ones
    if expected == "stored or quarantined":
        in_quarantine = any(q.source_ad_id == ad_id for q in quarantined(run.store.engine, "nav"))
        assert row.last_run_id == run.store.run_id or in_quarantine


@st.composite
def brreg_units(draw) -> dict[str, Any]:
    unit = with_random_fields(draw, LEKA_SUBUNIT)
    if draw(st.booleans()) and isinstance(unit.get("beliggenhetsadresse"), dict):
        unit["beliggenhetsadresse"] = with_random_fields(draw, LEKA_SUBUNIT["beliggenhetsadresse"])
    return unit


@given(unit=brreg_units())
@FUZZ
def test_random_brreg_units_are_never_private_and_unreadable_ones_never_cached(engine, unit):
    with session_scope(engine) as session:
        session.execute(delete(Employer))

    async def fetch(url: str) -> tuple[int, Any]:
        kind, _, orgnr = url.removeprefix(BASE).strip("/").partition("/")
        if not kind:
            return 200, {"_links": {}}
        if (kind, orgnr) == ("underenheter", "910000001"):
            return 200, unit
        known = BRREG["enheter"].get(orgnr) if kind == "enheter" else None
        return (200, known) if known else (404, None)

    resolver = EmployerResolver(BASE, fetch, engine)
    try:
        chain = asyncio.run(resolver.chain("910000001"))
    except BrregUnavailable:
        resolver.save()
        assert "910000001" not in load_units(engine, ["910000001"])  # nothing cached of an unreadable answer
        return
    resolver.save()  # what was read, both databases store
    assert load_units(engine, ["910000001"])["910000001"].found
    # Leka's unit: its chain reaches Leka kommune, or it is broken and the name "Leka kommune" decides
    assert decide_by_chain(chain, "Leka kommune", "Offentlig").scope == MUNICIPAL
