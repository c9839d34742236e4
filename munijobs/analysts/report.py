"""One self-contained HTML report: totals, weekly ads by county, top occupations, temporary share, the coverage of
the sources, newest ads and the health of each source. Charts are inline SVG laid out to fit (labels are measured
with a generous estimate and thinned or cut; legends are HTML, so they wrap); nothing is fetched when the page is
opened; all data is escaped. Also the page of `munijobs coverage --format html`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html import escape
from urllib.parse import urlsplit

from sqlalchemy import Engine, Integer, cast, func, select

from munijobs.analysts import coverage as sources_coverage
from munijobs.analysts.coverage import GAP_DAYS, GAP_FLAG, CountyCoverage, Coverage
from munijobs.analysts.filters import AdFilters, where
from munijobs.analysts.stats import period, publication_day, publication_time
from munijobs.analysts.views import alerts, prepare, v_ads, v_crawl_runs

TEMPORARY = ("temporary", "fixed_term", "project", "seasonal", "summer")
"""Engagement types counted as temporary positions (as in docs/data.md)."""
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#aaaaaa")
NEWEST = 20
TOP_OCCUPATIONS = 15


@dataclass
class ReportData:
    """Everything the report shows."""

    generated_at: datetime
    weeks: list[date]
    statuses: dict[str, int] = field(default_factory=dict)
    postings: int = 0
    weekly: dict[tuple[str, date], int] = field(default_factory=dict)
    counties: dict[str, str] = field(default_factory=dict)
    occupations: list[tuple[str, str, int]] = field(default_factory=list)
    temporary: list[tuple[str, int, int]] = field(default_factory=list)
    newest: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    coverage: Coverage | None = None
    readvertised: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)
    """By "occupation" and "municipality": (name, re-advertised ads, ads), most re-advertised first."""

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def collect(engine: Engine, filters: AdFilters, weeks: int = 12, until: date | None = None) -> ReportData:
    """Query the report's data; the weekly chart covers `weeks` ISO weeks ending with the week of `until` (today)."""
    prepare(engine)
    dialect = engine.dialect.name
    clauses = where(filters, dialect)
    now = datetime.now(UTC)
    until = until or now.date()
    last_monday = until - timedelta(days=until.weekday())
    mondays = [last_monday - timedelta(weeks=n) for n in reversed(range(weeks))]
    data = ReportData(generated_at=now, weeks=mondays)
    c = v_ads.c
    with engine.connect() as connection:
        counts = connection.execute(select(c.status, func.count(), func.sum(c.posting_count)).where(*clauses)
                                    .group_by(c.status)).all()
        data.statuses = {status: n for status, n, _ in counts}
        data.postings = sum(int(p or 0) for *_, p in counts)
        day = publication_day(dialect).label("day")
        county = func.coalesce(c.county_name, "(unknown)").label("county")
        for county_name, day_value, n in connection.execute(
                select(county, day, func.count()).where(*clauses, *period(mondays[0], until)).group_by(county, day)):
            day_value = day_value if isinstance(day_value, date) else date.fromisoformat(day_value)
            monday = day_value - timedelta(days=day_value.weekday())
            data.weekly[(county_name, monday)] = data.weekly.get((county_name, monday), 0) + n
        ads = func.count().label("ads")
        data.occupations = [tuple(r) for r in connection.execute(
            select(c.occupation_code, c.occupation_name, ads).where(*clauses, c.occupation_code.is_not(None))
            .group_by(c.occupation_code, c.occupation_name).order_by(ads.desc(), c.occupation_code)
            .limit(TOP_OCCUPATIONS))]
        temporary = func.sum(cast(c.engagement_type.in_(TEMPORARY), Integer))
        data.temporary = [(name or "(unknown)", int(t or 0), n) for name, t, n in connection.execute(
            select(c.county_name, temporary, func.count()).where(*clauses, c.engagement_type.is_not(None))
            .group_by(c.county_name).order_by(c.county_name))]
        data.newest = [dict(r) for r in connection.execute(
            select(c.ad_id, c.title, c.employer_name, c.municipality_name, c.published_at, c.deadline_date,
                   c.deadline_text, c.status, c.url).where(*clauses)
            .order_by(publication_time().desc(), c.ad_id.desc()).limit(NEWEST)).mappings()]
        again = func.sum(cast(c.readvertised_from_ad_id.is_not(None), Integer)).label("again")
        for dimension, code, name in (("occupation", c.occupation_code, c.occupation_name),
                                      ("municipality", c.municipality_code, c.municipality_name)):
            data.readvertised[dimension] = [(f"{k} {n}", int(a or 0), total) for k, n, a, total in connection.execute(
                select(code, name, again, func.count()).where(*clauses, code.is_not(None))
                .group_by(code, name).having(again > 0).order_by(again.desc(), code).limit(TOP_OCCUPATIONS))]
        r = v_crawl_runs.c
        latest = select(r.source, func.max(r.run_id).label("run_id")).group_by(r.source).subquery()
        data.runs = [dict(row) for row in connection.execute(
            select(v_crawl_runs).join(latest, r.run_id == latest.c.run_id).order_by(r.source)).mappings()]
        data.alerts = [dict(row) for row in connection.execute(
            select(alerts).where(alerts.c.resolved_at.is_(None)).order_by(alerts.c.created_at.desc())).mappings()]
    data.coverage = sources_coverage.collect(engine, county_codes=filters.county_codes,
                                             municipality_codes=filters.municipality_codes, now=now)
    return data


