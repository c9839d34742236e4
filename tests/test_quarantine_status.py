"""`munijobs status` counts and reports the quarantine (ads that could not be stored), on both databases."""

from __future__ import annotations

from click.testing import CliRunner
from scrapy.settings import Settings

from munijobs import cli
from munijobs.health import quarantine_summary
from storage.quarantine import quarantine, quarantined_counts


def test_status_reports_the_quarantine(engine, tmp_path, monkeypatch):
    settings = Settings()
    settings.setmodule("munijobs.settings")
    schedule = tmp_path / "munijobs.toml"
    schedule.write_text('[scheduler]\ntimezone = "Europe/Oslo"\n', encoding="utf-8")
    settings.setdict({"DATABASE_URL": engine.url.render_as_string(hide_password=False),
                      "SCHEDULE_FILE": str(schedule)})
    monkeypatch.setattr(cli, "project_settings", lambda overrides=None: settings)
    empty = CliRunner().invoke(cli.cli, ["status"])
    assert "quarantine: empty" in empty.output, empty.output

    quarantine(engine, "nav", "ad-1", '{"title": "Lærer"}', "refused by the database: DataError")
    quarantine(engine, "nav", "ad-2", None, "unstorable: missing_title")
    quarantine(engine, "nav", "ad-1", '{"title": "Lærer"}', "again")  # the same ad once, with its latest error
    assert quarantined_counts(engine) == {"nav": 2}
    result = CliRunner().invoke(cli.cli, ["status"])
    assert "quarantine: 2 ads could not be stored (nav 2)" in result.output, result.output
    # stored or not, the ads are kept: the quarantine alone changes no verdict on health
    assert result.exit_code == empty.exit_code, result.output


def test_quarantine_summary_wording():
    assert quarantine_summary({}) == "quarantine: empty"
    assert quarantine_summary({"nav": 1}).startswith("quarantine: 1 ad could not be stored (nav 1)")
