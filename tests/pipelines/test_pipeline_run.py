"""A whole crawl through the pipelines into the database, as `munijobs crawl` runs it (in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from storage.db import get_engine
from storage.state import get_state

ROOT = Path(__file__).resolve().parents[2]

AD_HTML = "<p>Vi søker en engasjert sykepleier.</p><p>Stillingsbrøk: 100 %</p><p>Søknadsfrist: 15.01.2027</p>"


def crawl(database_url: str, payload: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    items_file = tmp_path / "items.json"
    items_file.write_text(json.dumps(payload), encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": database_url}
    args = [sys.executable, "-m", "munijobs", "crawl", "fixture_jobs",
            "-s", "SPIDER_MODULES=spiders,tests.fakes.spiders",
            "-s", f"FIXTURE_ITEMS_FILE={items_file}", "-s", "STORE_BATCH_SIZE=2"]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def ad(ad_id: str, **extra) -> dict:
    return {"source_ad_id": ad_id, "title": f"Sykepleier {ad_id}", "employer_name": "Trondheim kommune",
            "description_html": AD_HTML, "published_at": "2026-11-20T09:00:00+01:00",
            "work_locations": [{"municipality": "TRONDHEIM", "county": "TRØNDELAG"}], **extra}


def test_crawl_stores_valid_items_drops_invalid_ones_and_records_the_run(database_url, tmp_path):
    payload = {"items": [ad("1"), ad("2"), {"checkpoint": "page-2"}, ad("3", title=""), ad("4")]}
    result = crawl(database_url, payload, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    engine = get_engine(database_url)
    with engine.connect() as connection:
        titles = connection.execute(text("SELECT title FROM v_ads ORDER BY title")).scalars().all()
        run = connection.execute(text("SELECT * FROM v_crawl_runs")).mappings().one()
        stats = connection.execute(text("SELECT stats FROM crawl_runs")).scalar()
    assert titles == ["Sykepleier 1", "Sykepleier 2", "Sykepleier 4"]
    # an ad that cannot be stored is an error on an ad: quarantined, and the run is partial (issue 10)
    assert (run["status"], run["items_seen"], run["items_new"], run["items_updated"]) == ("partial", 4, 3, 0)
    assert run["finished_at"] is not None
    stats = json.loads(stats) if isinstance(stats, str) else stats
    assert stats["dropped/missing_title"] == 1
    with engine.connect() as connection:
        assert connection.execute(text("SELECT source_ad_id FROM quarantine")).scalars().all() == ["3"]
    assert get_state(engine, "fixture_jobs", "cursor") == "page-2"
    assert "dropped" in result.stderr or "missing_title" in result.stderr


def test_rerun_is_idempotent_and_a_change_is_history(database_url, tmp_path):
    assert crawl(database_url, {"items": [ad("1"), ad("2")]}, tmp_path).returncode == 0
    assert crawl(database_url, {"items": [ad("1"), ad("2", title="Sykepleier natt")]}, tmp_path).returncode == 0
    engine = get_engine(database_url)
    with engine.connect() as connection:
        runs = connection.execute(text("SELECT items_new, items_updated FROM v_crawl_runs ORDER BY run_id")).all()
        history = connection.execute(text("SELECT field, new_value FROM v_ad_history")).all()
    assert [tuple(r) for r in runs] == [(2, 0), (0, 1)]
    assert [tuple(h) for h in history] == [("title", "Sykepleier natt")]


def test_a_failed_source_records_a_failed_run_and_exits_non_zero(database_url, tmp_path):
    result = crawl(database_url, {"fail": "feed unreachable", "items": []}, tmp_path)
    assert result.returncode == 1
    assert "feed unreachable" in result.stderr
    with get_engine(database_url).connect() as connection:
        run = connection.execute(text("SELECT status FROM v_crawl_runs")).scalar()
        postings = connection.execute(text("SELECT COUNT(*) FROM postings")).scalar()
    assert (run, postings) == ("failed", 0)
