"""v_coverage: hand-counted figures on SQLite and PostgreSQL, one row per municipality of the 2024 list and source."""

from __future__ import annotations

from sqlalchemy import bindparam, select, text

from munijobs import codes
from munijobs.analysts.views import v_coverage, view_columns
from storage.coverage import COLUMNS, coverage_sql
from storage.models import UTCDateTime
from tests.analysts import coverage_data as data


def figures(rows) -> dict[tuple[str, str], tuple]:
    return {(r.municipality_code, r.source): (r.active_ads, r.only_this_source, r.active_ads_total,
                                              r.median_delay_hours) for r in rows}


def test_columns_and_one_row_per_municipality_and_source(engine):
    with engine.connect() as connection:
        assert view_columns(connection, "v_coverage") == list(COLUMNS)
        rows = connection.execute(select(v_coverage)).all()
    assert len(rows) == 357 * 2
    assert {(r.municipality_code, r.source) for r in rows} == {
        (code, source) for code in codes.municipalities() for source in ("nav", "jobbnorge")}
    assert all(r.active_ads == r.only_this_source == r.active_ads_total == 0 for r in rows)


def test_hand_counted_figures(engine):
    data.build(engine)
    with engine.connect() as connection:
        rows = connection.execute(select(v_coverage)).all()
    assert len(rows) == 357 * 2
    found = figures(rows)
    for key, expected in data.EXPECTED.items():
        assert found[key] == expected, key
    assert sum(r.active_ads_total for r in rows if r.source == "nav") == 6 + 2 + 1 + 1
    latest = {(r.municipality_code, r.source): r.latest_published_at for r in rows}
    assert latest[("5001", "nav")] == data.NAV_5001_LATEST
    assert latest[("5001", "jobbnorge")] == data.JOBBNORGE_5001_LATEST
    assert latest[("1804", "nav")].date().isoformat() == "2026-01-10" and latest[("1804", "jobbnorge")] is None
    assert latest[("3201", "jobbnorge")] is None and latest[("0301", "jobbnorge")] == data.T0 + data.HOUR
    names = {r.municipality_code: (r.municipality_name, r.county_code) for r in rows}
    assert names["5001"] == ("Trondheim - Tråante", "50") and names["1804"] == ("Bodø", "18")


def test_since_variant_counts_ads_open_since_then(engine):
    data.build(engine)
    statement = (text(coverage_sql(engine.dialect.name, since=True))
                 .bindparams(bindparam("since", type_=UTCDateTime())).columns(*v_coverage.c))
    with engine.connect() as connection:
        rows = connection.execute(statement, {"since": data.SINCE}).all()
        same_as_view = connection.execute(text(coverage_sql(engine.dialect.name)).columns(*v_coverage.c)).all()
        view = connection.execute(select(v_coverage)).all()
    found = figures(rows)
    for key, expected in data.EXPECTED_SINCE.items():
        assert found[key] == expected, key
    assert sorted(same_as_view) == sorted(view)


def test_documented_example_on_hand_counted_data(engine):
    from munijobs.analysts.dictionary import DOCS, parse

    example = {e.name: e for e in parse(DOCS.read_text(encoding="utf-8"))[1]}["coverage_by_county"]
    data.build(engine)
    with engine.connect() as connection:
        rows = connection.execute(text(example.sql[engine.dialect.name])).all()
    by_county = {(r.county_code, r.source): (r.active_ads, r.only_this_source, r.county_ads,
                                             None if r.percent_carried is None else float(r.percent_carried))
                 for r in rows}
    assert by_county[("50", "nav")] == (4, 1, 6, 66.7) and by_county[("50", "jobbnorge")] == (5, 2, 6, 83.3)
    assert by_county[("03", "jobbnorge")] == (1, 0, 1, 100.0) and by_county[("32", "nav")] == (0, 0, 0, None)
    assert len(rows) == 15 * 2


def test_migration_downgrades_and_upgrades(engine):
    from alembic import command

    from storage.db import alembic_config

    def migrate(step, revision: str) -> None:
        with engine.begin() as connection:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = connection
            step(cfg, revision)

    migrate(command.downgrade, "0003")
    with engine.connect() as connection:
        assert "v_coverage" not in {name for (name,) in connection.exec_driver_sql(
            "SELECT table_name FROM information_schema.views" if engine.dialect.name == "postgresql"
            else "SELECT name FROM sqlite_master WHERE type = 'view'")}
    migrate(command.upgrade, "head")
    with engine.connect() as connection:
        assert view_columns(connection, "v_coverage") == list(COLUMNS)
