"""Health rules (munijobs/health.py): each rule firing and not firing, alerts in the table, the log and the webhook."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from click.testing import CliRunner
from scrapy.settings import Settings
from sqlalchemy import select

from munijobs import cli
from munijobs.constants import RunStatus
from munijobs.health import check_coverage, check_failures, check_items, evaluate_run, post_webhook, source_problems
from storage.db import get_engine, session_scope, upgrade
from storage.models import Alert, CrawlRun

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
FULL = {"coverage/postings": 100, "coverage/title": 100, "coverage/employer_name": 100,
        "coverage/municipality_code": 95, "coverage/deadline_kind": 90}


def run(items: int = 10, status: RunStatus = RunStatus.OK, stats: dict | None = None, **values) -> CrawlRun:
    return CrawlRun(source="nav", started_at=NOW, status=str(status), items_seen=items, stats=stats, **values)


def history(*counts: int) -> list[CrawlRun]:
    return [run(c) for c in counts]


@pytest.mark.parametrize(("items", "counts", "fires"), [
    (0, (10, 12, 0, 9), "no_items"),
    (4, (10, 12, 8, 9), "few_items"),
    (5, (10, 12, 8, 9), None),
    (0, (0, 0, 3), None),
    (0, (10, 12), None),
])
def test_item_rules(items, counts, fires):
    verdicts = check_items(run(items), history(*counts))
    assert {rule for rule, message in verdicts.items() if message} == ({fires} if fires else set())


def test_item_rules_judge_only_successful_runs_with_history():
    assert check_items(run(0, RunStatus.FAILED), history(10, 10, 10)) == {}
    assert check_items(run(0), history(10, 10)) == {}
    assert check_items(run(3, RunStatus.PARTIAL), history(10, 10, 10))["few_items"]


def test_coverage_rule():
    assert check_coverage(run(stats=FULL)) == {"low_coverage": None}
    message = check_coverage(run(stats={**FULL, "coverage/employer_name": 80, "coverage/deadline_kind": 89}))
    assert message["low_coverage"] == "field coverage below 90% of 100 postings: employer 80%, deadline 89%"
    assert check_coverage(run(stats={"coverage/postings": 0})) == {}
    assert check_coverage(run(stats=None)) == {}
    assert check_coverage(run(status=RunStatus.FAILED, stats=FULL)) == {}


def test_failing_rule():
    failed = [run(status=RunStatus.FAILED, message="HTTP 503") for _ in range(3)]
    assert check_failures(failed)["failing"] == "the last 3 runs failed (last: HTTP 503)"
    assert check_failures(failed[:2])["failing"] is None
    assert check_failures([*failed[:2], run()])["failing"] is None


def test_source_problems():
    late = timedelta(hours=1)
    assert source_problems(run(), [], NOW + late, late, NOW) == []
    assert source_problems(run(status=RunStatus.FAILED), [], None, late, NOW) == ["last run failed"]
    assert source_problems(run(), [], NOW - 2 * late, late, NOW) == ["overdue"]
    assert source_problems(run(status=RunStatus.RUNNING), [], NOW - 2 * late, late, NOW + 2 * late) == ["run stuck"]
    assert source_problems(None, [], None, late, NOW, scheduled=True) == ["never run"]
    assert source_problems(None, [], None, late, NOW) == []
    assert source_problems(run(), [Alert(rule="no_items")], None, late, NOW) == ["no_items"]


class Webhook:
    """A local HTTP server that keeps the JSON bodies POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def add_run(engine, items: int, status: RunStatus = RunStatus.OK) -> int:
    with session_scope(engine) as session:
        row = run(items, status, stats={**FULL, "coverage/postings": items} if items else None)
        session.add(row)
        session.flush()
        return row.id


def alerts(engine) -> list[tuple[str, str, bool]]:
    with session_scope(engine) as session:
        return [(a.rule, a.source, a.resolved_at is None) for a in session.scalars(select(Alert).order_by(Alert.id))]


