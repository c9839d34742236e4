"""The analyst commands are registered (tests/test_cli.py checks every command's help and example)."""

from __future__ import annotations

from munijobs.cli import cli


def test_analyst_commands_registered():
    assert {"export", "search", "stats", "report", "browse", "coverage"} <= set(cli.commands)
