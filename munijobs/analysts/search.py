"""Full-text search over postings (title, employer, description), ranked and shown per ad with a snippet.

SQLite matches whole words through FTS5 (`postings_fts`, unicode61 without diacritics folding) ranked by bm25;
PostgreSQL matches `postings.search_document` (Norwegian stemming) ranked by ts_rank. Both indexes are kept in step
by the database (migration 0003). Query syntax on both: words (all must match), "quoted phrases", and prefix*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Integer, bindparam, column, func, literal, literal_column, select, table, text

from munijobs.analysts.filters import AdFilters, BadValue, where
from munijobs.analysts.views import prepare, v_ads

HIT = ("\x02", "\x03")
"""Markers around matched words in snippets (control characters cannot occur in ad text)."""
RESULT_COLUMNS = ("ad_id", "title", "employer_name", "municipality_name", "status", "published_at", "deadline_date",
                  "url")
_TERM = re.compile(r'"([^"]*)"?|([^\W_]+)(\*)?')

postings = table("postings", column("id", Integer), column("ad_id", Integer), column("description_text"),
                 column("title"), column("search_document"))
postings_fts = table("postings_fts", column("rowid", Integer))


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
    """A PostgreSQL tsquery expression (norwegian configuration): every term must match."""
    parts = []
    for n, term in enumerate(terms):
        value = bindparam(f"term_{n}", f"{term.text}:*" if term.kind == "prefix" else term.text)
        function = {"word": func.plainto_tsquery, "phrase": func.phraseto_tsquery, "prefix": func.to_tsquery}
        parts.append(function[term.kind](literal_column("'norwegian'::regconfig"), value))
    query = parts[0]
    for part in parts[1:]:
        query = query.op("&&")(part)
    return query


def _scored(dialect: str, terms: list[Term]):
    """Matching postings with their ad and a score (higher is better)."""
    if dialect == "sqlite":
        match = literal_column("postings_fts").op("MATCH")(bindparam("fts", fts5_query(terms)))
        score = -func.bm25(literal_column("postings_fts"), 10.0, 4.0, 1.0)
        return (select(postings.c.ad_id, postings.c.id.label("posting_id"), score.label("score"))
                .select_from(postings_fts.join(postings, postings.c.id == postings_fts.c.rowid)).where(match))
    document = postings.c.search_document
    query = ts_query(terms)
    return (select(postings.c.ad_id, postings.c.id.label("posting_id"), func.ts_rank(document, query).label("score"))
            .where(document.op("@@")(query)))


def search(engine: Engine, query: str, filters: AdFilters, limit: int = 20) -> tuple[int, list[Hit]]:
    """(number of ads matching, the best `limit` of them) for a query and filters."""
    prepare(engine)
    dialect = engine.dialect.name
    terms = parse_query(query)
    scored = _scored(dialect, terms).subquery("scored")
    best_first = func.row_number().over(partition_by=scored.c.ad_id, order_by=scored.c.score.desc())
    ranked = select(scored, best_first.label("n")).subquery("ranked")
    matching = (select(ranked.c.posting_id, ranked.c.score, *(v_ads.c[name] for name in RESULT_COLUMNS))
                .join_from(ranked, v_ads, v_ads.c.ad_id == ranked.c.ad_id)
                .where(ranked.c.n == 1, *where(filters, dialect)))
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(matching.subquery())).scalar_one()
        rows = connection.execute(matching.order_by(ranked.c.score.desc(), v_ads.c.ad_id).limit(limit)).mappings().all()
        snippets = _snippets(connection, dialect, terms, [r["posting_id"] for r in rows])
    hits = [Hit(n, float(r["score"]), {k: r[k] for k in RESULT_COLUMNS}, snippets.get(r["posting_id"], ""))
            for n, r in enumerate(rows, start=1)]
    return total, hits


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
