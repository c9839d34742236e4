"""munijobs browse in headless Chromium: the views listed first, internal tables hidden, long texts cut in tables,
the column descriptions folded below the data."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from munijobs.analysts.browse import TRUNCATE_CELLS
from munijobs.analysts.dictionary import load_metadata
from munijobs.items import JobPosting
from storage.db import session_scope
from storage.postings import store_batch
from tests.analysts.test_browse import fetch, start_browse
from tests.browser import chromium  # noqa: F401

VIEWS = ["v_ads", "v_postings", "v_ad_history", "v_crawl_runs", "v_coverage"]
INTERNAL = ["alembic_version", "crawl_locks", "crawl_state", "posting_raw", "employer_name_decisions", "postings_fts",
            "postings_fts_data", "postings_fts_idx", "postings_fts_docsize", "postings_fts_config"]
LONG_TEXT = "Vi søker en sykepleier til hjemmetjenesten. " * 40


@pytest.fixture
def datasette(ads_engine):
    """`munijobs browse` on the fixture database (and one long ad), on an ephemeral 127.0.0.1 port."""
    with session_scope(ads_engine) as session:
        store_batch(session, [JobPosting(source="nav", source_ad_id="long", title="Sykepleier, lang tekst",
                                         employer_name="Trondheim kommune", municipality_code="5001",
                                         county_code="50", description_text=LONG_TEXT,
                                         description_html=f"<p>{LONG_TEXT}</p>")])
    database = Path(ads_engine.url.database)
    process, port = start_browse(database, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        fetch(f"http://127.0.0.1:{port}/-/versions.json")
        yield f"http://127.0.0.1:{port}/{database.stem}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_datasette_for_analysts(datasette, chromium):  # noqa: F811
    chromium.get(datasette)
    linked = chromium.execute_script(
        "return [...document.querySelectorAll('section.content a')].map(a => decodeURIComponent(a.pathname))")
    tables = [path.rsplit("/", 1)[-1] for path in linked if path.startswith("/munijobs-test/")]
    assert tables[:5] == VIEWS
    listed = chromium.execute_script("return [...document.querySelectorAll('.db-table h3 a')].map(a => a.textContent)")
    assert "postings" in listed and "municipalities" in listed
    assert not set(INTERNAL) & set(listed)
    descriptions = chromium.execute_script(
        "return [...document.querySelectorAll('ul.munijobs-views li')].map(li => li.innerText)")
    assert descriptions[4].startswith("v_coverage: One row per municipality of the 2024 list and source")

    chromium.get(f"{datasette}/v_ads?_size=max")
    cells = chromium.execute_script(
        "return [...document.querySelectorAll('td.col-description_text')].map(td => td.innerText)")
    assert len(cells) == 9
    long = [c for c in cells if c.startswith("Vi søker en sykepleier til hjemmetjenesten. Vi")]
    assert len(long) == 1, [c[:60] for c in cells]
    assert len(long[0]) <= TRUNCATE_CELLS + 1 and long[0].endswith("…"), long
    folded = chromium.execute_script("""
        const details = document.querySelector('details.munijobs-columns');
        const data = document.querySelector('table.rows-and-columns');
        const original = document.querySelector('dl.column-descriptions');
        return {open: details.open, after: Boolean(data.compareDocumentPosition(details) & 4),
                below: details.getBoundingClientRect().top >= data.getBoundingClientRect().bottom,
                terms: details.querySelectorAll('dt').length,
                original: original === null || getComputedStyle(original).display === 'none',
                definition: [...document.querySelectorAll('pre.wrapped-sql')].every(
                    pre => getComputedStyle(pre).display === 'none')
                    && !document.querySelector('details.munijobs-definition').open
                    && Boolean(details.compareDocumentPosition(document.querySelector('details.munijobs-definition'))
                               & 4),
                summary: details.querySelector('summary').innerText}""")
    documented = len(load_metadata()["tables"]["v_ads"]["columns"])
    assert folded == {"open": False, "after": True, "below": True, "terms": documented,
                      "original": True, "definition": True, "summary": f"Column descriptions ({documented})"}

    chromium.get(f"{datasette}/v_coverage")
    heading = chromium.execute_script("return document.querySelector('section.content h3').innerText")
    assert heading.startswith("714 rows")