def test_alert_opens_once_and_resolves(engine, webhook, caplog):
    settings = {"ALERT_WEBHOOK_URL": webhook.url}
    for count in (20, 22, 19, 21):
        assert evaluate_run(engine, add_run(engine, count), settings) == []
    empty = add_run(engine, 0)
    with caplog.at_level(logging.ERROR, logger="munijobs.health"):
        open_alerts = evaluate_run(engine, empty, settings)
    assert [a.rule for a in open_alerts] == ["no_items"]
    assert any("ALERT no_items" in r.message and r.levelno == logging.ERROR for r in caplog.records)
    assert alerts(engine) == [("no_items", "nav", True)]
    assert webhook.received == [{"source": "nav", "rule": "no_items", "run_id": empty, "state": "open",
                                 "message": webhook.received[0]["message"], "host": webhook.received[0]["host"],
                                 "text": webhook.received[0]["text"]}]
    assert "yielded no items" in webhook.received[0]["text"]

    caplog.clear()
    evaluate_run(engine, empty, settings)
    assert alerts(engine) == [("no_items", "nav", True)] and len(webhook.received) == 1, "evaluating twice is a no-op"
    assert not caplog.records

    assert evaluate_run(engine, add_run(engine, 20), settings) == []
    assert alerts(engine) == [("no_items", "nav", False)]
    assert [m["state"] for m in webhook.received] == ["open", "resolved"]


def test_three_failures_alert_and_failed_runs_keep_item_alerts(engine):
    for count in (20, 22, 19, 0):
        evaluate_run(engine, add_run(engine, count))
    assert [a.rule for a in evaluate_run(engine, add_run(engine, 0, RunStatus.FAILED))] == ["no_items"]
    evaluate_run(engine, add_run(engine, 0, RunStatus.FAILED))
    assert [a.rule for a in evaluate_run(engine, add_run(engine, 0, RunStatus.FAILED))] == ["no_items", "failing"]
    assert evaluate_run(engine, add_run(engine, 21)) == []


def test_webhook_failure_is_logged_not_raised(caplog):
    with caplog.at_level(logging.ERROR, logger="munijobs.health"):
        assert post_webhook("http://127.0.0.1:9/hook", {"text": "x"}) is False
    assert "alert webhook" in caplog.text


def test_status_exits_non_zero_when_a_source_is_unhealthy(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'status.db'}"
    engine = upgrade(get_engine(url))
    (tmp_path / "munijobs.toml").write_text('[sources.nav]\nevery = "10m"\n')
    settings = Settings()
    settings.setmodule("munijobs.settings")
    settings.setdict({"DATABASE_URL": url, "SCHEDULE_FILE": str(tmp_path / "munijobs.toml")})
    monkeypatch.setattr(cli, "project_settings", lambda overrides=None: settings)
    with session_scope(engine) as session:
        session.add(CrawlRun(source="nav", started_at=datetime.now(UTC) - timedelta(minutes=1), status="ok",
                             items_seen=7))
    healthy = CliRunner().invoke(cli.cli, ["status"])
    assert healthy.exit_code == 0, healthy.output
    assert "nav" in healthy.output and "ok" in healthy.output
    with session_scope(engine) as session:
        session.add(Alert(source="nav", rule="no_items", message="yielded no items", created_at=datetime.now(UTC)))
    unhealthy = CliRunner().invoke(cli.cli, ["status"])
    assert unhealthy.exit_code == 1
    assert "UNHEALTHY: no_items" in unhealthy.output and "yielded no items" in unhealthy.output
    engine.dispose()


def test_a_failed_webhook_logs_the_host_only_and_the_alert_is_posted_after_the_next_run(engine, webhook, caplog):
    secret = "http://127.0.0.1:9/hooks/T000/B000/s3cr3t-token?key=hunter2"
    for count in (20, 22, 19, 21):
        evaluate_run(engine, add_run(engine, count))
    with caplog.at_level(logging.ERROR, logger="munijobs.health"):
        evaluate_run(engine, add_run(engine, 0), {"ALERT_WEBHOOK_URL": secret})
    assert "alert webhook to 127.0.0.1 failed" in caplog.text
    assert "s3cr3t" not in caplog.text and "hunter2" not in caplog.text and "/hooks/" not in caplog.text
    assert webhook.received == []
    evaluate_run(engine, add_run(engine, 0), {"ALERT_WEBHOOK_URL": webhook.url})
    assert [(m["rule"], m["state"]) for m in webhook.received] == [("no_items", "open")], "the kept alert, once"
    evaluate_run(engine, add_run(engine, 0), {"ALERT_WEBHOOK_URL": webhook.url})
    assert len(webhook.received) == 1, "a delivered alert is not posted again"
