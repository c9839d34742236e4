"""Parsing NAV feed pages and ad details into entries and JobPostings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from munijobs.constants import PostingStatus
from munijobs.items import ContactPerson
from munijobs.normalise import normalise_posting
from spiders._nav_parse import (
    AdDetail,
    FeedEntry,
    MalformedResponse,
    closing_event,
    extract_public_token,
    http_date,
    parse_datetime,
    parse_detail,
    parse_feed_page,
    posting_from_detail,
)
from storage.quarantine import raw_json
from tests.fakes.nav_server import FIXTURES
from tests.spiders.nav_harness import CONTACT_TRACES, ad

CET = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-23T17:09:58.61+01:00", datetime(2021, 3, 23, 17, 9, 58, 610000, CET)),
        ("2021-03-23T17:09:58+01:00", datetime(2021, 3, 23, 17, 9, 58, tzinfo=CET)),
        ("2021-03-23T17:09:58.123456789+0100", datetime(2021, 3, 23, 17, 9, 58, 123456, CET)),
        ("2021-03-23T16:09:58Z", datetime(2021, 3, 23, 16, 9, 58, tzinfo=UTC)),
        ("2021-03-23T17:09:58.61+01:00[Europe/Oslo]", datetime(2021, 3, 23, 17, 9, 58, 610000, CET)),
        ("2019-11-10T00:00", datetime(2019, 11, 9, 23, 0, tzinfo=UTC)),  # no offset: Oslo time
        ("2021-03-23", datetime(2021, 3, 22, 23, 0, tzinfo=UTC)),
    ],
)
def test_parse_datetime_tolerates_nav_variants(text, expected):
    parsed = parse_datetime(text)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["", "Snarest", None, 17, "2021-13-45T00:00:00"])
def test_parse_datetime_gives_none_for_non_dates(text):
    assert parse_datetime(text) is None


def test_http_date_is_rfc_1123():
    assert http_date(datetime(2026, 5, 1, 14, 0, tzinfo=CET)) == "Fri, 01 May 2026 13:00:00 GMT"


def test_public_token_is_the_jwt_line():
    text = "Current public token for Nav Job Vacancy Feed:\neyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl\n"
    assert extract_public_token(text) == "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    assert extract_public_token("Public token is not currently available") is None


def _line(uuid: str, status: str, stamp: str, title: str = "Lærer", business: str = "Leka kommune") -> dict:
    entry = {
        "uuid": uuid,
        "status": status,
        "title": title,
        "businessName": business,
        "municipal": "LEKA",
        "sistEndret": stamp,
    }
    return {
        "id": uuid,
        "url": f"/api/v1/feedentry/{uuid}",
        "title": title,
        "content_text": "Stillingsannonse",
        "date_modified": stamp,
        "_feed_entry": entry,
    }


def test_feed_page_keeps_the_last_occurrence_per_ad():
    page = {
        "id": "p1",
        "next_id": "p2",
        "items": [
            _line("a", "ACTIVE", "2026-10-01T08:00:00+02:00"),
            _line("b", "ACTIVE", "2026-10-01T09:00:00+02:00"),
            _line("a", "INACTIVE", "2026-10-01T10:00:00+02:00", title="?", business="?"),
        ],
    }
    parsed = parse_feed_page(json.dumps(page).encode(), "/api/v1/feed/p1")
    assert parsed.page_id == "p1" and parsed.next_id == "p2"
    assert [(entry.uuid, entry.status) for entry in parsed.entries] == [("b", "ACTIVE"), ("a", "INACTIVE")]
    assert parsed.entries[1].modified_at == datetime(2026, 10, 1, 8, tzinfo=UTC)


def test_feed_page_at_the_tip_and_masked_entries():
    page = {"id": "p9", "next_id": None, "items": [_line("m", "INACTIVE", "2026-10-01T08:00:00+02:00", "...", "")]}
    parsed = parse_feed_page(json.dumps(page).encode(), "u")
    assert parsed.next_id is None
    assert parsed.entries[0].is_masked and not parsed.entries[0].is_active


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"id": "p"}', b'{"id": "p", "items": [{"id": "x"}]}'])
def test_malformed_feed_page_names_the_url(body):
    with pytest.raises(MalformedResponse, match="/api/v1/feed/p"):
        parse_feed_page(body, "https://feed.example/api/v1/feed/p")


def _fixture_detail(key: str) -> dict:
    versions = json.loads((FIXTURES / "details.json").read_text(encoding="utf-8"))[ad(key)]
    stamp = max(versions)
    return {"uuid": ad(key), "status": "ACTIVE", "sistEndret": stamp, "ad_content": versions[stamp]}


def test_detail_maps_every_field_and_contacts_only_for_masking():
    detail = parse_detail(json.dumps(_fixture_detail("trd-1")).encode(), "u")
    posting = posting_from_detail(detail)
    assert posting.source == "nav" and posting.source_ad_id == ad("trd-1")
    assert posting.title == "Sykepleier natt, Helsehuset" and posting.job_title == posting.title
    assert posting.url == f"https://arbeidsplassen.nav.no/stillinger/stilling/{ad('trd-1')}"
    assert posting.application_url is None and posting.origin_url is None  # "" becomes None
    assert (posting.employer_name, posting.employer_orgnr, posting.sector) == ("Helsehuset", "910000002", "Offentlig")
    location = posting.work_locations[0]
    assert (location.postal_code, location.city, location.municipality, location.county, location.country) == (
        "7030",
        "TRONDHEIM",
        "TRONDHEIM",
        "TRØNDELAG",
        "NORGE",
    )
    assert [(o.system, o.code, o.score) for o in posting.occupations] == [
        ("STYRK08", "2223", 1.0),
        ("JANZZ", "123456", 0.87),
    ]
    assert (posting.engagement_type_raw, posting.extent_raw, posting.positions_raw) == ("Vikariat", "Deltid", "2")
    assert (posting.deadline_raw, posting.start_raw) == ("Snarest", "Etter avtale")
    assert posting.published_at == datetime(2026, 10, 1, 7, tzinfo=UTC)
    assert posting.expires_at == datetime(2026, 10, 9, 22, tzinfo=UTC)
    assert posting.source_modified_at == detail.modified_at
    assert posting.extra == {
        "occupationCategories": [{"level1": "Utdanning", "level2": "Barnehage"}],
        "source": "IMPORTAPI",
    }
    assert posting.description_html.startswith("<p><strong>Helsehuset</strong>")
    assert posting.contacts == [ContactPerson(name="Siri Fjellheim Aune", title="Avdelingsleder", phone="40123456",
                                              email="siri.aune@trondheim.example")]  # only for the normaliser
    assert "contactList" not in repr(posting.extra)
    flat = repr(normalise_posting(posting))
    assert posting.contacts == []
    for trace in (*CONTACT_TRACES, "Siri", "Aune", "4012 3456", "siri.aune", "Moholt", "912 000 33"):
        assert trace not in flat, trace


def test_inactive_and_masked_details():
    inactive = parse_detail(b'{"uuid": "x", "status": "INACTIVE", "sistEndret": "2026-10-01T08:00:00+02:00"}', "u")
    assert inactive.content is None and inactive.is_masked
    masked = parse_detail(
        json.dumps(
            {
                "uuid": "x",
                "status": "ACTIVE",
                "sistEndret": "2026-10-01T08:00:00+02:00",
                "ad_content": {"title": "...", "employer": None},
            }
        ).encode(),
        "u",
    )
    assert masked.is_masked
    assert not parse_detail(json.dumps(_fixture_detail("leka-1")).encode(), "u").is_masked


def test_closing_event_is_expired_only_after_the_expiry():
    expires = datetime(2026, 10, 10, tzinfo=UTC)
    expired = closing_event("x", expires, datetime(2026, 10, 11, tzinfo=UTC))
    assert (expired.status, expired.has_content, expired.closed_at) == (
        PostingStatus.EXPIRED,
        False,
        datetime(2026, 10, 11, tzinfo=UTC),
    )
    assert closing_event("x", expires, datetime(2026, 10, 9, tzinfo=UTC)).status == PostingStatus.WITHDRAWN
    assert closing_event("x", None, datetime(2026, 10, 9, tzinfo=UTC)).status == PostingStatus.WITHDRAWN


def _detail(body: dict) -> AdDetail:
    return parse_detail(json.dumps({"uuid": "x", **body}).encode(), "u")


@pytest.mark.parametrize("body", [
    {"status": "ACTIVE"},
    {"status": "ACTIVE", "ad_content": "not an object"},
    {"status": "ACTIVE", "ad_content": {}},
    {"ad_content": {"title": "Lærer"}},
    {"status": None, "ad_content": {"title": "Lærer"}},
    {"status": "PAUSED", "ad_content": {"title": "Lærer"}},
])
def test_malformed_details_neither_store_nor_close(body):
    detail = _detail(body)
    assert detail.problem() and not detail.closes


def test_only_inactive_or_masked_details_close():
    assert _detail({"status": "INACTIVE"}).closes and not _detail({"status": "INACTIVE"}).problem()
    masked = _detail({"status": "ACTIVE", "ad_content": {"title": "...", "employer": None}})
    assert masked.closes and not masked.problem()
    assert not _detail({"status": "ACTIVE", "ad_content": {"title": "Lærer"}}).closes


def test_feed_entry_texts_are_storable():
    entry_data = {"uuid": "a\x00b", "status": "ACTIVE", "businessName": "Leka\x00 kommune\ud800"}
    body = {"id": "p", "items": [{"_feed_entry": entry_data}]}
    (entry,) = parse_feed_page(json.dumps(body).encode(), "u").entries
    assert (entry.uuid, entry.business_name) == ("ab", "Leka kommune")


def test_feed_entries_close_only_when_inactive_or_masked():
    def entry(status: str, title: str = "Lærer", name: str = "Leka kommune") -> FeedEntry:
        return FeedEntry(uuid="x", status=status, title=title, business_name=name, municipal="", modified_at=None)

    assert entry("INACTIVE").closes and entry("ACTIVE", "...", "").closes
    assert not entry("").closes and not entry("PAUSED").closes and not entry("ACTIVE").closes


def test_odd_shapes_map_without_raising_and_contacts_never_reach_the_quarantine():
    content = {"title": "Lærer", "employer": "Leka kommune", "workLocations": 7, "categoryList": {"code": 1},
               "positioncount": ["2"], "published": 20261001, "contactList": [{"name": "Kari Haugland"}]}
    posting = posting_from_detail(_detail({"status": "ACTIVE", "ad_content": content}))
    assert posting.title == "Lærer" and posting.employer_name is None and posting.work_locations == []
    assert posting.occupations == [] and posting.positions_raw is None and posting.published_at is None
    content["description"] = "<p>Spørsmål? Ring Kari Haugland eller Haugland sin vakttelefon 41 23 45 67</p>"
    raw = json.loads(raw_json({"uuid": "x", "ad_content": content}))
    assert "contactList" not in raw["ad_content"] and raw["ad_content"]["title"] == "Lærer"
    assert "Haugland" not in json.dumps(raw, ensure_ascii=False)
    assert "41 23" not in raw["ad_content"]["description"]
