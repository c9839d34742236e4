"""Focused tests of each normalisation rule, and of normalise_posting as a whole."""

from __future__ import annotations

import copy
import csv
import re
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from munijobs import codes
from munijobs.constants import DeadlineKind, EngagementType, Extent, Language
from munijobs.items import ContactPerson, JobPosting, OccupationCode, WorkLocation
from munijobs.normalise import (
    best_styrk,
    clean_text,
    county_of_postal_code,
    derive_extent,
    detect_language,
    html_to_text,
    map_structured_engagement,
    mask_personal_data,
    normalise_posting,
    parse_date,
    parse_deadline,
    parse_engagement,
    parse_job_percent,
    parse_salary,
    parse_start,
    repair_glued_text,
    resolve_county,
    resolve_municipality,
)
from munijobs.normalise.language import detector, running_text_sample
from munijobs.normalise.places import FORMER_NAMES_FILE
from munijobs.normalise.privacy import mask_html
from munijobs.normalise.text import lines_containing

GLUED_TEXT = (Path(__file__).with_name("glued_ad.txt")).read_text(encoding="utf-8")
"""Our own ad text, damaged the way the seed ad was: every paragraph glued to the next."""
PUBLISHED = datetime(2026, 11, 20, 9, 0)


# --- text -------------------------------------------------------------------------------------------------------------


def test_glued_ad_sentences_are_separated():
    repaired = repair_glued_text(clean_text(GLUED_TEXT))
    for sentence_break in (
        "de ansatte. Vi arbeider",
        "av fagsystemer. Enhetens viktigste",
        "selvbetjeningsløsninger. Vi er 14 ansatte",
        "i rådhuset. To av oss",
        "mulighet for forlengelse. Stillingen hører",
        "hjemmetjenesten. I tillegg",
        "variert arbeidsplass. Et vikariat",
        "i landsdelen. Hver dag",
        "helse og omsorg. Bodø er",
        "funksjonsnedsettelse. Etter søknadsfristen",
    ):
        assert sentence_break in repaired
    for kept in ("www.bodo.kommune.nointranettet", "iPad-løsning", "PowerPoint", "NAV-kontoret"):
        assert kept in repaired
    still_glued = set(re.findall(r"\S*[a-zæøå][A-ZÆØÅ][a-zæøå]\S*", repaired))
    assert still_glued == {"UniversitetBachelor", "PowerPoint", "iPad-løsning"}, "a glued list of two nouns stays"


def test_repair_is_idempotent_on_the_glued_ad():
    once = repair_glued_text(clean_text(GLUED_TEXT))
    assert repair_glued_text(once) == once


def test_seed_ad_sentences_are_separated(seed_ad_text):
    """The real seed ad (kept outside the repository: third-party text) comes out with its sentences separated."""
    repaired = repair_glued_text(clean_text(seed_ad_text))
    for sentence_break in (
        "strategisk kommunikasjon. Vi arbeider",
        "spekter av oppgaver. Enhetens kjerneoppgaver",
        "krisekommunikasjon. Vi er 11 ansatte",
        "i rådhuset. To medarbeidere",
        "de neste to årene. Vi har derfor",
        "mediekanaler. I tillegg",
        "nord for Dovre. Hver dag",
    ):
        assert sentence_break in repaired
    assert repair_glued_text(repaired) == repaired
    still_glued = set(re.findall(r"\S*[a-zæøå][A-ZÆØÅ][a-zæøå]\S*", repaired))
    assert len(still_glued) == 1, "only a glued list of two capitalised words may remain"


@pytest.mark.parametrize("word", ["McDonald", "iPad", "NAV-kontoret", "PowerPoint", "LinkedIn", "eHelse", "MacLeod"])
def test_repair_keeps_mixed_case_words(word):
    text = f"Vi bruker {word} hver dag"
    assert repair_glued_text(text) == text


def test_html_to_text_structure():
    html = (
        "<h2>Om oss</h2><p>Vi er&nbsp;<b>best</b>.</p><!-- x --><script>alert(1)</script>"
        "<ul><li>En</li><li>To</li></ul><p></p><p></p><p>Slutt</p>"
    )
    assert html_to_text(html) == "Om oss\n\nVi er best.\n\n• En\n• To\n\nSlutt"


def test_html_to_text_drops_empty_list_items_and_invisible_characters():
    html = "<ul><li></li><li>\u200b&nbsp;</li><li>En</li><li><p>To</p></li></ul><p>A&#8203;B</p>"
    assert html_to_text(html) == "• En\n• To\n\nAB"


