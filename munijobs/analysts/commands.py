"""Click commands for analysts: export, search, stats, report, browse and coverage (registered in munijobs.cli)."""

from __future__ import annotations

import functools

import click

from munijobs.analysts import filters as f

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
EXIT_USAGE = 2


class BadInput(click.ClickException):
    """A usage error shown as one line ("Error: ...") with exit code 2."""

    exit_code = EXIT_USAGE


class OneLineErrors:
    """For click commands and groups: usage errors (bad option values, unknown options), bad filter values and
    arguments that are not UTF-8 are one line, exit code 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            for arg in args:
                f.check_text(arg, "argument", limit=f.UNLIMITED)
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise BadInput(exc.format_message()) from None
        except f.BadValue as exc:
            raise BadInput(str(exc)) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise BadInput(exc.format_message()) from None
        except f.BadValue as exc:
            raise BadInput(str(exc)) from None


class AnalystCommand(OneLineErrors, click.Command):
    """An analyst command: bad input is one line, exit code 2."""


def engine():
    """The database engine of DATABASE_URL (default sqlite:///munijobs.db) for reading: a SQLite file that does not
    exist is refused (storage.db.DatabaseMissing), one this process may not write is opened read-only."""
    from storage.db import reading_engine

    return reading_engine()


class Parsed(click.ParamType):
    """A parameter checked by a filters parser; its BadValue becomes a one-line usage error."""

    def __init__(self, name: str, parser):
        self.name, self.parser = name, parser

    def convert(self, value, param, ctx):
        try:
            return self.parser(value)
        except f.BadValue as exc:
            self.fail(str(exc), param, ctx)


def ad_filter_options(published: bool = True, updated: bool = True):
    """The filter options on v_ads shared by the commands."""
    def decorate(command):
        options = [
            click.option("--status", "statuses", multiple=True, metavar="STATUS",
                         help="active, expired or withdrawn (repeatable or comma-separated)."),
            click.option("--municipality", "municipalities", multiple=True, metavar="CODE|NAME",
                         help="Municipality number or name in any case, e.g. 5001, Trondheim, TRONDHEIM, Tråante."),
            click.option("--county", "counties", multiple=True, metavar="CODE|NAME",
                         help="County number or name, e.g. 50, Trøndelag."),
            click.option("--employer", metavar="NAME|ORGNR",
                         help="Part of the employer's name (any case), or a nine-digit organisation number."),
            click.option("--occupation", metavar="STYRK|NAME",
                         help="STYRK-08 code or code prefix (2223, 22) or part of an occupation name."),
        ]
        if published:
            options += [
                click.option("--published-since", type=Parsed("date", lambda v: f.parse_day(v, "--published-since")),
                             metavar="YYYY-MM-DD", help="Published on or after this day (UTC)."),
                click.option("--published-until", type=Parsed("date", lambda v: f.parse_day(v, "--published-until")),
                             metavar="YYYY-MM-DD", help="Published on or before this day (UTC)."),
            ]
        if updated:
            options.append(click.option(
                "--updated-since", type=Parsed("time", lambda v: f.parse_moment(v, "--updated-since")),
                metavar="YYYY-MM-DD[THH:MM]",
                help="Only ads seen or changed since then (UTC), for incremental exports."))
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


def ad_filters(statuses=(), municipalities=(), counties=(), employer=None, occupation=None, published_since=None,
               published_until=None, updated_since=None) -> f.AdFilters:
    """AdFilters from the values of ad_filter_options (raises BadValue)."""
    for option, values in (("--status", statuses), ("--municipality", municipalities), ("--county", counties),
                           ("--employer", (employer or "",)), ("--occupation", (occupation or "",))):
        for value in values:
            f.check_text(value, option)
    orgnr, name = f.parse_employer(employer) if employer is not None else (None, None)
    return f.AdFilters(
        statuses=f.parse_status(statuses), municipality_codes=f.parse_municipalities(municipalities),
        county_codes=f.parse_counties(counties), employer_orgnr=orgnr, employer_name=name,
        occupation_codes=f.parse_occupation(occupation) if occupation is not None else None,
        published_since=published_since, published_until=published_until, updated_since=updated_since)


FILTER_KEYS = ("statuses", "municipalities", "counties", "employer", "occupation", "published_since",
               "published_until", "updated_since")


def split_filters(kwargs: dict) -> tuple[f.AdFilters, dict]:
    """(AdFilters, remaining keyword arguments) of a command's keyword arguments."""
    given = {k: kwargs.pop(k) for k in FILTER_KEYS if k in kwargs}
    return ad_filters(**given), kwargs


def with_filters(command):
    """Turn the filter options into one `filters` argument."""
    @functools.wraps(command)
    def wrapper(**kwargs):
        filters, rest = split_filters(kwargs)
        return command(filters=filters, **rest)
    return wrapper


def check_output(output: str) -> None:
    """Refuse an output file whose directory does not exist, that is a directory, or that is the SQLite database
    being read (or its WAL files), also through a symlink."""
    import os
    from pathlib import Path

    from storage.db import get_engine, sqlite_file

    if output == "-":
        return
    path = Path(output)
    if path.is_dir():
        raise BadInput(f"-o {output!r} is a directory: give a file name, or '-' for standard output")
    if not path.resolve().parent.is_dir():
        raise BadInput(f"-o {output!r}: directory {str(path.parent)!r} does not exist")
    database = sqlite_file(get_engine())
    if database is None:
        return
    database = database.resolve()
    protected = {database, *(database.with_name(database.name + end) for end in ("-wal", "-shm", "-journal"))}
    same = path.exists() and database.exists() and os.path.samefile(path, database)
    if same or path.resolve() in protected:
        raise BadInput(f"-o {output!r} is the database being read ({database}): give another file name")


def choice(name: str, options: tuple[str, ...]):
    """A lower-case choice whose error lists the accepted values in one line."""
    def parse(value: str) -> str:
        if value.lower() not in options:
            raise f.BadValue(f"unknown {name} {value!r}: use one of {', '.join(options)}")
        return value.lower()
    return Parsed(name, parse)


@click.command(cls=AnalystCommand, context_settings=CONTEXT)
@click.option("--format", "fmt", type=choice("format", ("csv", "jsonl", "parquet")), default="csv", show_default=True,
              help="csv (RFC 4180, UTF-8), jsonl (one JSON object per line) or parquet (typed columns).")
@click.option("-o", "--output", required=True, metavar="FILE", help="File to write, '-' for standard output.")
@click.option("--excel", is_flag=True,
              help="CSV for Norwegian Excel: UTF-8 with BOM, ';' separator, dd.mm.yyyy dates, decimal comma.")
@click.option("--columns", metavar="COL,COL,...", help="Only these v_ads columns, in this order (default: all).")
@ad_filter_options()
@with_filters
def export(filters, fmt, output, excel, columns):
    """Export ads (the view v_ads) to CSV, JSON Lines or Parquet.

    Streams in constant memory, writes to a temporary file beside FILE and renames it when complete. Contact
    persons are never exported (v_ads has no contact columns; ad texts are masked).

    Example: munijobs export --format csv --excel --county Trøndelag --status active -o trøndelag.csv
    """
    from munijobs.analysts.export import Progress, export_ads

    if excel and fmt != "csv":
        raise BadInput(f"--excel applies to --format csv only, not {fmt!r}")
    chosen = f.parse_columns(columns)
    check_output(output)
    progress = Progress("export")
    count = export_ads(engine(), output, fmt, filters, chosen, excel=excel, progress=progress)
    progress.finish(f"export: wrote {count:,} ads to {'standard output' if output == '-' else output}"
                    f" in {progress.elapsed:.1f} s")


def _cell(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "hour"):
        return f"{value:%Y-%m-%d %H:%M}"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@click.command(cls=AnalystCommand, context_settings=CONTEXT)
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="Show at most N ads.")
@click.option("--format", "fmt", type=choice("format", ("table", "csv", "jsonl")), default="table",
              show_default=True, help="A terminal table, or csv / jsonl on standard output (snippet hits as **word**).")
