"""Jobbnorge's list and detail answers to plain values and JobPostings: pure functions on the fixtures, no reactor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from munijobs.normalise import normalise_posting
from spiders._jobbnorge_parse import (
    JobList,
    MalformedResponse,
    closing_event,
    description_html,
    fingerprint,
    incompleteness,
    parse_detail,
    parse_job_list,
    posting_from_listing,
    refresh_due,
)
from tests.fakes.jobbnorge_server import Scenario, demo_nav_scenario

URL = "https://publicapi.jobbnorge.example/v3/jobs?language=1"


def list_body(day: str = "1", **meta) -> bytes:
    jobs = Scenario.from_files(day=day).listed()
    return json.dumps({"jobs": jobs, "meta": {"jobCountTotal": len(jobs), **meta}}, ensure_ascii=False).encode()


def job(job_id: int, day: str = "1"):
    return next(j for j in parse_job_list(list_body(day), URL).jobs if j.id == str(job_id))


def detail(job_id: int, day: str = "1", **changes):
    data = Scenario.from_files(day=day).detail(str(job_id)) | changes
    return parse_detail(json.dumps(data).encode(), "detail-url", str(job_id))


def posting(job_id: int, day: str = "1"):
    return posting_from_listing(job(job_id, day), detail(job_id, day))


def test_the_list_parses_into_jobs_with_fingerprints():
    parsed = parse_job_list(list_body(), URL)
    assert parsed.total == 11
    assert [j.id for j in parsed.jobs][:3] == ["310001", "310002", "310003"]
    assert parsed.jobs[0].employer == "Trondheim kommune"
    assert parsed.jobs[0].department == "Dalgård skole og ressurssenter"
    assert len({j.fingerprint for j in parsed.jobs}) == 11


def test_fingerprints_follow_content_not_key_order_or_promotion():
    record = Scenario.from_files().listed()[0]
    reordered = dict(reversed(list(record.items())))
    assert fingerprint(reordered) == fingerprint(record)
    assert fingerprint(record | {"promoted": True}) == fingerprint(record)
    assert fingerprint(record | {"deadline": "16.01.2027"}) != fingerprint(record)
    assert job(310002, "2").fingerprint != job(310002, "1").fingerprint  # changed on day 2
    assert job(310001, "2").fingerprint == job(310001, "1").fingerprint


def test_older_bare_arrays_and_duplicates():
    records = Scenario.from_files().listed()
    parsed = parse_job_list(json.dumps([records[0], records[1], records[0] | {"title": "Siste"}]).encode(), URL)
    assert parsed.total is None
    assert [(j.id, j.record["title"]) for j in parsed.jobs] == [("310002", "Lektor i realfag"), ("310001", "Siste")]


@pytest.mark.parametrize(
    "body",
    [list_body()[: len(list_body()) // 2], b"", b'{"meta": {}}', b'{"jobs": [{"title": "no id"}]}',
     b'{"jobs": [{"id": true}]}', b'"jobs"'],
    ids=["truncated", "empty", "no jobs", "no id", "boolean id", "a string"],
)
def test_malformed_lists_raise(body):
    with pytest.raises(MalformedResponse):
        parse_job_list(body, URL)


def test_completeness_rule():
    jobs = parse_job_list(list_body(), URL).jobs
    assert incompleteness(JobList(jobs, 11), None) is None
    assert incompleteness(JobList(jobs, 11), 20) is None  # 11 of 20: not below half
    assert "jobCountTotal says 40" in incompleteness(JobList(jobs, 40), None)
    assert "fewer than 50%" in incompleteness(JobList(jobs[:2], 2), 11)
    assert incompleteness(JobList(jobs, None), 11) is None  # no meta: the half rule alone
    assert incompleteness(JobList([], None), None) == "an empty list without meta.jobCountTotal"
    assert incompleteness(JobList(jobs[:10], 11), None) is None  # within 2 jobs of the total


def test_components_template_becomes_clean_html_in_order():
    html = detail(310001).description_html
    assert html.startswith("<h2>Om stillingen</h2><p>Dalgård skole")
    assert html.index("<h2>Arbeidsoppgaver</h2><ul><li>") < html.index("<h2>Kontakt</h2>")
    assert "script" not in html and "track()" not in html and "<img" not in html


def test_job_gap_template_keeps_titles_as_headings():
    html = detail(310002).description_html
    assert [part.split("</h2>")[0] for part in html.split("<h2>")[1:]] == [
        "Om stillingen", "Kvalifikasjonskrav", "Vi tilbyr", "Kontaktinformasjon"]
    assert "<ul><li>Mastergrad i realfag</li>" in html


def test_plain_text_components_become_paragraphs():
    html = detail(310005).description_html
    assert html == ("<h2>Birra virggis</h2><p>Guovdageainnu suohkan søker helsefagarbeider i 80 % fast stilling ved"
                    " sykehjemmet.</p><p>Vi tilbyr flyttegodtgjørelse.<br>Kontakt: Máret Sara, mobil 913 45 678.</p>")
    assert description_html({"components": [{"heading": "x", "text": "a < b & c"}]}) == (
        "<h2>x</h2><p>a &lt; b &amp; c</p>")
    assert description_html({}) is None


def test_detail_flags_and_contacts():
    assert not detail(310014).is_published
    assert detail(310001, isPublished=None).is_published  # only an explicit false means unpublished
    first = detail(310001).contacts[0]
    assert (first.name, first.title, first.phone, first.email) == (
        "Kari Nordvik", "Rektor", "952 11 223", "kari.nordvik@trondheim.example")
    with pytest.raises(MalformedResponse):
        parse_detail(b"[]", "detail-url", "1")


def test_department_as_employer_and_the_raw_fields():
    teacher = posting(310001)
    assert teacher.source == "jobbnorge" and teacher.source_ad_id == "310001"
    assert teacher.employer_name == "Dalgård skole og ressurssenter, Trondheim kommune"
    assert teacher.extra["jobbnorge_employer"] == "Trondheim kommune"
    assert teacher.extra["regard_department_as_employer"] is True
    assert teacher.url == "https://www.jobbnorge.no/ledige-stillinger/stilling/310001"
    assert (teacher.extent_raw, teacher.engagement_type_raw, teacher.positions_raw) == ("Heltid", "Fast", "2")
    assert teacher.published_at == datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
    assert teacher.expires_at == datetime(2027, 1, 15, 23, 0, tzinfo=UTC)  # the end of the deadline day in Oslo
    assert [c.name for c in teacher.contacts] == ["Kari Nordvik", "Per Olav Strand"]
    lektor = posting(310002)
    assert lektor.employer_name == "Finnmark fylkeskommune (FFK)"  # the department is not shown as employer
    assert lektor.extra["department"] == "Kirkenes videregående skole"


def test_rolling_deadline_and_several_locations_primary_first():
    nurse = normalise_posting(posting(310003))
    assert nurse.deadline_raw == "Løpende" and nurse.expires_at is None
    assert nurse.deadline_kind == "rolling" and nurse.deadline_date is None
    assert [(loc.municipality, loc.postal_code, loc.municipality_code) for loc in nurse.work_locations] == [
        ("Færder", "3140", "3911"), ("Tønsberg", "3110", "3905")]
    assert nurse.municipality_code == "3911" and nurse.county_code == "39"
    assert nurse.engagement_type == "temporary" and nurse.extent == "part_time"
    lektor = normalise_posting(posting(310002))
    assert [loc.municipality for loc in lektor.work_locations] == ["Sør-Varanger", "Vadsø"]  # isPrimary first
    assert lektor.municipality_code == "5605"
    sami = normalise_posting(posting(310005))
    assert sami.municipality_code == "5612" and sami.county_code == "56"
    kindergartens = normalise_posting(posting(310009))
    assert len(kindergartens.work_locations) == 3 and kindergartens.positions == 3
    assert normalise_posting(posting(310007)).engagement_type == "fixed_term"  # Åremål


def test_closing_events():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    expired = closing_event("310004", datetime(2026, 10, 2, tzinfo=UTC), now)
    assert (expired.status, expired.has_content, expired.closed_at) == ("expired", False, now)
    assert closing_event("310003", None, now).status == "withdrawn"
    assert closing_event("310001", datetime(2027, 1, 16, tzinfo=UTC), now).status == "withdrawn"


def test_refresh_age_is_stretched_per_posting():
    stored, week = datetime(2026, 11, 1, tzinfo=UTC), timedelta(days=7)
    assert not refresh_due("310000", stored, stored + timedelta(days=6), week)
    assert refresh_due("310000", stored, stored + week, week)  # id ending in 00: exactly the refresh age
    assert not refresh_due("310050", stored, stored + timedelta(days=10), week)  # 50 %: after 10.5 days
    assert refresh_due("310050", stored, stored + timedelta(days=10, hours=12), week)
    assert not refresh_due("310099", stored, stored + timedelta(days=13), week)
    assert refresh_due("310099", stored, stored + timedelta(days=14), week)


def test_the_demo_has_a_cross_source_posting_and_a_nav_duplicate():
    nav = demo_nav_scenario()
    listed = {str(record["id"]) for record in Scenario.from_files().listed()}
    contents = [content for versions in nav.details.values() for content in versions.values() if content]
    linked = [c for c in contents if "jobbnorge.no" in (c.get("applicationUrl") or "") + (c.get("sourceurl") or "")]
    assert len(linked) == 1 and linked[0]["applicationUrl"] == "https://jobseeker.jobbnorge.no/apply/310001"
    assert "310001" in listed
    twins = [c for c in contents if "sykehjem" in c["title"] and (c.get("employer") or {}).get("orgnr") == "910000001"]
    assert len(twins) == 2 and twins[0]["uuid"] != twins[1]["uuid"]
    assert twins[1]["description"].startswith(twins[0]["description"][:-10])
    entries = {entry["uuid"] for entry in nav.entries}
    assert {twin["uuid"] for twin in twins} | {linked[0]["uuid"]} <= entries
