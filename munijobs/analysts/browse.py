"""Open the SQLite database in Datasette, bound to 127.0.0.1, with the views described and the docs' examples as
canned queries (from munijobs/analysts/metadata.json, generated from docs/data.md).

For analysts: the views are listed first (in the page descriptions, above everything else), the internal tables
are hidden, long texts are cut in tables (the row page shows them whole), and a template in templates/ folds the
column descriptions below the data instead of above it.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import tempfile
from html import escape
from pathlib import Path
from urllib.parse import quote

from munijobs.analysts.dictionary import load_metadata

SQL_TIME_LIMIT_MS = 20_000
"""Datasette's default of 1 s is too short for the views on a large database."""
TRUNCATE_CELLS = 200
"""Characters of a text shown in a table cell (Datasette's truncate_cells_html)."""
TEMPLATES = Path(__file__).with_name("templates")
INTERNAL_TABLES = ("alembic_version", "crawl_locks", "crawl_state", "posting_raw", "employer_name_decisions",
                   "sqlite_sequence", "sqlite_stat1", "sqlite_stat4")
"""Bookkeeping of munijobs and SQLite, hidden from analysts (besides the full-text index, found in the file)."""


def internal_tables(database_file: str) -> list[str]:
    """The internal tables of the database: INTERNAL_TABLES and every FTS table with its shadow tables."""
    if not Path(database_file).is_file():
        return list(INTERNAL_TABLES)
    with contextlib.closing(sqlite3.connect(f"{Path(database_file).resolve().as_uri()}?mode=ro", uri=True)) as db:
        names = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        fts = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%USING fts%'")]
    return [n for n in names if n in INTERNAL_TABLES or any(n == f or n.startswith(f"{f}_") for f in fts)]


def views_html(database: str, tables: dict) -> str:
    """The views first: a list of links with what one row of each is."""
    items = "".join(f'<li><a href="/{quote(database)}/{quote(name)}"><strong>{escape(name)}</strong></a>: '
                    f'{escape(table.get("description", ""))}</li>'
                    for name, table in tables.items() if name.startswith("v_"))
    return (f'<p>Job ads of Norwegian municipalities. Start with the views (column descriptions under each table, '
            f'example queries under Queries):</p><ul class="bullets munijobs-views">{items}</ul>')


def metadata_for(database_file: str) -> dict:
    """Datasette metadata with the views' descriptions and canned queries under the database's name, the views
    listed first and the internal tables hidden."""
    database = Path(database_file).stem
    shipped = load_metadata()
    hidden = {name: {"hidden": True} for name in internal_tables(database_file)}
    listing = views_html(database, shipped["tables"])
    return {
        "title": "munijobs",
        "description_html": listing,
        "databases": {database: {**shipped, "description_html": listing, "tables": {**shipped["tables"], **hidden}}},
    }


def datasette_args(database_file: str, metadata_file: str, port: int, open_browser: bool) -> list[str]:
    """Arguments of `datasette serve` for the database."""
    args = ["serve", database_file, "--host", "127.0.0.1", "--port", str(port), "--metadata", metadata_file,
            "--setting", "sql_time_limit_ms", str(SQL_TIME_LIMIT_MS),
            "--setting", "truncate_cells_html", str(TRUNCATE_CELLS), "--template-dir", str(TEMPLATES)]
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