@ad_filter_options()
@with_filters
def search(filters, query, limit, fmt):
    """Full-text search of ads: title, employer and ad text, best matches first, with a snippet.

    QUERY: words (all must match), "a phrase", or a prefix* (sykepl*). Letter case does not matter; æ, ø and å are
    letters of their own. PostgreSQL also matches inflected forms (norwegian stemming); SQLite matches whole words.

    Example: munijobs search "sykepleier natt" --county Trøndelag --status active
    """
    import csv
    import io
    import json

    from munijobs.analysts.export import plain_value
    from munijobs.analysts.search import HIT, RESULT_COLUMNS, plain_snippet
    from munijobs.analysts.search import search as run_search

    f.check_query(query)
    total, hits = run_search(engine(), query, filters, limit=limit)
    if fmt == "table":
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"{total} ads match {query!r}" + (f" (best {len(hits)})" if total > len(hits) else ""),
                      show_lines=True)
        for name in ("#", "ad", "title / employer / place", "status", "published", "deadline", "snippet"):
            table.add_column(name, overflow="fold")
        for hit in hits:
            ad = hit.ad
            snippet = Text()
            for n, part in enumerate(plain_snippet(hit.snippet, HIT[0], HIT[1]).split(HIT[0])):
                matched, _, rest = part.partition(HIT[1]) if n else ("", "", part)
                snippet.append(matched, style="bold yellow")
                snippet.append(rest)
            table.add_row(str(hit.rank), str(ad["ad_id"]),
                          Text("\n".join(_cell(ad[k]) for k in ("title", "employer_name", "municipality_name"))),
                          ad["status"], _cell(ad["published_at"])[:10], _cell(ad["deadline_date"]), snippet)
        Console().print(table)
        return
    names = ["rank", *RESULT_COLUMNS, "score", "snippet"]
    records = [{"rank": h.rank, **{k: plain_value(v) for k, v in h.ad.items()}, "score": round(h.score, 6),
                "snippet": plain_snippet(h.snippet)} for h in hits]
    if fmt == "jsonl":
        for record in records:
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(records)
    click.echo(out.getvalue(), nl=False)


