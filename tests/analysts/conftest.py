"""A small fixture database of ads on SQLite and PostgreSQL, written through store_batch like a crawl would."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner

from munijobs import codes
from munijobs.constants import PostingStatus
from munijobs.items import JobPosting
from storage.db import session_scope
from storage.models import Alert, CrawlRun
from storage.postings import store_batch

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
T1 = datetime(2026, 1, 25, 7, 0, tzinfo=UTC)
T2 = datetime(2026, 2, 10, 7, 0, tzinfo=UTC)

MUNICIPALITIES = {"5001": "50", "1508": "15", "0301": "03", "1818": "18", "5501": "55", "1804": "18", "4601": "46"}


def ad(source_ad_id: str, title: str, employer: str, municipality: str, occupation: str | None, engagement: str,
       published: datetime | None, source: str = "nav", **values) -> JobPosting:
    """A posting whose normalised fields are set directly."""
    return JobPosting(
        source=source, source_ad_id=source_ad_id, title=title, employer_name=employer,
        employer_orgnr=values.pop("orgnr", "974350347"), municipality_code=municipality,
        county_code=MUNICIPALITIES[municipality], occupation_code=occupation,
        occupation_name=codes.occupations()[occupation].name if occupation else None,
        engagement_type=engagement, published_at=published, url=f"https://example.no/{source}/{source_ad_id}",
        description_html=f"<p>{values.get('description_text', title)}</p>", language="nb", **values)


def first_batch() -> list[JobPosting]:
    return [
        ad("1", "Sykepleier til hjemmetjenesten", "Trondheim kommune", "5001", "2223", "permanent", T0,
           extent="full_time", job_percent_min=100.0, job_percent_max=100.0, positions=2,
           deadline_date=date(2026, 2, 1), deadline_kind="date", salary_min=520000.0, salary_max=610500.5,
           description_text="Vi søker en engasjert sykepleier til hjemmetjenesten på Byåsen. Kontakt: [telefon]."),
        ad("2", "Lærer i norsk og samfunnsfag", "Ålesund kommune", "1508", "2341", "temporary",
           datetime(2026, 1, 12, 10, 0, tzinfo=UTC), extent="part_time", job_percent_min=50.0,
           job_percent_max=80.0, deadline_kind="asap", deadline_text="snarest", orgnr="964980381",
           description_text="Vikariat som lærar på ungdomsskulen. Vi ønskjer ein lærer med godt humør."),
        ad("3", "Barnehagelærer, vikariat", "Oslo kommune, Bydel Frogner", "0301", "2342", "fixed_term",
           datetime(2026, 1, 20, 8, 0, tzinfo=UTC), source="jobbnorge", orgnr="974778742",
           description_text="Barnehagen på Frogner søker barnehagelærer i engasjement. Søknadsfrist løpende."),
        ad("4", "Renholder", "Herøy kommune", "1818", "9112", "seasonal", datetime(2026, 1, 7, 12, 0, tzinfo=UTC),
           orgnr="945012986", description_text="Sesongarbeid med renhold av skolen på Herøy."),
        ad("5", "Ingeniør vann og avløp", "Tromsø kommune", "5501", "2142", "permanent",
           datetime(2025, 12, 20, 9, 0, tzinfo=UTC), orgnr="940101808",
           description_text="Ingeniør til drift av vann- og avløpsanlegg i Tromsø."),
        ad("6", "Helsefagarbeider, sommerjobb", "Trondheim kommune", "5001", "5322", "summer",
           datetime(2026, 1, 21, 11, 0, tzinfo=UTC), description_text="Sommerjobb i hjemmetjenesten, Trondheim."),
        ad("7", "=HYPERLINK(\"http://evil.example\")", "Bodø kommune", "1804", None, "other", None, orgnr="972418013",
           description_text="-2+3 is not a formula here"),
        ad("8", "Rådgiver <script>alert(1)</script> & økonomi", "Bergen kommune", "4601", "2422", "permanent",
           datetime(2026, 1, 22, 13, 0, tzinfo=UTC), orgnr="964338531",
           description_text="Rådgiver i økonomiavdelingen. <b>Ikke</b> HTML."),
    ]


def build(engine) -> None:
    """Write the fixture ads in three crawl batches (with an update, an expiry and a withdrawal), runs and alerts."""
    with session_scope(engine) as session:
        store_batch(session, first_batch(), now=T0)
    changed = first_batch()[4]
    changed.title = "Ingeniør vann og avløp (fast)"
    with session_scope(engine) as session:
        store_batch(session, [changed], now=T1)
        store_batch(session, [JobPosting(source="jobbnorge", source_ad_id="3", status=PostingStatus.EXPIRED,
                                         has_content=False, closed_at=T1)], now=T1)
        store_batch(session, [JobPosting(source="nav", source_ad_id="4", status=PostingStatus.WITHDRAWN,
                                         has_content=False)], now=T2)
        session.add_all([
            CrawlRun(source="nav", started_at=T1, finished_at=T1, status="ok", items_seen=7, items_new=0,
                     items_updated=1, items_closed=0, errors=0),
            CrawlRun(source="nav", started_at=T2, finished_at=T2, status="partial", items_seen=7, items_new=0,
                     items_updated=0, items_closed=1, errors=2, message="2 detail pages <failed>"),
            CrawlRun(source="jobbnorge", started_at=T1, finished_at=None, status="failed", errors=1),
            Alert(source="nav", rule="errors", message="errors in run <2>", created_at=T2),
            Alert(source="jobbnorge", rule="stale", message="resolved one", created_at=T1, resolved_at=T2),
        ])


@pytest.fixture
def ads_engine(engine):
    """The upgraded engine of `engine` with the fixture ads."""
    build(engine)
    return engine


@pytest.fixture
def run(ads_engine, monkeypatch):
    """Invoke a munijobs command line against the fixture database: run("export", "-o", "-")."""
    from munijobs.cli import cli

    url = ads_engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return invoke


@pytest.fixture
def run_without_database(tmp_path, monkeypatch):
    """Invoke a command whose input is refused before any database is opened (DATABASE_URL names no file yet)."""
    from munijobs.cli import cli

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never-created.db'}")

    def invoke(*args: str):
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert not (tmp_path / "never-created.db").exists()
        return result
    return invoke
