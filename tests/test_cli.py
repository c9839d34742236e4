"""The command line documents itself and fails clearly on bad input."""

from __future__ import annotations

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
