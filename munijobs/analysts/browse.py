"""Open the SQLite database in Datasette, bound to 127.0.0.1, with the views described and the docs' examples as
canned queries (from munijobs/analysts/metadata.json, generated from docs/data.md)."""

from __future__ import annotations

import contextlib
import json
import signal
import tempfile
from pathlib import Path

from munijobs.analysts.dictionary import load_metadata

SQL_TIME_LIMIT_MS = 20_000
"""Datasette's default of 1 s is too short for the views on a large database."""


def metadata_for(database_file: str) -> dict:
    """Datasette metadata with the views' descriptions and canned queries under the database's name."""
    return {
        "title": "munijobs",
        "description": "Job ads of Norwegian municipalities. Read the views v_ads, v_postings, v_ad_history and "
                       "v_crawl_runs; column descriptions are in the table pages, examples under Queries.",
        "databases": {Path(database_file).stem: load_metadata()},
    }


def datasette_args(database_file: str, metadata_file: str, port: int, open_browser: bool) -> list[str]:
    """Arguments of `datasette serve` for the database."""
    args = ["serve", database_file, "--host", "127.0.0.1", "--port", str(port), "--metadata", metadata_file,
            "--setting", "sql_time_limit_ms", str(SQL_TIME_LIMIT_MS)]
    return [*args, "--open"] if open_browser else args


def _exit_on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)


def serve(database_file: str, port: int, open_browser: bool) -> None:
    """Run Datasette in this process until it is stopped (Ctrl-C or SIGTERM), then remove its metadata file.

    Uvicorn re-raises the stop signal after its graceful shutdown; the handlers here turn it into an exit that runs
    the clean-up.
    """
    from datasette.cli import cli as datasette

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="munijobs-datasette-") as directory:
        metadata_file = Path(directory) / "metadata.json"
        metadata_file.write_text(json.dumps(metadata_for(database_file), ensure_ascii=False), encoding="utf-8")
        with contextlib.suppress(KeyboardInterrupt):
            datasette.main(datasette_args(database_file, str(metadata_file), port, open_browser),
                           prog_name="datasette", standalone_mode=False)
