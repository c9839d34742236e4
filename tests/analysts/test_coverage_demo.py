"""munijobs coverage on the demo's data: both spiders crawl the bundled fixtures, as `make demo` does (both databases).

The expected figures are counted by hand from tests/files/jobbnorge/jobs.json (day 1, in scope) and the NAV fixtures
with tests/files/jobbnorge/nav_demo.json: one Trondheim ad is on both sources, the Leka NAV×NAV twins are one ad.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys

from click.testing import CliRunner

from tests.fakes.jobbnorge_server import FakeJobbnorge, Scenario, demo_nav_scenario
from tests.fakes.nav_server import FakeNav
from tests.spiders.nav_harness import FAST_SETTINGS, ROOT, crawl, crawl_env

EXPECTED = {  # municipality: (active ads, on jobbnorge, on nav, only on jobbnorge, only on nav)
    "1804": (1, 0, 1, 0, 1),
    "3205": (1, 1, 0, 1, 0),
    "3911": (1, 1, 0, 1, 0),
    "4601": (1, 1, 0, 1, 0),
    "4620": (1, 1, 0, 1, 0),
    "5001": (2, 1, 2, 0, 1),
    "5052": (3, 0, 3, 0, 3),
    "5605": (1, 1, 0, 1, 0),
    "5612": (2, 1, 1, 1, 1),
}


def test_coverage_of_the_demo_matches_the_hand_count(database_url, monkeypatch):
    with FakeJobbnorge(Scenario.from_files()) as jobbnorge, FakeNav(demo_nav_scenario()) as nav:
        settings = {**FAST_SETTINGS, "JOBBNORGE_API_URL": jobbnorge.base_url,
                    "JOBBNORGE_DETAIL_URL": jobbnorge.base_url, "BRREG_API_URL": jobbnorge.brreg_url}
        first = subprocess.run([sys.executable, "-m", "munijobs", "crawl", "jobbnorge",
                                *(f"-s{k}={v}" for k, v in settings.items())], cwd=ROOT,
                               env=crawl_env(database_url), capture_output=True, text=True, timeout=120, check=False)
        assert first.returncode == 0, first.stderr[-3000:]
        second = crawl(database_url, nav, BRREG_API_URL=jobbnorge.brreg_url)
        assert second.returncode == 0, second.stderr[-3000:]
    from munijobs.cli import cli

    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["coverage", "--format", "csv", "-o", "-"])
    assert result.exit_code == 0, result.output
    rows = {row["municipality_code"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert len(rows) == 357
    found = {code: (int(r["active_ads_total"]), int(r["active_ads_jobbnorge"]), int(r["active_ads_nav"]),
                    int(r["only_on_jobbnorge"]), int(r["only_on_nav"]))
             for code, r in rows.items() if int(r["active_ads_total"])}
    assert found == EXPECTED
    assert rows["5001"]["median_delay_hours_jobbnorge"] == "0.0"  # Jobbnorge was crawled first
    assert float(rows["5001"]["median_delay_hours_nav"]) > 0