def test_html_to_text_loses_nothing_in_html_nested_beyond_the_parsers_limit():
    deep = "<div>" * 5000 + "<p>Vi søker &amp; <b>tilbyr</b></p><script>x()</script><p>Slutt</p>" + "</div>" * 5000
    assert html_to_text(deep) == "Vi søker & tilbyr\n\nSlutt"
    nested_lists = "<ul><li>" * 900 + "Innerst" + "</li></ul>" * 900  # deeper than Python's recursion limit
    assert html_to_text(nested_lists).replace("• ", "") == "Innerst"


def test_html_to_text_keeps_text_beyond_the_parsers_size_limit():
    words = "ord " * 3_000_000
    text = html_to_text(f"<p>Start</p><p>{words}</p><p>Slutt</p>")
    assert text.startswith("Start\n\nord ord") and text.endswith("ord\n\nSlutt")
    assert len(text) == len("Start\n\n") + len(words) - 1 + len("\n\nSlutt")


def test_lines_containing_keeps_text_order_and_ignores_case():
    text = "Lønn etter avtale\nIngen treff her\nStillingsbrøk: 80 %\nLTR 45"
    assert lines_containing(text, ("løn", "ltr")) == ["Lønn etter avtale", "LTR 45"]
    assert lines_containing(text, ("%", "stilling")) == ["Stillingsbrøk: 80 %"]
    assert lines_containing(text, ("finnes ikke",)) == []


def test_clean_text_is_idempotent():
    text = "  Linje   1 \n\n\n\n• punkt\r\nSiste &amp; beste "
    cleaned = clean_text(text)
    assert cleaned == "Linje 1\n\n• punkt\nSiste & beste"
    assert clean_text(cleaned) == cleaned


# --- percent and extent -------------------------------------------------------------------------------------------


def test_percent_range_and_positions():
    result = parse_job_percent("2 stillinger à 50–100 %")
    assert (result.minimum, result.maximum, result.positions) == (50, 100, 2)


@pytest.mark.parametrize("text", ["rabatt 20 % på kort", "pensjon 2 %", "70 % av lønn", "sykefravær på 6 %"])
def test_percent_ignores_other_percentages(text):
    assert parse_job_percent(text).maximum is None


def test_title_percent_wins_over_text():
    assert parse_job_percent("Lærer 60 %", "Stillingsbrøk: 100 %").maximum == 60


def test_extent_from_percent_overrides_nav_heltid():
    assert derive_extent(80, "Heltid") == Extent.PART_TIME
    assert derive_extent(None, "Heltid") == Extent.FULL_TIME
    assert derive_extent(None, None) is None


# --- engagement ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nav_value", "expected"),
    [
        ("Fast", EngagementType.PERMANENT),
        ("Vikariat", EngagementType.TEMPORARY),
        ("Engasjement", EngagementType.FIXED_TERM),
        ("Prosjekt", EngagementType.PROJECT),
        ("Sesong", EngagementType.SEASONAL),
        ("Feriejobb", EngagementType.SUMMER),
        ("Trainee", EngagementType.TRAINEE),
        ("Lærling", EngagementType.APPRENTICE),
        ("Selvstendig næringsdrivende", EngagementType.SELF_EMPLOYED),
        ("Annet", EngagementType.OTHER),
    ],
)
def test_nav_engagement_vocabulary(nav_value, expected):
    assert map_structured_engagement(nav_value) == expected


def test_engagement_conflict_is_reported():
    result = parse_engagement("Fast", "Sykepleier", "Vi har ledig et svangerskapsvikariat i 80 % stilling.")
    assert result.engagement_type == EngagementType.TEMPORARY
    assert result.conflict == {"structured": "permanent", "text": "temporary"}


def test_engagement_title_before_text():
    assert parse_engagement(None, "Sommervikar", "Fast stilling").engagement_type == EngagementType.SUMMER


# --- dates --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["2027-01-15", "2027-01-15T00:00", "15.01.2027", "15.1.27", "15. januar 2027", "15. jan. 2027"]
)
def test_date_forms(text):
    assert parse_date(text) == date(2027, 1, 15)


def test_date_without_year_rolls_over_the_new_year():
    assert parse_date("10. januar", PUBLISHED) == date(2027, 1, 10)
    assert parse_date("24. november", PUBLISHED) == date(2026, 11, 24)
    assert parse_date("10. januar") is None


