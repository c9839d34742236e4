"""Full-text search over postings (title, employer, description), ranked and shown per ad with a snippet.

SQLite matches whole words through FTS5 (`postings_fts`, unicode61 without diacritics folding) ranked by bm25;
PostgreSQL matches `postings.search_document` (Norwegian stemming) ranked by ts_rank. Both indexes are kept in step
by the database (migration 0003). Query syntax on both: words (all must match), "quoted phrases", and prefix*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Float, Integer, bindparam, column, func, literal, literal_column, select, table, text

from munijobs.analysts.filters import AdFilters, BadValue, where
from munijobs.analysts.views import prepare, v_ads
from storage.models import AD_OF_POSTING

HIT = ("\x02", "\x03")
"""Markers around matched words in snippets (control characters cannot occur in ad text)."""
RESULT_COLUMNS = ("ad_id", "title", "employer_name", "municipality_name", "status", "published_at", "deadline_date",
                  "url")
_TERM = re.compile(r'"([^"]*)"?|([^\W_]+)(\*)?')
AD_COLUMNS = ("title", "employer_name", "employer_orgnr", "employer_parent_orgnr", "municipality_code", "county_code",
              "occupation_code", "published_at", "deadline_date", "url")
"""Columns of v_ads taken from the ad's primary posting that search shows or filters on."""


postings = table("postings", column("id", Integer), column("ad_id", Integer), column("description_text"),
                 column("search_document"), *(column(name, v_ads.c[name].type) for name in AD_COLUMNS))
ads = table("ads", column("id", Integer), column("primary_posting_id", Integer), column("status"),
            column("last_seen_at", v_ads.c.last_seen_at.type))
municipalities = table("municipalities", column("code"), column("name"))


@dataclass(frozen=True)
class Term:
    """One term of a search query: a word, a prefix (word*) or a phrase."""

    kind: str
    text: str


@dataclass
class Hit:
    """One ad found, with its rank (1 is best), score and a snippet with HIT markers."""

    rank: int
    score: float
    ad: dict[str, Any]
    snippet: str


def parse_query(query: str) -> list[Term]:
    """The terms of a query; punctuation is ignored. Raises BadValue when no word remains."""
    terms = []
    for match in _TERM.finditer(query):
        phrase, word, star = match.groups()
        if phrase is not None:
            words = re.findall(r"[^\W_]+", phrase)
            if words:
                terms.append(Term("phrase" if len(words) > 1 else "word", " ".join(words)))
        else:
            terms.append(Term("prefix" if star else "word", word))
    if not terms:
        raise BadValue(f"search query {query!r} has no words: give words, \"a phrase\" or a prefix* (e.g. sykepleier)")
    return terms


def fts5_query(terms: list[Term]) -> str:
    """An FTS5 MATCH expression: every term must match."""
    return " ".join(f'"{t.text}"*' if t.kind == "prefix" else f'"{t.text}"' for t in terms)


def ts_query(terms: list[Term]):
    """A PostgreSQL tsquery expression (norwegian configuration): every term must match.

    The terms are joined with && as a balanced tree, so a query of hundreds of words stays shallow to compile.
    """
    function = {"word": func.plainto_tsquery, "phrase": func.phraseto_tsquery, "prefix": func.to_tsquery}
    parts = [function[term.kind](literal_column("'norwegian'::regconfig"),
                                 bindparam(f"term_{n}", f"{term.text}:*" if term.kind == "prefix" else term.text))
             for n, term in enumerate(terms)]
    while len(parts) > 1:
        parts = [parts[n].op("&&")(parts[n + 1]) if n + 1 < len(parts) else parts[n] for n in range(0, len(parts), 2)]
    return parts[0]


def _scored(dialect: str, terms: list[Term]):
    """Matching postings with their ad and a score (higher is better).

    On SQLite each match's ad is read from the narrow index ix_postings_id_ad_id, not from the wide posting row (the
    planner would take the row by rowid, several times slower when tens of thousands of postings match).
    """
    if dialect == "sqlite":
        return text(
            "SELECT p.ad_id AS ad_id, p.id AS posting_id, -bm25(postings_fts, 10.0, 4.0, 1.0) AS score"
            f" FROM postings_fts JOIN postings AS p INDEXED BY {AD_OF_POSTING} ON p.id = postings_fts.rowid"
            " WHERE postings_fts MATCH :fts"
        ).bindparams(fts=fts5_query(terms)).columns(ad_id=Integer, posting_id=Integer, score=Float)
    document = postings.c.search_document
    query = ts_query(terms)
    return (select(postings.c.ad_id, postings.c.id.label("posting_id"), func.ts_rank(document, query).label("score"))
            .where(document.op("@@")(query)))


def best_scores(matches):
    """Per ad of `matches` (ad_id, score rows): its best score."""
    return select(matches.c.ad_id, func.max(matches.c.score).label("score")).group_by(matches.c.ad_id).subquery("b")


def ad_summary(best):
    """The best scores with each ad's status, last_seen_at and primary posting from `ads`, where the database keeps
    each ad's summary of its postings (migration 0009)."""
    return (select(best, ads.c.status, ads.c.last_seen_at, ads.c.primary_posting_id)
            .join_from(best, ads, ads.c.id == best.c.ad_id).subquery("s"))