def e(value) -> str:
    """HTML-escaped text of a value ('' for None; timestamps in UTC to the minute)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}"
    return escape(str(value), quote=True)


def link(text, url: str | None) -> str:
    """An escaped link for http(s) URLs only; other schemes (javascript:, data:) are shown as plain text."""
    if url and urlsplit(url).scheme in ("http", "https"):
        return f'<a href="{e(url)}" rel="noopener noreferrer">{e(text)}</a>'
    return e(text)


WIDE, NARROW = frozenset("mwMWÆŒ@%"), frozenset("iljftrI.,:;'|!() ")


def text_width(text: str, size: float) -> float:
    """A generous estimate of the width in pixels of `text` at font size `size` in common sans-serif fonts (wide ones
    such as DejaVu Sans included), so that labels are laid out without a browser to measure them."""
    em = sum(0.95 if ch in WIDE else 0.34 if ch in NARROW else 0.76 if ch.isupper() else 0.64 for ch in text)
    return em * size


def fit(text: str, size: float, room: float) -> str:
    """The text, cut with an ellipsis so that it fits in `room` pixels."""
    if text_width(text, size) <= room:
        return text
    while text and text_width(text + "…", size) > room:
        text = text[:-1]
    return text.rstrip() + "…"


def svg_open(width: float, height: float, label: str) -> str:
    """An SVG element that scales down with the page (viewBox) and keeps its proportions."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(label)}">')


def legend(colours: dict[str, str]) -> str:
    """An HTML legend (it wraps with the page, so no name is ever clipped)."""
    items = "".join(f'<li><span class="swatch" style="background:{colour}"></span>{e(name)}</li>'
                    for name, colour in colours.items())
    return f'<ul class="legend">{items}</ul>'


AXIS_SIZE, LABEL_SIZE = 11, 12
"""Font sizes (px) of axis and label text, as in STYLE."""