def test_aware_datetime_is_read_in_oslo_time():
    assert parse_date("2026-06-30T22:30:00Z") == date(2026, 7, 1)


def test_deadline_kinds():
    assert parse_deadline("Snarest").kind == DeadlineKind.ASAP
    assert parse_deadline("Løpende").kind == DeadlineKind.ROLLING
    assert parse_deadline(None, "Søknadsfrist: 1. mars 2027").date == date(2027, 3, 1)
    assert parse_deadline(None, None) == parse_deadline("", "")
    assert parse_deadline(None, None).kind == DeadlineKind.UNKNOWN


def test_start_words_and_dates():
    assert parse_start("Etter avtale").text == "etter avtale"
    assert parse_start(None, "Tiltredelse: 01.03.2027").date == date(2027, 3, 1)
    assert parse_start(None, "Oppstart 1. august", PUBLISHED).date == date(2027, 8, 1)


# --- places -------------------------------------------------------------------------------------------------------


def _former_name_rows() -> list[dict[str, str]]:
    with (codes.DATA / FORMER_NAMES_FILE).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_municipality_resolves_by_each_of_its_names():
    former = {row["name"] for row in _former_name_rows() if row["kind"] == "municipality"}
    shared = {"Herøy", "Våler"} | former
    for municipality in codes.municipalities().values():
        if municipality.short_name in shared:
            continue
        for name in municipality.names:
            code, county_code, note = resolve_municipality(name.upper())
            assert (code, county_code, note) == (municipality.code, municipality.county_code, None), name


def test_every_county_resolves_by_its_names():
    for county in codes.counties().values():
        assert resolve_county(county.name) == {county.code}
        assert resolve_county(county.short_name.upper()) == {county.code}


def test_former_names_point_at_existing_codes():
    rows = _former_name_rows()
    municipalities, counties = codes.municipalities(), codes.counties()
    for row in rows:
        targets = row["code"].split("|")
        known = municipalities if row["kind"] == "municipality" else counties
        assert all(code in known for code in targets), row
    assert (codes.DATA / f"{FORMER_NAMES_FILE}.source.txt").is_file()


def test_shared_names_need_a_hint_and_say_why():
    code, county_code, note = resolve_municipality("VÅLER")
    assert (code, county_code) == (None, None)
    assert "3114" in note and "3419" in note
    assert resolve_municipality("VÅLER", "Viken")[0] == "3114"
    assert resolve_municipality("VÅLER", None, "1592")[0] == "3114"
    assert resolve_municipality("VÅLER", None, None, "Våler kommune i Solør")[0] == "3419"


def test_postal_code_register():
    assert county_of_postal_code("0150") == "03"
    assert county_of_postal_code("9999") is None
    assert county_of_postal_code(None) is None


# --- occupation, language, salary, privacy -----------------------------------------------------------------------


def test_best_styrk_prefers_the_highest_score_and_skips_placeholders():
    occupations = [
        OccupationCode(system="STYRK08NAV", code="0000", score=1.0),
        OccupationCode(system="STYRK08NAV", code="2342.07", score=0.4),
        OccupationCode(system="STYRK08", code="2341", score=0.8),
        OccupationCode(system="ESCO", code="2330", score=0.99),
    ]
    assert best_styrk(occupations) == ("2341", codes.occupations()["2341"].name)


def test_language_detector_is_built_once_and_tells_the_written_standards_apart():
    assert detector() is detector()
    assert detect_language("Vi søkjer ein sjukepleiar til heimetenesta. Du vil arbeide saman med gode kollegaer.") == (
        Language.NYNORSK
    )
    assert detect_language("Vi søker en sykepleier til hjemmetjenesten. Du vil jobbe sammen med gode kolleger.") == (
        Language.BOKMAAL
    )
    assert detect_language("   ") is None



def test_language_sample_skips_headings_and_labels():
    text = (
        "Fastlege\nArbeidssted: Bodø\nStillingsprosent: 100\n\n"
        "Bodø kommune is looking for a general practitioner who wants to join a friendly team at the health centre. "
        "You will have your own list of patients and take part in the out-of-hours service."
    )
    assert running_text_sample(text).startswith("kommune is looking for a general practitioner")
    assert detect_language(text) == Language.ENGLISH


def test_language_quotation_in_the_other_standard_does_not_decide():
    text = (
        "Kommunen leder prosjektet «Saman om ein betre kvardag i heile bygda» og søker en prosjektleder. "
        "Du skal følge opp arbeidet i hjemmetjenesten og rapportere til styringsgruppen."
    )
    assert detect_language(text) == Language.BOKMAAL