@click.command(cls=AnalystCommand, context_settings=CONTEXT)
@click.option("--by", "by", type=choice("--by", ("municipality", "county", "occupation", "engagement_type", "week")),
              default="county", show_default=True, metavar="DIMENSION",
              help="municipality, county, occupation (STYRK-08), engagement_type or week (ISO week, UTC).")
@click.option("--since", type=Parsed("date", lambda v: f.parse_day(v, "--since")), metavar="YYYY-MM-DD",
              help="Ads published on or after this day (UTC; first seen, when the source gives no date).")
@click.option("--until", type=Parsed("date", lambda v: f.parse_day(v, "--until")), metavar="YYYY-MM-DD",
              help="Ads published on or before this day.")
@click.option("--format", "fmt", type=choice("format", ("table", "csv")), default="table", show_default=True,
              help="A terminal table, or CSV on standard output.")
@ad_filter_options(published=False, updated=False)
@with_filters
def stats(filters, by, since, until, fmt):
    """Count ads by municipality, county, occupation, engagement type or week, with the number still active.

    By municipality or occupation, `readvertised` counts the ads that advertise a position again after its earlier
    ad closed (v_ads.readvertised_from_ad_id): a sign of a post that is hard to fill.

    Example: munijobs stats --by occupation --since 2026-01-01 --county Vestland
    """
    import csv
    import io

    from munijobs.analysts.stats import COUNTS
    from munijobs.analysts.stats import stats as count

    if since and until and since > until:
        raise BadInput(f"--since {since} is after --until {until}")
    result = count(engine(), by, filters, since, until)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(result.header)
        writer.writerows([_cell(v) for v in row] for row in result.rows)
        click.echo(out.getvalue(), nl=False)
        return
    from rich.console import Console
    from rich.table import Table

    span = f"{since or '…'} to {until or '…'}" if since or until else "all time"
    table = Table(title=f"Ads by {by.replace('_', ' ')}, published {span}", show_footer=True)
    for n, name in enumerate(result.header):
        numeric = name in COUNTS
        footer = f"{sum(r[n] for r in result.rows):,}" if numeric else ""
        table.add_column(name, justify="right" if numeric else "left", footer="total" if n == 0 else footer)
    for row in result.rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else _cell(v) for v in row))
    Console().print(table)


@click.command(cls=AnalystCommand, context_settings=CONTEXT)
@click.option("-o", "--output", required=True, metavar="FILE", help="HTML file to write, '-' for standard output.")
@click.option("--weeks", type=click.IntRange(1, 260), default=12, show_default=True,
              help="Number of ISO weeks in the weekly chart.")
@click.option("--until", type=Parsed("date", lambda v: f.parse_day(v, "--until")), metavar="YYYY-MM-DD",
              help="Last day of the weekly chart (default: today, UTC).")
@click.option("--title", default="munijobs report", show_default=True, help="Heading of the page.")
@ad_filter_options(published=False, updated=False)
@with_filters
def report(filters, output, weeks, until, title):
    """Write one self-contained HTML page to mail to a colleague: totals, ads per week by county, top occupations,
    share of temporary positions, the newest ads and each source's health. No scripts, no external fetches.

    Example: munijobs report -o report.html --county Vestland --weeks 26
    """
    from munijobs.analysts.export import atomic_output
    from munijobs.analysts.report import collect, render

    check_output(output)
    page = render(collect(engine(), filters, weeks=weeks, until=until), title=title)
    with atomic_output(output) as binary:
        binary.write(page.encode("utf-8"))
    if output != "-":
        click.echo(f"report: wrote {output}", err=True)