def weekly_chart(data: ReportData, width: int = 760, height: int = 280) -> str:
    """Stacked bars: ads per ISO week, one colour per county; the legend is HTML below the chart. Week labels and bar
    totals are thinned out when the weeks are too narrow for them (every bar keeps a tooltip with its figures)."""
    counties = sorted({county for county, _ in data.weekly},
                      key=lambda k: -sum(v for (cc, _), v in data.weekly.items() if cc == k))
    totals = [sum(data.weekly.get((k, m), 0) for k in counties) for m in data.weeks]
    peak = max(totals, default=0) or 1
    left, right, top, bottom = max(30, text_width(str(peak), AXIS_SIZE) + 12), 8, 18, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(data.weeks), 1)
    every = max(1, math.ceil((text_width("W00", AXIS_SIZE) + 8) / step))
    parts = [svg_open(width, height, "Ads per week by county"),
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>',
             f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="axis">{peak}</text>',
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="axis">0</text>']
    colours = {k: PALETTE[n % len(PALETTE)] for n, k in enumerate(counties)}
    for n, monday in enumerate(data.weeks):
        x, y = left + n * step + step * 0.15, top + plot_h
        for county in counties:
            count = data.weekly.get((county, monday), 0)
            if not count:
                continue
            h = count / peak * plot_h
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                         f'fill="{colours[county]}"><title>{e(county)}, week of {monday}: {count}</title></rect>')
        centre = x + step * 0.35
        if (len(data.weeks) - 1 - n) % every == 0:
            parts.append(f'<text x="{centre:.1f}" y="{top + plot_h + 14}" text-anchor="middle" class="axis">'
                         f'W{monday.isocalendar()[1]:02d}</text>')
        if totals[n] and text_width(str(totals[n]), AXIS_SIZE) + 2 <= step:
            parts.append(f'<text x="{centre:.1f}" y="{y - 3:.1f}" text-anchor="middle" class="axis">'
                         f'{totals[n]}</text>')
    parts.append(f'<text x="{left}" y="{height - 6}" class="axis">ISO weeks {data.weeks[0]} to '
                 f'{data.weeks[-1] + timedelta(days=6)} (UTC)</text>')
    parts.append("</svg>")
    return "".join(parts) + legend(colours)


def bar_chart(rows: list[tuple[str, float, str]], width: int = 760, label_width: int = 330) -> str:
    """Horizontal bars: (label, value, value text) per row. Labels are cut to fit; a value text goes after its bar,
    or inside it (white) when there is no room after it."""
    peak = max((v for _, v, _ in rows), default=0) or 1
    height = 22 * len(rows) + 4
    room = width - label_width - 8
    parts = [svg_open(width, height, "Bar chart")]
    for n, (label, value, shown) in enumerate(rows):
        y = n * 22 + 2
        w = value / peak * room
        parts.append(f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end" class="label">'
                     f'{e(fit(label, LABEL_SIZE, label_width - 10))}</text>'
                     f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="18" fill="#1f77b4">'
                     f'<title>{e(label)}: {e(shown)}</title></rect>')
        if label_width + w + 4 + text_width(shown, LABEL_SIZE) <= width - 2:
            parts.append(f'<text x="{label_width + w + 4:.1f}" y="{y + 14}" class="label">{e(shown)}</text>')
        else:
            parts.append(f'<text x="{label_width + w - 4:.1f}" y="{y + 14}" text-anchor="end" class="label inside">'
                         f'{e(shown)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def coverage_chart(counties: list[CountyCoverage], sources: list[str], width: int = 760) -> str:
    """Per county, a bar of 100 %: the share of its ads that several sources carry and the share only each source
    carries; the county's ads and single-source share written after the bar."""
    colours = {"several sources": "#2ca02c", **{f"only on {s}": PALETTE[n % len(PALETTE)]
                                                for n, s in enumerate(sources)}}
    shown = [c for c in counties if c.total]
    label_width = min(max((text_width(c.name, LABEL_SIZE) for c in shown), default=0) + 12, 300)
    note_width = max((text_width(_county_note(c), LABEL_SIZE) for c in shown), default=0) + 10
    room = width - label_width - note_width
    parts = [svg_open(width, 22 * len(shown) + 4, "Sources per county")]
    for n, county in enumerate(shown):
        y, x = n * 22 + 2, float(label_width)
        parts.append(f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end" class="label">'
                     f'{e(fit(county.name, LABEL_SIZE, label_width - 10))}</text>')
        shares = {"several sources": county.total - county.single_source,
                  **{f"only on {s}": county.only[s] for s in sources}}
        for part, ads in shares.items():
            w = ads / county.total * room
            if w:
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="18" fill="{colours[part]}">'
                             f'<title>{e(county.name)}: {ads} of {county.total} ads {e(part)}</title></rect>')
            x += w
        parts.append(f'<text x="{label_width + room + 6:.1f}" y="{y + 14}" class="label">'
                     f'{e(_county_note(county))}</text>')
    parts.append("</svg>")
    return "".join(parts) + legend(colours)