def test_language_sami_text_and_other_scripts_are_other_but_sami_place_names_are_not():
    sami = "Mii ohcat bargi mánáidgárdái. Don galggat bargat mánáiguin ja ovttasbargat váhnemiiguin beaivválaččat."
    assert detect_language(sami) == Language.OTHER
    assert detect_language("Ми шукаємо помічника вихователя в дитячий садок. Робота повний день.") == Language.OTHER
    norwegian = (
        "Kárášjoga gielda / Karasjok kommune søker en lærer til skolen i Kárášjohka. Du vil jobbe sammen med "
        "elevene og de andre lærerne, og vi ønsker at du har interesse for friluftsliv og samisk kultur."
    )
    assert detect_language(norwegian) == Language.BOKMAAL

def test_salary_forms():
    assert parse_salary("Lønn: kr 550 000 – 650 000").minimum == 550_000
    assert parse_salary("Lønnstrinn 45").text == "lønnstrinn 45"
    assert parse_salary("Lønn etter avtale").text == "etter avtale"
    assert parse_salary("Oppstart etter avtale").text is None


def test_masking_keeps_numbers_that_are_not_phones_and_is_idempotent():
    text = "Ring 22 33 44 55 eller skriv til ola@kommune.no. Org.nr. 974 760 673, kr 550 000, 7004 Trondheim, 2027."
    masked = mask_personal_data(text)
    assert masked == "Ring [telefon] eller skriv til [e-post]. Org.nr. 974 760 673, kr 550 000, 7004 Trondheim, 2027."
    assert mask_personal_data(masked) == masked


def test_html_is_masked_in_place_across_tags_entities_links_and_comments():
    html = (
        '<p>Spørsmål kan rettes til <strong>Kari</strong> Nordmann, tlf.&nbsp;912&nbsp;34&nbsp;567, '
        '<a href="mailto:kari@leka.no" title="Kari Nordmann">kari@leka.no</a> eller <a href="tel:+4791234567">ring</a>.'
        "</p><div><p>Kontakt:</p></div><div><div><p>Ola Hansen</p></div></div><p>Org.nr. 942 110 464</p>"
        "<!-- ola.hansen@leka.no -->"
    )
    masked = mask_html(html, [ContactPerson(name="Kari Nordmann", email="kari@leka.no")])
    assert masked == (
        "<p>Spørsmål kan rettes til <strong>[navn]</strong>, tlf.&nbsp;[telefon], "
        '<a href="mailto:[e-post]" title="[navn]">[e-post]</a> eller <a href="tel:[telefon]">ring</a>.'
        "</p><div><p>Kontakt:</p></div><div><div><p>[navn]</p></div></div><p>Org.nr. 942 110 464</p>"
        "<!-- [e-post] -->"
    )
    assert mask_html(masked) == masked  # renormalising masked HTML changes nothing
    untouched = "<p>Leka kommune søker <b>lærer</b> til Leka skole.</p>"
    assert mask_html(untouched) is untouched


def test_a_contact_table_is_masked_cell_by_cell():
    html = (
        "<table><tr><th>Navn</th><th>Stilling</th><th>Telefon</th></tr>"
        "<tr><td>Kari Nordmann</td><td>Enhetsleder</td><td>912 34 567</td></tr>"
        "<tr><td>Leka kommune</td><td>Sentralbord</td><td>74 38 70 00</td></tr></table>"
    )
    assert html_to_text(mask_html(html)) == (
        "Navn Stilling Telefon\n[navn] Enhetsleder [telefon]\nLeka kommune Sentralbord [telefon]"
    )


def test_masking_finds_phones_in_every_grouping_and_keeps_other_numbers():
    for phone in ("4012 3456", "912 000 33", "+47 934 567 12", "47 456 78 901", "0047 22 33 44 55", "22334455"):
        for label in ("tlf.", "tlf:", "mob:", "mobil", "telefon", "Ring"):
            assert mask_personal_data(f"{label} {phone}") == f"{label} [telefon]", (label, phone)
    kept = "org.nr. 942 110 464, Referansenummer: 2024/1234, ID 4512345, frist 22.10.2026, saksnr. 24681357"
    assert mask_personal_data(kept) == kept