@click.command(cls=AnalystCommand, context_settings=CONTEXT)
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--no-open", is_flag=True, help="Do not open a web browser.")
def browse(port, no_open):
    """Explore the SQLite database in Datasette on 127.0.0.1: the views with their column descriptions, and the
    example queries of docs/data.md as canned queries. Stop with Ctrl-C.

    Example: munijobs browse --port 8001 --no-open
    """
    from munijobs.analysts.browse import serve
    from storage.db import sqlite_file

    database = engine()
    if database.dialect.name != "sqlite":
        raise BadInput("Datasette needs a SQLite database, but DATABASE_URL is PostgreSQL: export the data instead,"
                       " e.g. munijobs export --format parquet -o ads.parquet (or --format csv), and open that file")
    path = str(sqlite_file(database) or "")
    if not path:
        raise BadInput("Datasette needs a SQLite database file, not an in-memory database: set DATABASE_URL to"
                       " sqlite:///FILE")
    serve(path, port, not no_open)


COVERAGE_TABLE_WIDTH = 150
"""Narrowest terminal table of `munijobs coverage` (a column per source and per "only on" does not fit in 80)."""


def _coverage_cell(value) -> str:
    """A CSV cell of the coverage table: flags as true/false, hours as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _cell(value)


@click.command(cls=AnalystCommand, context_settings=CONTEXT)
@click.option("--since", type=Parsed("date", lambda v: f.parse_day(v, "--since")), metavar="YYYY-MM-DD",
              help="Count the ads open at any time since this day (UTC) instead of the ads active now.")
@click.option("--county", "counties", multiple=True, metavar="CODE|NAME",
              help="Only the municipalities of this county, e.g. 50, Trøndelag (repeatable).")
@click.option("--format", "fmt", type=choice("format", ("table", "csv", "html")), default="table",
              show_default=True, help="A terminal table, CSV, or a self-contained HTML page.")
@click.option("-o", "--output", default="-", show_default=True, metavar="FILE",
              help="File to write, '-' for standard output.")
def coverage(since, counties, fmt, output):
    """Which share of each municipality's ads each source carries: one row per municipality, a column per source,
    the ads only one source has, each source's median delay behind the first source, and "likely gap" where no
    source has published an ad for 30 days. See docs/coverage.md for how to read it.

    Example: munijobs coverage --county Trøndelag --format csv -o trøndelag-coverage.csv
    """
    import csv
    import io

    from munijobs.analysts.coverage import GAP_FLAG, collect
    from munijobs.analysts.export import atomic_output

    county_codes = f.parse_counties(counties)
    check_output(output)
    result = collect(engine(), since=since, county_codes=county_codes)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(result.header())
        writer.writerows([_coverage_cell(v) for v in row] for row in result.records())
        page = out.getvalue()
    elif fmt == "html":
        from munijobs.analysts.report import render_coverage

        page = render_coverage(result)
    else:
        from rich.console import Console
        from rich.table import Table

        scope = f"open since {since}" if since else "active now"
        table = Table(title=f"Ads {scope} per municipality and source", show_footer=True)
        names = ["code", "municipality", "ads", *result.sources, *(f"only on {s}" for s in result.sources),
                 *(f"delay {s} (h)" for s in result.sources), "latest ad", "gap?"]
        footers = {"code": "total", "ads": f"{sum(r.total for r in result.rows):,}",
                   **{s: f"{sum(r.active[s] for r in result.rows):,}" for s in result.sources},
                   **{f"only on {s}": f"{sum(r.only[s] for r in result.rows):,}" for s in result.sources}}
        for name in names:
            table.add_column(name, justify="left" if name in ("code", "municipality", "latest ad", "gap?")
                             else "right", footer=footers.get(name, ""), no_wrap=name == "municipality")
        for r in result.rows:
            table.add_row(r.code, r.name, f"{r.total:,}", *(f"{r.active[s]:,}" for s in result.sources),
                          *(f"{r.only[s]:,}" for s in result.sources),
                          *("" if r.delay_hours[s] is None else f"{r.delay_hours[s]:.1f}" for s in result.sources),
                          _cell(r.latest)[:10], GAP_FLAG if r.likely_gap else "")
        out = io.StringIO()
        terminal = Console().width if output == "-" else 0
        Console(file=out, width=max(terminal, COVERAGE_TABLE_WIDTH)).print(table)
        page = out.getvalue()
    with atomic_output(output) as binary:
        binary.write(page.encode("utf-8"))
    if output != "-":
        click.echo(f"coverage: wrote {output}", err=True)
