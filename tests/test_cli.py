"""The command line documents itself and fails clearly on bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from munijobs.cli import cli


def all_commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


COMMANDS = list(all_commands(cli))


def test_core_commands_exist():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"crawl", "db", "db upgrade", "status", "renormalise"} <= names


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=lambda p: " ".join(p))
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert "munijobs" in result.output.split("Example:")[1]


def test_crawl_rejects_unknown_source(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(cli, ["crawl", "no-such-source"])
    assert result.exit_code == 2
    assert "unknown source 'no-such-source'" in result.output


def test_crawl_rejects_malformed_override():
    result = CliRunner().invoke(cli, ["crawl", "nav", "-s", "NOEQUALS"])
    assert result.exit_code == 2
    assert "is not NAME=VALUE" in result.output


def test_db_upgrade_reports_revision(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "is at revision" in result.output


def run_cli(*args: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "munijobs", *args], cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_an_unreachable_database_is_one_clear_line(tmp_path):
    result = run_cli("status", env={"DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:9/none"}, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("munijobs: cannot use the database postgresql://nobody:***@127.0.0.1:9/none:")
    assert "Traceback" not in result.stderr and "secret" not in result.stderr


def test_an_unsupported_database_is_a_usage_error(tmp_path):
    result = run_cli("db", "upgrade", env={"DATABASE_URL": "mysql://x@localhost/jobs"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "unsupported DATABASE_URL 'mysql://x@localhost/jobs'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_cli_finds_its_spiders_outside_the_checkout(tmp_path):
    result = run_cli("crawl", "no-such-source", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "known sources: jobbnorge, nav" in result.stderr