def test_the_contact_list_is_masked_everywhere_then_forgotten():
    posting = JobPosting(
        source="nav", source_ad_id="x", title="Kari Lier søker deg", job_title="Lærer",
        description_html="<p>Lier kommune søker lærer. Kari svarer på 99 88 77 66 og kari.lier@lier.example.</p>",
        contacts=[ContactPerson(name="Kari Lier", phone="+47 99887766", email="kari.lier@lier.example")],
        application_url="MAILTO:kari.lier@lier.example",
    )
    normalise_posting(posting)
    assert posting.title == "[navn] søker deg" and posting.job_title == "Lærer"
    assert posting.description_text == "Lier kommune søker lærer. [navn] svarer på [telefon] og [e-post]."
    assert posting.contacts == [] and posting.application_url is None
    assert "application_url" in posting.normalise_notes


def test_positions_follow_the_structured_count_unless_it_is_the_default():
    def positions(raw: str | None, text: str) -> tuple[int | None, list[str]]:
        posting = normalise_posting(JobPosting(source="t", source_ad_id="p", positions_raw=raw, description_text=text))
        return posting.positions, sorted(posting.normalise_notes)

    assert positions("2", "En stilling i et solid selskap.") == (2, [])
    assert positions("1", "Enheten har 13 årsverk.") == (1, [])
    assert positions("1", "Vi har to faste stillinger ledig.") == (2, [])
    assert positions(None, "Vi har 2 stillinger ledig.") == (2, [])
    assert positions("1", "Vi søker folk til 2–4 stillinger.") == (None, ["positions"])
    assert positions(None, "Vi har flere stillinger ledig.") == (None, [])


# --- the whole posting ---------------------------------------------------------------------------------------------


def glued_posting() -> JobPosting:
    """The glued ad as a source that only had flattened text would give it."""
    return JobPosting(
        source="nav",
        source_ad_id="glued",
        title="Systemkonsulent",
        employer_name="Bodø kommune",
        description_text=GLUED_TEXT,
        engagement_type_raw="Vikariat",
        extent_raw="Heltid",
        positions_raw="1",
        deadline_raw="2026-12-10T00:00",
        start_raw="",
        published_at=datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        work_locations=[WorkLocation(municipality="BODØ", county="NORDLAND", postal_code="8001")],
        occupations=[OccupationCode(system="STYRK08NAV", code="3512.01", score=0.9)],
    )


def test_glued_posting_end_to_end():
    posting = normalise_posting(glued_posting())
    assert "de ansatte. Vi arbeider" in posting.description_text
    assert posting.engagement_type == EngagementType.TEMPORARY
    assert (posting.job_percent_min, posting.job_percent_max, posting.extent) == (100, 100, Extent.FULL_TIME)
    assert (posting.deadline_kind, posting.deadline_date) == (DeadlineKind.DATE, date(2026, 12, 10))
    assert (posting.start_date, posting.start_text) == (None, "snarest")
    assert (posting.municipality_code, posting.county_code) == ("1804", "18")
    assert posting.work_locations[0].municipality_code == "1804"
    assert posting.occupation_code == "3512"
    assert posting.language == Language.BOKMAAL
    assert posting.salary_text == "etter sentrale avtaler"
    assert posting.normalise_notes == {}


def test_normalise_posting_is_idempotent_and_renormalises_stored_text():
    posting = normalise_posting(glued_posting())
    first = asdict(posting)
    assert asdict(normalise_posting(posting)) == first
    stored = copy.deepcopy(posting)
    stored.description_html = None
    assert asdict(normalise_posting(stored)) == first


def test_normalise_posting_overwrites_the_normalised_side():
    posting = glued_posting()
    posting.engagement_type = "summer"
    posting.municipality_code = "0301"
    posting.normalise_notes = {"old": True}
    posting.salary_min = 1.0
    normalise_posting(posting)
    assert posting.engagement_type == EngagementType.TEMPORARY
    assert posting.municipality_code == "1804"
    assert "old" not in posting.normalise_notes
    assert posting.salary_min is None


def test_html_description_wins_over_given_text_and_is_masked():
    posting = glued_posting()
    posting.description_html = "<p>Kontakt oss på 22 33 44 55.</p><p>Stillingsbrøk: 50 %</p>"
    normalise_posting(posting)
    assert posting.description_text == "Kontakt oss på [telefon].\n\nStillingsbrøk: 50 %"
    assert posting.extent == Extent.PART_TIME
    assert posting.normalise_notes["extent_conflict"] == {"structured": "Heltid", "job_percent_max": 50}