def _county_note(county: CountyCoverage) -> str:
    ads = "1 ad" if county.total == 1 else f"{county.total:,} ads"
    return f"{ads}, {100 * (county.single_source_share or 0):.0f} % on one source"


def table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; header cells are escaped, row cells must already be HTML."""
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:60em;color:#222;padding:0 1em}
h1{margin-bottom:0}.meta{color:#666}table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}th{background:#f4f4f4}
.axis{font-size:11px;fill:#555}.label{font-size:12px;fill:#222}.label.inside{fill:#fff}
svg{display:block;max-width:100%;height:auto}.nowrap{white-space:nowrap}.num{text-align:right}
ul.legend{list-style:none;padding:0;margin:.4em 0 1em;font-size:.85em;display:flex;flex-wrap:wrap;gap:.2em 1.2em}
.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.35em;vertical-align:-.05em}
tr.gap td{color:#b60}
.failed,.alert{color:#b00}.partial{color:#b60}.ok{color:#070}
"""


def nowrap(text: str) -> str:
    """HTML text that never breaks inside (dates and times in tables)."""
    return f'<span class="nowrap">{text}</span>' if text else ""


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "–"


def coverage_section(coverage: Coverage) -> str:
    """Sources per county: a bar per county (several sources / only one) and the table of the figures."""
    counties = coverage.counties()
    if not any(c.total for c in counties):
        return "<p>No active ads.</p>"
    sources = coverage.sources
    rows = [[e(c.code), e(c.name), f"{c.total:,}",
             *(nowrap(f"{c.active[s]:,} ({percent(c.active[s], c.total)})") for s in sources),
             *(f"{c.only[s]:,}" for s in sources), percent(c.single_source, c.total)] for c in counties if c.total]
    figures = table(["county", "", "ads", *sources, *(f"only on {s}" for s in sources), "on one source only"], rows)
    return coverage_chart(counties, sources) + figures


COVERAGE_NOTE = ("Active ads (one per job, however many sources publish it) and the sources that carry them. "
                 "What no source here carries (FINN, employers' own sites) is missing from every figure: "
                 "see docs/coverage.md.")


