"""The munijobs command line: crawl sources, manage the database, see what happened.

Run `munijobs COMMAND --help` for the options and an example of each command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import click

from munijobs.analysts.commands import BadInput, OneLineErrors
from munijobs.constants import RunStatus
from munijobs.progress import progress_report

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def parse_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    """`NAME=VALUE` pairs as a dict; a pair without '=' is a usage error."""
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="-s")
        overrides[name.strip()] = value
    return overrides


class OneLineGroup(OneLineErrors, click.Group):
    """A command group whose usage errors, and those of its commands, are one line with exit code 2."""


def project_settings(overrides: dict[str, str] | None = None):
    """Scrapy settings of munijobs: environment variables (read now), then command-line overrides, each checked
    (unknown names, numbers out of range, URLs that are not http(s)...: one line, exit 2, before anything runs)."""
    from scrapy.utils.project import get_project_settings

    from munijobs.settings import ENV_SETTINGS, KNOWN, SettingError, UnknownSetting, check_setting, convert

    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "munijobs.settings")
    settings = get_project_settings()
    for name in ENV_SETTINGS:
        if os.environ.get(name):
            try:
                settings.set(name, convert(KNOWN[name], os.environ[name]), priority="project")
            except SettingError as exc:
                raise BadInput(f"environment variable {exc}") from None
    unknown = {}
    for name, value in (overrides or {}).items():
        try:
            settings.set(name, check_setting(name, value), priority="cmdline")
        except UnknownSetting as exc:
            unknown[name] = (value, exc)
        except SettingError as exc:
            raise BadInput(f"-s {exc}") from None
    declared = spider_settings(settings) if unknown else set()
    for name, (value, exc) in unknown.items():
        if name not in declared:
            raise BadInput(f"-s {exc}")
        settings.set(name, value, priority="cmdline")
    return settings


def spider_settings(settings) -> set[str]:
    """Names of the settings the spiders declare as their own (class attribute `known_settings`)."""
    from scrapy.spiderloader import SpiderLoader

    loader = SpiderLoader.from_settings(settings)
    return {name for spider in loader.list() for name in getattr(loader.load(spider), "known_settings", ())}


def spider_names(settings) -> list[str]:
    from scrapy.spiderloader import SpiderLoader

    return sorted(SpiderLoader.from_settings(settings).list())


def database(settings=None, reading: bool = False):
    """The upgraded database engine for these settings (DATABASE_URL); `reading` commands refuse a SQLite file that
    does not exist and open one they may not write read-only."""
    from storage.db import ensure_schema, get_engine, reading_engine

    settings = settings or project_settings()
    if reading:
        return reading_engine(settings.get("DATABASE_URL"))
    return ensure_schema(get_engine(settings.get("DATABASE_URL")))


@click.group(cls=OneLineGroup, context_settings=CONTEXT)
@click.version_option(package_name="munijobs")
def cli():
    """munijobs: collect job ads of Norwegian municipalities and county municipalities into one SQL database.

    Example: munijobs crawl nav && munijobs status
    """


@cli.command(context_settings=CONTEXT)
@click.argument("source", required=False)
@click.option("--all", "all_sources", is_flag=True, help="Crawl every source, one after the other.")
@click.option("-s", "--set", "pairs", multiple=True, metavar="NAME=VALUE",
              help="Override a setting for this run (repeatable), e.g. -s NAV_FEED_LOOKBACK_DAYS=7.")
def crawl(source, all_sources, pairs):
    """Run one crawl of SOURCE (or of every source with --all) into the database.

    Exits 0 when the run completed (ok or partial), 1 when it failed, 3 when another crawl of the source is running.

    Example: munijobs crawl nav -s NAV_FEED_LOOKBACK_DAYS=7
    """
    overrides = parse_overrides(pairs)
    settings = project_settings(overrides)
    names = spider_names(settings)
    if all_sources == bool(source):
        raise click.UsageError("give one SOURCE or --all")
    if all_sources:
        if not names:
            click.echo("munijobs: there is no source yet: nothing to crawl.", err=True)
            sys.exit(0)
        sys.exit(crawl_all(names, pairs))
    if source not in names:
        raise click.BadParameter(f"unknown source {source!r}; known sources: {', '.join(names) or 'none'}",
                                 param_hint="SOURCE")
    sys.exit(crawl_one(source, settings))


def crawl_all(names: list[str], pairs: tuple[str, ...]) -> int:
    """Crawl each source in its own process (Scrapy's reactor cannot restart); non-zero if any failed."""
    worst = 0
    for name in names:
        click.echo(f"munijobs: crawling {name} ...", err=True)
        args = [sys.executable, "-m", "munijobs", "crawl", name, *(f"-s{p}" for p in pairs)]
        code = subprocess.run(args, check=False).returncode
        click.echo(f"munijobs: {name}: {'ok' if code == 0 else f'FAILED (exit {code})'}", err=True)
        worst = max(worst, code)
    return worst


def crawl_one(source: str, settings) -> int:
    """One crawl in this process, under the source's crawl lock; returns the exit code."""
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.defer import deferred_from_coro
    from sqlalchemy.exc import DBAPIError
    from twisted.internet import task

    from munijobs.extensions import quiet_framework_chatter
    from munijobs.health import evaluate_run
    from storage.db import ensure_source
    from storage.locks import acquire
    from storage.runs import fail_run, get_run, start_run

    engine = database(settings)
    ensure_source(engine, source)
    ttl = timedelta(seconds=settings.getint("CRAWL_LOCK_TTL", 300))
    lease = acquire(engine, source, ttl=ttl)
    if lease is None:
        click.echo(f"munijobs: a crawl of {source} is already running; not starting another.", err=True)
        return EXIT_LOCKED
    try:
        run_id = start_run(engine, source)
        lease.attach_run(run_id)
        settings.set("MUNIJOBS_RUN_ID", run_id, priority="cmdline")
        quiet_framework_chatter(settings.get("LOG_LEVEL"))
        process = CrawlerProcess(settings)
        crawler = process.create_crawler(source)
        process.crawl(crawler)

        def heartbeat():
            try:
                renewed = lease.verify() and lease.renew()
            except DBAPIError as exc:  # a passing database fault: keep beating, the lease outlives a few misses
                click.echo(f"munijobs: {source}: could not renew the crawl lock: {exc}", err=True)
                return
            if not renewed:
                crawler.spider.fail("lost the crawl lock to another process")
                deferred_from_coro(crawler.engine.close_spider_async(reason="lock_lost"))

        beat = task.LoopingCall(heartbeat)
        beat.start(max(ttl.total_seconds() / 3, 1), now=False)
        process.start()
        if beat.running:
            beat.stop()
        run = get_run(engine, run_id)
        if run.status == RunStatus.RUNNING:
            fail_run(engine, run_id, "the crawl ended without recording its outcome")
            run = get_run(engine, run_id)
    finally:
        lease.release()
    evaluate_run(engine, run_id, settings)
    click.echo(f"munijobs: {source}: run {run_id} {run.status}"
               f" (seen {run.items_seen}, new {run.items_new}, updated {run.items_updated},"
               f" closed {run.items_closed}, errors {run.errors}){': ' + run.message if run.message else ''}", err=True)
    return EXIT_FAILED if run.status == RunStatus.FAILED else 0


@cli.group(cls=OneLineGroup, context_settings=CONTEXT)
def db():
    """Manage the database schema.

    Example: munijobs db upgrade
    """


@db.command(context_settings=CONTEXT)
def upgrade():
    """Apply all migrations and load the reference code lists (idempotent).

    Uses DATABASE_URL (default sqlite:///munijobs.db).

    Example: DATABASE_URL=postgresql+psycopg://munijobs@localhost/munijobs munijobs db upgrade
    """
    from storage.db import current_revision

    engine = database()
    click.echo(f"database {engine.url.render_as_string(hide_password=True)} is at revision {current_revision(engine)}")


@cli.command(context_settings=CONTEXT)
def status():
    """Show every source's last run, next scheduled run, health and open alerts; exit 1 when any is unhealthy.

    Unhealthy: an open health alert, a failed last run, or a run overdue (by CRAWL_TIME_LIMIT plus the schedule's
    misfire grace), stuck, or never made. The schedule is found like the settings (SCHEDULE_FILE; a relative name in
    the current directory, beside scrapy.cfg, or in the checkout); without one, health is unknown and the exit is 1.
    Monitoring can call it from any directory: exit 0 means all sources are healthy. The last
    line counts the ads in the quarantine (ads that could not be stored; table `quarantine`, see docs/data.md).

    Example: munijobs status
    """
    from rich.console import Console
    from rich.table import Table

    from munijobs.health import open_alerts, quarantine_summary, source_problems
    from scheduler import ScheduleError, find_schedule, load_schedule
    from storage.quarantine import quarantined_counts
    from storage.runs import last_runs

    settings = project_settings()
    engine = database(settings, reading=True)
    runs, alerts = last_runs(engine), open_alerts(engine)
    try:
        schedule = load_schedule(find_schedule(settings.get("SCHEDULE_FILE")), known_sources=spider_names(settings))
    except ScheduleError as exc:
        click.echo(f"munijobs: {exc}: health unknown (not healthy), exit {EXIT_FAILED}", err=True)
        schedule = None
    scheduled = schedule.sources if schedule else {}
    late = timedelta(seconds=settings.getfloat("CRAWL_TIME_LIMIT")) + (schedule.misfire_grace if schedule else
                                                                     timedelta(0))
    now = datetime.now(UTC)
    table = Table(title="munijobs: sources")
    for column in ("source", "last run (UTC)", "status", "seen/new/updated/closed", "errors", "next run (UTC)"):
        table.add_column(column, no_wrap=True)
    table.add_column("health", min_width=10)
    table.add_column("open alerts", min_width=30)
    unhealthy = False
    for name in sorted(set(spider_names(settings)) | set(runs) | set(scheduled)):
        run, spec = runs.get(name), scheduled.get(name)
        due = spec.due(run.started_at, schedule.timezone) if spec and run else None
        problems = source_problems(run, alerts.get(name, []), due, late, now, scheduled=spec is not None)
        unhealthy |= bool(problems)
        table.add_row(*status_row(name, run, spec is not None, due, now, problems, alerts.get(name, [])))
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    click.echo(quarantine_summary(quarantined_counts(engine)))
    sys.exit(EXIT_FAILED if unhealthy or schedule is None else 0)


def status_row(name: str, run, scheduled: bool, due, now, problems: list[str], alerts: list) -> list:
    """The cells of one source in `munijobs status`."""
    from rich.text import Text

    if not scheduled:
        next_run = "not scheduled"
    else:
        next_run = "due now" if due is None or due <= now else f"{due.astimezone(UTC):%Y-%m-%d %H:%M}"
    if run is None:
        cells = ["never", "", "", ""]
    else:
        counts = f"{run.items_seen}/{run.items_new}/{run.items_updated}/{run.items_closed}"
        cells = [f"{run.id} at {run.started_at:%Y-%m-%d %H:%M}", run.status, counts, str(run.errors)]
    health = Text("UNHEALTHY: " + ", ".join(problems), style="bold red") if problems else Text("ok", style="green")
    notes = "\n".join(f"{a.rule} since {a.created_at:%Y-%m-%d %H:%M}: {a.message}" for a in alerts)
    return [name, *cells, next_run, health, Text(notes)]


@cli.command(context_settings=CONTEXT)
@click.option("--once", is_flag=True, help="Run every due source once, in order, then exit; exit 1 if any failed.")
@click.option("-s", "--set", "pairs", multiple=True, metavar="NAME=VALUE",
              help="Override a setting (repeatable); crawls get it as an environment variable.")
def schedule(once, pairs):
    """Crawl every source on its schedule (SCHEDULE_FILE, default munijobs.toml) until SIGTERM or Ctrl-C.

    Each crawl is a subprocess (CRAWL_COMMAND SOURCE) stopped after CRAWL_TIME_LIMIT; every run is recorded and its
    source's health judged; maintenance runs daily. On SIGTERM/SIGINT nothing new starts and running crawls get
    SHUTDOWN_GRACE_SECONDS to finish. With --once: one pass over the due sources, for cron or a systemd timer.

    Example: munijobs schedule --once -s SCHEDULE_FILE=/etc/munijobs/munijobs.toml
    """
    from scheduler import ScheduleError, configure_logging, run

    overrides = parse_overrides(pairs)
    settings = project_settings(overrides)
    configure_logging(settings)
    try:
        code = run(settings, overrides, once=once)
    except ScheduleError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


@cli.command(context_settings=CONTEXT)
def maintenance():
    """Expire postings past their deadline or expiry, drop employers fetched over 30 days ago, prune old run history.

    Run history means crawl runs and resolved alerts older than 90 days (each source keeps its latest run); ad data is
    never deleted. The scheduler runs this daily ([maintenance] in the schedule file). Exits 3 when another
    maintenance or a renormalise is running.

    Example: munijobs maintenance
    """
    from spiders._brreg import refresh_stale_units
    from storage.locks import Held
    from storage.maintenance import run_maintenance

    settings = project_settings()
    engine = database(settings, reading=True)
    try:
        result = run_maintenance(engine, refresh_employers=lambda: refresh_stale_units(
            engine, settings.get("BRREG_API_URL"), settings.get("USER_AGENT")))
    except Held as exc:
        click.echo(f"munijobs: {exc}; not starting another.", err=True)
        sys.exit(EXIT_LOCKED)
    click.echo(f"maintenance: {result.expired} postings expired, {result.employers_refreshed} employers refreshed"
               f" ({result.employers_failed} could not be fetched and keep their old entry),"
               f" {result.runs_pruned} runs and {result.alerts_pruned} alerts pruned")


@cli.command(context_settings=CONTEXT)
@click.option("--source", help="Only postings of this source.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes that normalise in parallel (the machine's cores; reading and writing stay in one).")
def renormalise(source, workers):
    """Re-run the normaliser over stored postings without a recrawl; history is written only for real changes.

    Exits 3 when maintenance or another renormalise is running.

    Example: munijobs renormalise --source nav --workers 2
    """
    from storage.locks import MAINTENANCE, Held, holding
    from storage.renormalise import renormalise_postings

    engine = database(reading=True)
    try:
        with holding(engine, MAINTENANCE), progress_report("renormalise", "postings") as show:
            result = renormalise_postings(engine, source=source, workers=workers,
                                          progress=lambda done, total: show(None, done, total))
    except Held as exc:
        click.echo(f"munijobs: {exc} (maintenance or renormalise); not starting another.", err=True)
        sys.exit(EXIT_LOCKED)
    click.echo(f"renormalised {result.seen} postings: {result.changed} changed, {result.fields} field changes")


@cli.command(context_settings=CONTEXT)
@click.option("--rebuild", is_flag=True, help="Derive every posting's text values again and recluster everything "
              "(after a rule change); without it only postings never deduplicated are placed.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --rebuild: processes that derive the text values in parallel (the machine's cores).")
def dedup(rebuild, workers):
    """Group postings into ads: the same job at several sources, or entered twice, becomes one ad (docs/dedup.md).

    Idempotent: a second run changes nothing. Merges and splits are recorded in v_ad_history (field ad_id).

    Example: munijobs dedup --rebuild --workers 2
    """
    from storage.clusters import place_unclustered, rebuild_clusters

    engine = database()
    with progress_report("dedup") as progress:
        result = (rebuild_clusters(engine, progress=progress, workers=workers) if rebuild
                  else place_unclustered(engine, progress=progress))
    click.echo(f"dedup: {result.postings} postings considered, {result.moved} moved to another ad,"
               f" {result.ads_created} ads created, {result.ads_deleted} ads emptied and removed")


from munijobs.analysts.commands import browse, coverage, export, report, search, stats  # noqa: E402

for command in (export, search, stats, report, browse, coverage):
    cli.add_command(command)


TRANSIENT_DATABASE_ERRORS = ("connection refused", "timeout", "timed out", "could not connect", "server closed",
                             "no route to host", "database is locked", "terminating connection")
"""OperationalError messages of a database that may work again later (exit 1); other ones are a bad URL (exit 2)."""


def main() -> None:
    """Run the CLI; a database that cannot be used is one clear line, not a traceback."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from storage.db import IN_USE, DatabaseMissing, MigrationLocked, UnsupportedDatabase, database_url

    try:
        cli(prog_name="munijobs")
    except (UnsupportedDatabase, DatabaseMissing, ArgumentError, NoSuchModuleError) as exc:
        click.echo(f"munijobs: {str(exc).splitlines()[0]}", err=True)
        sys.exit(EXIT_USAGE)
    except MigrationLocked as exc:
        click.echo(f"munijobs: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    except OperationalError as exc:
        url = IN_USE[0] if IN_USE else make_url_safe(database_url())
        reason = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else type(exc).__name__
        click.echo(f"munijobs: cannot use the database {url}: {reason}", err=True)
        transient = any(word in reason.lower() for word in TRANSIENT_DATABASE_ERRORS)
        sys.exit(EXIT_FAILED if transient else EXIT_USAGE)


def make_url_safe(url: str) -> str:
    """The URL with any password hidden."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable DATABASE_URL)"
