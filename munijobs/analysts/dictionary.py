"""The data dictionary (docs/data.md) read as data: view columns and example queries.

docs/data.md is the one source; `python -m munijobs.analysts.dictionary` regenerates the Datasette metadata shipped
in munijobs/analysts/metadata.json from it (a test keeps the two in step).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "data.md"
METADATA = Path(__file__).with_name("metadata.json")
DIALECTS = ("sqlite", "postgresql")

_VIEW = re.compile(r"^## View `(\w+)`")
_ROW = re.compile(r"^\| `(\w+)` \|(.*)\|\s*$")
_QUERY = re.compile(r"^<!-- query: (\w+) -->")
_FENCE = re.compile(r"^```sql(?: (sqlite|postgresql))?\s*$")
_SUMMARY = re.compile(r"^\| `(v_\w+)` \| ([^|]+) \|$", re.MULTILINE)
"""A row of the table of views at the top of docs/data.md: view, what one row is."""


@dataclass
class Column:
    name: str
    type: str
    meaning: str
    vocabulary: str
    example: str


@dataclass
class Example:
    name: str
    title: str = ""
    description: str = ""
    sql: dict[str, str] = field(default_factory=dict)
    """SQL by dialect."""


def _cells(text: str) -> list[str]:
    return [c.strip() for c in text.split(" | ")]


def parse(text: str) -> tuple[dict[str, list[Column]], list[Example]]:
    """(columns by view, example queries) of a data dictionary in docs/data.md's layout."""
    views: dict[str, list[Column]] = {}
    examples: list[Example] = []
    view = None
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("## "):
            match = _VIEW.match(line)
            view = match.group(1) if match else None
            if view:
                views[view] = []
        elif view and (row := _ROW.match(line)):
            kind, meaning, vocabulary, example = _cells(row.group(2).strip())
            views[view].append(Column(row.group(1), kind, meaning, vocabulary, example.strip("`")))
        elif query := _QUERY.match(line):
            examples.append(Example(query.group(1)))
        elif examples and line.startswith("### ") and not examples[-1].title:
            examples[-1].title = line[4:].strip()
        elif examples and (fence := _FENCE.match(line)):
            body = []
            for code in lines:
                if code.startswith("```"):
                    break
                body.append(code)
            for dialect in [fence.group(1)] if fence.group(1) else DIALECTS:
                examples[-1].sql[dialect] = "\n".join(body).strip()
        elif examples and line.strip() and not line.startswith(("#", "```")) and not examples[-1].sql:
            examples[-1].description = f"{examples[-1].description} {line.strip()}".strip()
    return views, examples


def summaries(text: str) -> dict[str, str]:
    """What one row of each view is, from the table of views at the top of docs/data.md."""
    return {name: summary.strip() for name, summary in _SUMMARY.findall(text)}


def datasette_metadata(views: dict[str, list[Column]], examples: list[Example],
                       rows: dict[str, str] | None = None) -> dict:
    """Datasette metadata for one database (tables and canned queries); `munijobs browse` places it under the
    database's name."""
    rows = rows or {}
    tables = {
        name: {"description": f"One row per {rows[name]}; see docs/data.md." if name in rows
               else f"munijobs view {name}: see docs/data.md",
               "columns": {c.name: f"{c.meaning} [{c.type}; {c.vocabulary}; e.g. {c.example}]" for c in columns}}
        for name, columns in views.items()
    }
    queries = {e.name: {"title": e.title, "description": e.description, "sql": e.sql["sqlite"]} for e in examples}
    return {"tables": tables, "queries": queries}


def load_metadata() -> dict:
    """The shipped Datasette metadata of the views."""
    return json.loads(METADATA.read_text(encoding="utf-8"))


def render_metadata() -> str:
    """metadata.json as generated from docs/data.md."""
    text = DOCS.read_text(encoding="utf-8")
    return json.dumps(datasette_metadata(*parse(text), summaries(text)), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":
    METADATA.write_text(render_metadata(), encoding="utf-8")
    print(f"wrote {METADATA}")
