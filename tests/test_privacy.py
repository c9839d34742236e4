"""No contact person's name, phone or e-mail reaches any table, export or search result (SQLite and PostgreSQL).

The NAV fixture ads (tests/files/nav/details.json) name their contact persons in the ad text, in the forms real ads
use, with phones in many groupings and e-mails also written with "[at]" and "(at)"; the ads' contactList names them
too. After a crawl, every column of every table, every export format and `munijobs search` are searched for them.
A second test stores ads unmasked (as munijobs did before it masked them) and checks that `db upgrade` masks them.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from munijobs.cli import cli
from munijobs.items import JobPosting
from storage.db import alembic_config, get_engine, upgrade
from storage.models import Posting, PostingChange, PostingRaw, Quarantine
from storage.postings import store_batch
from storage.renormalise import renormalise_postings
from tests.fakes.nav_server import FIXTURES, FakeNav, Scenario
from tests.spiders.nav_harness import ad, all_text, crawl, postings

PLANTED_NAMES = ("Geir Arne Moholt", "Lars Ove Bakketun", "Tone Marit Aasen Berge")
"""Contact persons named in the fixture ad texts but not in their contactList (found by phrase or block)."""
PLANTED_PHONES = ("912 000 33", "47 456 78 901", "0047 55 63 90 00", "+47 934 567 12", "4012 3456")
PLANTED_EMAILS = ("synnove.kvamme [at] ulvik [dot] kommune [dot] no", "tone.berge(at)vlfk.example",
                  "post.brann@salten.example")
KEPT = ("org.nr. 942 110 464", "Referansenummer: 2024/1234", "ID 4512345", "Leka kommune", "Helsehuset",
        "Ulvik skule", "rektor", "avdelingsleder")
"""Numbers and names in the same ad texts that are not contact data and must be kept."""


def fixture_contacts() -> tuple[set[str], set[str], set[str]]:
    """Names (and each part of them), phones and e-mails of every contactList in the fixture, plus the planted ones."""
    details = json.loads((FIXTURES / "details.json").read_text(encoding="utf-8"))
    names, phones, emails = set(PLANTED_NAMES), set(PLANTED_PHONES), set(PLANTED_EMAILS)
    for versions in details.values():
        for content in versions.values():
            for person in content.get("contactList") or []:
                names.add(person["name"])
                phones.add(person["phone"])
                if person.get("email"):
                    emails.add(person["email"])
    parts = {part for name in names for part in name.split()}
    return names | parts, phones, emails


def national_digits(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return digits[4:] if digits.startswith("0047") else digits[2:] if len(digits) == 10 else digits


def leaks(text: str) -> list[str]:
    """Every contact name (whole word), phone (in any grouping) and e-mail (any case) of the fixture in `text`."""
    names, phones, emails = fixture_contacts()
    found = [name for name in names if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text)]
    squeezed = re.sub(r"[\s.\-\u00a0()/]", "", text)
    found += [phone for phone in phones if national_digits(phone) in squeezed]
    lower = text.lower()
    found += [email for email in emails if re.split(r"@|\s|\(", email)[0].lower() in lower]
    return found


@pytest.fixture
def crawled(database_url):
    """A database holding every fixture ad of the fake NAV feed (employer scope: all), crawled in two runs."""
    with FakeNav(Scenario.from_files(page_size=4, visible=14)) as fake:
        for _ in range(2):
            result = crawl(database_url, fake, EMPLOYER_SCOPE="all")
            assert result.returncode == 0, result.stderr[-4000:]
            fake.scenario.visible = None  # the rest of the feed appears before the second run
    return database_url


def invoke(database_url: str, monkeypatch, *args: str):
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_no_contact_reaches_a_table_an_export_or_a_search(crawled, monkeypatch, tmp_path):
    stored = postings(crawled)
    trondheim, ulvik, brann = stored[ad("trd-1")], stored[ad("ulvik-1")], stored[ad("iks-1")]
    assert "[navn], avdelingsleder, mobil [telefon], e-post [e-post]" in trondheim.description_text
    assert "rektor [navn], telefon [telefon], eller inspektør [navn], mob: [telefon]" in ulvik.description_text
    assert brann.application_url is None and "application_url" in brann.normalise_notes
    assert trondheim.positions == 2  # NAV's positioncount, not "13 årsverk" in the text
    assert brann.deadline_raw and brann.title.startswith("Brannkonstabel")
    everything = all_text(get_engine(crawled))
    for kept in KEPT:
        assert kept in everything, kept
    assert leaks(everything) == []

    outputs = []
    for fmt, extra in (("csv", ()), ("csv", ("--excel",)), ("jsonl", ()), ("parquet", ())):
        target = tmp_path / f"ads-{fmt}{len(extra)}.{fmt}"
        invoke(crawled, monkeypatch, "export", "--format", fmt, *extra, "-o", str(target))
        if fmt == "parquet":
            outputs.append(str(pq.read_table(target).to_pylist()))
        else:
            outputs.append(target.read_text(encoding="utf-8-sig"))
    assert all("Helsehuset" in output and "[telefon]" in output for output in outputs)
    assert [leaks(output) for output in outputs] == [[], [], [], []]

    found = invoke(crawled, monkeypatch, "search", "spørsmål", "--format", "jsonl").stdout
    assert found.count("\n") >= 3 and leaks(found) == []
    names, _, _ = fixture_contacts()
    for name in sorted(part for part in names if " " not in part and len(part) > 3):
        assert invoke(crawled, monkeypatch, "search", name, "--format", "csv").stdout.count("\n") <= 1, name


UNMASKED_HTML = (
    "<p>Spørsmål om stillingen kan rettes til avdelingsleder <b>Geir Arne</b> Moholt, tlf. 912&nbsp;000&nbsp;33, "
    '<a href="mailto:post.brann@salten.example">e-post</a>.</p><p>Kontakt: Lars Ove Bakketun, mob: 47 456 78 901</p>'
    "<p>Org.nr. 942 110 464</p>"
)


def unmasked(title: str) -> JobPosting:
    """A posting as munijobs stored it before masking: nothing masked anywhere."""
    return JobPosting(source="nav", source_ad_id="old-1", title=title, employer_name="Leka kommune",
                      description_html=UNMASKED_HTML,
                      description_text="Spørsmål om stillingen kan rettes til avdelingsleder Geir Arne Moholt, tlf. "
                      "912 000 33.\nKontakt: Lars Ove Bakketun, mob: 47 456 78 901\nOrg.nr. 942 110 464",
                      application_url="mailto:post.brann@salten.example")


def search_hits(engine, monkeypatch, query: str) -> int:
    """Ads `munijobs search` finds for `query` (CSV lines after the header)."""
    result = invoke(engine.url.render_as_string(hide_password=False), monkeypatch, "search", query, "--format", "csv")
    return max(0, result.stdout.strip().count("\n"))


def test_db_upgrade_masks_what_is_stored_without_history(engine, monkeypatch):
    with Session(engine) as session, session.begin():
        store_batch(session, [unmasked("Sykepleier")], now=datetime(2026, 10, 1, tzinfo=UTC))
    with Session(engine) as session, session.begin():
        store_batch(session, [unmasked("Sykepleier, ring Tone Marit Aasen Berge 0047 55 63 90 00")],
                    now=datetime(2026, 10, 2, tzinfo=UTC))
    with Session(engine) as session:
        history = session.scalar(select(func.count()).select_from(PostingChange))
    assert history > 0 and leaks(all_text(engine))  # the old state: contacts everywhere
    assert search_hits(engine, monkeypatch, "Moholt") == search_hits(engine, monkeypatch, "Bakketun") == 1

    with engine.begin() as connection:  # back to before the masking migration (its downgrade keeps data), then up
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    upgrade(engine)

    assert leaks(all_text(engine)) == []
    assert search_hits(engine, monkeypatch, "Moholt") == search_hits(engine, monkeypatch, "Bakketun") == 0
    assert search_hits(engine, monkeypatch, "Sykepleier") == 1  # the index still holds the rest
    with Session(engine) as session:
        posting = session.scalars(select(Posting)).one()
        html = session.get(PostingRaw, posting.id).description_html
        assert session.scalar(select(func.count()).select_from(PostingChange)) == history
    assert posting.title == "Sykepleier, ring [navn] [telefon]"
    assert posting.application_url is None and "application_url" in posting.normalise_notes
    assert html.startswith("<p>Spørsmål om stillingen kan rettes til avdelingsleder <b>[navn]</b>, tlf. [telefon]")
    assert "Org.nr. 942 110 464" in html and "Org.nr. 942 110 464" in posting.description_text

    renormalise_postings(engine)  # works from the masked raw HTML
    assert leaks(all_text(engine)) == []
    with Session(engine) as session:
        posting = session.scalars(select(Posting)).one()
    assert "avdelingsleder [navn], tlf. [telefon]" in posting.description_text
    assert "Kontakt: [navn], mob: [telefon]" in posting.description_text


def test_db_upgrade_cleans_quarantine_rows_written_before_contact_lists_were_dropped(engine):
    """A quarantined item of an older munijobs kept its `contacts` and a surname alone in its text."""
    old_raw = json.dumps({"source": "nav", "title": "Lærer", "contacts": [
        {"name": "Geir Arne Moholt", "phone": "[telefon]", "email": "[e-post]", "title": "Rektor"}],
        "description_text": "Spørsmål? Ring [navn] eller send Moholt en melding."}, ensure_ascii=True)
    with engine.begin() as connection:
        connection.execute(Quarantine.__table__.insert().values(
            source="nav", source_ad_id="old-q", raw=old_raw, error="a pipeline step raised",
            quarantined_at=datetime(2026, 11, 1, tzinfo=UTC)))
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0010-1")  # to before the cleaning migration, then up again
    upgrade(engine)

    with Session(engine) as session:
        raw = json.loads(session.scalars(select(Quarantine.raw)).one())
    assert "contacts" not in raw and raw["title"] == "Lærer"
    assert "Moholt" not in json.dumps(raw, ensure_ascii=False) and raw["description_text"].startswith("Spørsmål?")
