"""Progress of long commands: a few lines in a log or a pipe, a bar on a terminal."""

from __future__ import annotations

import io

from munijobs.progress import LineProgress, progress_report


def test_lines_come_at_the_start_every_tenth_and_the_end_of_each_stage(capsys):
    show = LineProgress("dedup")
    for done in range(0, 1001, 7):
        show("signatures", done, 1000)
    show("signatures", 1000, 1000)
    show("keys", 5, 5)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "dedup: signatures: 0/1000" and lines[-2:] == ["dedup: signatures: 1000/1000",
                                                                     "dedup: keys: 5/5"]
    assert 11 <= len(lines) <= 13, lines


def test_a_unit_and_no_stage_read_as_renormalise_always_did(capsys):
    show = LineProgress("renormalise", "postings")
    show(None, 3, 3)
    assert capsys.readouterr().err == "renormalise: 3/3 postings\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_per_stage(monkeypatch):
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    with progress_report("dedup") as show:
        show("signatures", 50, 100)
        show("signatures", 100, 100)
        show("keys", 10, 10)
    text = screen.getvalue()
    assert "dedup: signatures" in text and "dedup: keys" in text and "100/100" in text
    assert "━" in text  # the bar itself