def render(data: ReportData, title: str = "munijobs report") -> str:
    """The report as one HTML page."""
    temporary_ads = sum(t for _, t, _ in data.temporary)
    known = sum(n for *_, n in data.temporary)
    share = f"{100 * temporary_ads / known:.1f} %" if known else "–"
    totals = table(["", "ads"], [[e(label), f"{n:,}"] for label, n in [
        ("all ads", data.total), *((status, data.statuses.get(status, 0)) for status in ("active", "expired",
                                                                                       "withdrawn")),
        ("postings (source ads)", data.postings)]])
    occupations = bar_chart([(f"{code} {name}", n, str(n)) for code, name, n in data.occupations])
    temporary = bar_chart([(county, 100 * t / n, f"{100 * t / n:.0f} % of {n}") for county, t, n in data.temporary])
    newest = table(["published (UTC)", "title", "employer", "municipality", "deadline", "status"], [
        [nowrap(e(ad["published_at"])), link(ad["title"] or "(untitled)", ad["url"]), e(ad["employer_name"]),
         e(ad["municipality_name"]), nowrap(e(ad["deadline_date"])) or e(ad["deadline_text"]), e(ad["status"])]
        for ad in data.newest])
    runs = table(["source", "run", "started (UTC)", "finished (UTC)", "status", "seen", "new", "updated", "closed",
                  "errors"], [
        [e(r["source"]), e(r["run_id"]), nowrap(e(r["started_at"])), nowrap(e(r["finished_at"])),
         f'<span class="{e(r["status"])}">{e(r["status"])}</span>', e(r["items_seen"]), e(r["items_new"]),
         e(r["items_updated"]), e(r["items_closed"]), e(r["errors"])] for r in data.runs])
    open_alerts = table(["raised (UTC)", "source", "rule", "message"], [
        [nowrap(e(a["created_at"])), e(a["source"]), e(a["rule"]), f'<span class="alert">{e(a["message"])}</span>']
        for a in data.alerts]) if data.alerts else "<p>No open alerts.</p>"
    coverage = coverage_section(data.coverage) if data.coverage else "<p>No coverage figures.</p>"
    readvertised = "".join(
        f"<h3>By {dimension}</h3>" + bar_chart([(label, again, f"{again} of {n}") for label, again, n in rows])
        for dimension, rows in data.readvertised.items() if rows) or "<p>No re-advertised positions.</p>"
    return page(title, f"""<p class="meta">Generated {e(data.generated_at)} UTC from the munijobs database. Timestamps
are UTC.</p>
<h2>Totals</h2>
{totals}
<h2>Ads per week by county</h2>
{weekly_chart(data)}
<h2>Top occupations (STYRK-08)</h2>
{occupations if data.occupations else "<p>No ads with an occupation code.</p>"}
<h2>Share of temporary positions</h2>
<p>{share} of the ads whose engagement type is known are temporary ({", ".join(TEMPORARY)}).</p>
{temporary if data.temporary else ""}
<h2>Coverage of the sources</h2>
<p>{e(COVERAGE_NOTE)} Of the report's filters only the county and municipality apply here.</p>
{coverage}
<h2>Re-advertised positions</h2>
<p>Ads that advertise a position again after its earlier ad closed (<code>v_ads.readvertised_from_ad_id</code>): a
sign of a post that is hard to fill.</p>
{readvertised}
<h2>Newest ads</h2>
{newest}
<h2>Source health</h2>
<h3>Last run per source</h3>
{runs if data.runs else "<p>No crawl has run yet.</p>"}
<h3>Open alerts</h3>
{open_alerts}""")


def page(title: str, body: str) -> str:
    """A self-contained HTML page."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{e(title)}</h1>
{body}
</body></html>
"""


def render_coverage(coverage: Coverage, title: str = "munijobs coverage") -> str:
    """The page of `munijobs coverage --format html`: sources per county, then one row per municipality."""
    sources = coverage.sources
    scope = f"open at any time since {coverage.since}" if coverage.since else "active now"
    rows = "".join(
        f'<tr{" class=gap" if r.likely_gap else ""}><td>{e(r.code)}</td><td>{e(r.name)}</td>'
        f'<td class="num">{r.total:,}</td>' + "".join(f'<td class="num">{r.active[s]:,}</td>' for s in sources)
        + "".join(f'<td class="num">{r.only[s]:,}</td>' for s in sources)
        + "".join(f'<td class="num">{"" if r.delay_hours[s] is None else f"{r.delay_hours[s]:.1f}"}</td>'
                  for s in sources)
        + f"<td>{nowrap(e(r.latest))}</td><td>{GAP_FLAG if r.likely_gap else ''}</td></tr>"
        for r in coverage.rows)
    head = "".join(f"<th>{e(h)}</th>" for h in ["code", "municipality", "ads", *sources,
                                                   *(f"only on {s}" for s in sources),
                                                   *(f"median delay {s} (h)" for s in sources), "latest ad (UTC)",
                                                   f"no ad in {GAP_DAYS} days"])
    return page(title, f"""<p class="meta">Ads {e(scope)}; generated {e(coverage.now)} UTC. {e(COVERAGE_NOTE)}
"{GAP_FLAG}" marks a municipality where no source has published an ad for {GAP_DAYS} days: a likely gap, not a
fact.</p>
<h2>Sources per county</h2>
{coverage_section(coverage)}
<h2>Municipalities</h2>
<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>""")