def with_ad_columns(summary):
    """The summary with the v_ads columns search shows or filters on (from each ad's primary posting)."""
    primary = postings.alias("p")
    return (select(summary, *(primary.c[name] for name in AD_COLUMNS),
                   municipalities.c.name.label("municipality_name"))
            .join_from(summary, primary, primary.c.id == summary.c.primary_posting_id)
            .outerjoin(municipalities, municipalities.c.code == primary.c.municipality_code)
            .subquery("v"))


def search(engine: Engine, query: str, filters: AdFilters, limit: int = 20) -> tuple[int, list[Hit]]:
    """(number of ads matching, the best `limit` of them) for a query and filters.

    The ads are counted and ranked on narrow rows (each ad's status from `ads`, the primary postings joined only
    when a filter needs them); the page's best postings come with it, the shown columns are read for the page alone.
    """
    prepare(engine)
    dialect = engine.dialect.name
    terms = parse_query(query)
    matches = _matches(_scored(dialect, terms), dialect)
    v, clauses = _filtered(best_scores(matches), filters, dialect)
    page = (select(v.c.ad_id, v.c.score, func.count().over().label("total")).where(*clauses)
            .order_by(v.c.score.desc(), v.c.ad_id).limit(limit).subquery("page"))
    with_postings = (select(page, matches.c.posting_id, matches.c.score.label("posting_score"))
                     .join_from(page, matches, matches.c.ad_id == page.c.ad_id))
    with engine.connect() as connection:
        if dialect == "postgresql":  # compiling the plan (the GIN scan looks costly) takes longer than running it
            connection.exec_driver_sql("SET LOCAL jit = off")
        rows = connection.execute(with_postings).all()
        ranked = sorted({row.ad_id: row for row in rows}.values(), key=lambda row: (-row.score, row.ad_id))
        best = _best_postings(rows)
        shown = _shown(connection, [row.ad_id for row in ranked])
        snippets = _snippets(connection, dialect, terms, list(best.values()))
    hits = [Hit(n, float(row.score), {k: shown[row.ad_id][k] for k in RESULT_COLUMNS},
                snippets.get(best.get(row.ad_id), "")) for n, row in enumerate(ranked, start=1)]
    return (ranked[0].total if ranked else 0), hits


def _filtered(best, filters: AdFilters, dialect: str):
    """The narrowest of: the best scores, with the ads' summary, with the primary postings' columns too, that has
    every column the filters use; and the filters' WHERE clauses on it."""
    for v in (best, ad_summary(best)):
        try:
            return v, where(filters, dialect, v)
        except AttributeError:
            pass
    v = with_ad_columns(ad_summary(best))
    return v, where(filters, dialect, v)


def _shown(connection, ad_ids: list[int]) -> dict[int, dict[str, Any]]:
    """RESULT_COLUMNS of these ads, by ad id."""
    if not ad_ids:
        return {}
    page = (select(ads.c.id.label("ad_id"), ads.c.status, ads.c.last_seen_at, ads.c.primary_posting_id)
            .where(ads.c.id.in_(ad_ids)).subquery("s"))
    v = with_ad_columns(page)
    return {row["ad_id"]: row for row in connection.execute(select(*(v.c[n] for n in RESULT_COLUMNS))).mappings()}


def _matches(scored, dialect: str):
    """The matches as a CTE, read twice (to rank the ads, then for the page's postings) and computed once; on SQLite
    the planner must not merge it into the joins around it (bm25 works only where the FTS5 table drives the query).
    """
    return scored.cte("scored").prefix_with("MATERIALIZED") if dialect == "sqlite" else scored.cte("scored")


def _best_postings(rows) -> dict[int, int]:
    """The best-scored matching posting of each ad of the page (rows of ad_id, posting_id, posting_score)."""
    best = {}
    for row in sorted(rows, key=lambda row: (row.posting_score, -row.posting_id)):
        best[row.ad_id] = row.posting_id  # the last one of an ad is its best: highest score, lowest id on a tie
    return best


def _snippets(connection, dialect: str, terms: list[Term], posting_ids: list[int]) -> dict[int, str]:
    """Snippet of each posting: from the description when it matches there, else from the best column."""
    if not posting_ids:
        return {}
    start, stop = HIT
    if dialect == "sqlite":
        statement = text(
            "SELECT rowid, snippet(postings_fts, 2, :start, :stop, '…', 24),"
            " snippet(postings_fts, -1, :start, :stop, '…', 24)"
            " FROM postings_fts WHERE postings_fts MATCH :fts AND rowid IN :ids"
        ).bindparams(bindparam("ids", expanding=True))
        rows = connection.execute(statement, {"start": start, "stop": stop, "fts": fts5_query(terms),
                                              "ids": posting_ids}).all()
        return {pid: body if start in body else best for pid, body, best in rows}
    options = f'StartSel="{start}", StopSel="{stop}", MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'
    query = ts_query(terms)
    headline = func.ts_headline(literal_column("'norwegian'::regconfig"),
                                func.coalesce(postings.c.description_text, postings.c.title, ""), query,
                                literal(options))
    statement = select(postings.c.id, headline).where(postings.c.id.in_(posting_ids))
    return dict(connection.execute(statement).all())


def plain_snippet(snippet: str, start: str = "**", stop: str = "**") -> str:
    """A snippet with the HIT markers replaced (e.g. by Markdown bold) and whitespace collapsed."""
    return " ".join(snippet.replace(HIT[0], start).replace(HIT[1], stop).split())
