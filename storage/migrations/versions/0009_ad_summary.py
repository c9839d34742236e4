"""each ad's summary of its postings kept on `ads` by database triggers; v_ads reads it from there

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

`ads` gains status, first_seen_at, last_seen_at, closed_at, sources and posting_count: the values v_ads computed
with a GROUP BY over every posting (0002's AD_STATUS, 0007's sorted SOURCES), which made any join of v_ads and the
first row of a filtered export cost as much as the whole table. The database keeps them in step by itself, whatever
writes the postings (store, expiry, NAV close, dedup merges and splits, quarantine, renormalise), like the search
index of 0003: after an insert, a delete, or an update that changes ad_id, status, source, first_seen_at,
last_seen_at or closed_at, the old and the new ad's summary is recomputed from its postings.

* SQLite (one writer at a time): row triggers.
* PostgreSQL: statement triggers with transition tables note the ads they touch in the transaction's rows of
  `ads_summary_pending`; at COMMIT a deferred trigger locks all those ads' rows in id order and only then, in a new
  statement and so a new snapshot, recomputes them from the postings as committed. A transaction that had to wait
  for another sees the other's postings (no update is lost), and as every transaction takes these locks at its
  end in one order, two of them cannot deadlock over them, however many statements they ran. Until COMMIT a
  transaction reads its ads' summary as it was before it.

Also the narrow index ix_postings_id_ad_id, so search maps its matches to their ads without reading posting rows.
An ad without postings has posting_count 0 and NULL summary; v_ads leaves it out, as its inner join did before.
Batch migrations that recreate `postings` on SQLite drop these triggers: re-create them there.
"""

import importlib

import sqlalchemy as sa
from alembic import op

import storage.models
from storage.ad_summary import PENDING
from storage.models import AD_OF_POSTING

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VIEWS_0002 = importlib.import_module("storage.migrations.versions.0002_analyst_views")
VIEWS_0007 = importlib.import_module("storage.migrations.versions.0007_dedup")

SUMMARY = ("status", "first_seen_at", "last_seen_at", "closed_at", "sources", "posting_count")
WATCHED = ("ad_id", "status", "source", "first_seen_at", "last_seen_at", "closed_at")
"""Columns of postings the summary depends on."""

ACTIVE = "SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END) > 0"
ONE_AD = f"""
    SELECT CASE WHEN COUNT(*) = 0 THEN NULL
                WHEN {ACTIVE} THEN 'active'
                WHEN SUM(CASE WHEN status = 'expired' THEN 1 ELSE 0 END) > 0 THEN 'expired'
                ELSE 'withdrawn' END,
           MIN(first_seen_at), MAX(last_seen_at),
           CASE WHEN {ACTIVE} THEN NULL ELSE MAX(closed_at) END,
           COUNT(*){{sources}}
      FROM postings WHERE ad_id = ads.id
"""
"""0002's AD_STATUS for the one ad `ads.id` (NULL status when it has no postings)."""
COUNTED = ("status", "first_seen_at", "last_seen_at", "closed_at", "posting_count")
SQLITE_SOURCES = ("(SELECT GROUP_CONCAT(source, ',') FROM (SELECT DISTINCT source FROM postings WHERE ad_id = ads.id"
                  " ORDER BY source))")
"""0007's sorted sources of the ad: SQLite concatenates in the order of a sorted subquery."""


def _sqlite_set() -> str:
    """SET clause recomputing the summary of the ads row being updated (SQLite)."""
    return f"({', '.join(COUNTED)}) = ({ONE_AD.format(sources='')}), sources = {SQLITE_SOURCES}"


def _changed(old: str = "old", new: str = "new", distinct: str = "IS NOT") -> str:
    return " OR ".join(f"{new}.{c} {distinct} {old}.{c}" for c in WATCHED)


def sqlite_upgrade() -> list[str]:
    refresh = f"UPDATE ads SET {_sqlite_set()}"
    return [
        f"""CREATE TRIGGER ads_summary_insert AFTER INSERT ON postings WHEN new.ad_id IS NOT NULL BEGIN
            {refresh} WHERE id = new.ad_id;
        END""",
        f"""CREATE TRIGGER ads_summary_delete AFTER DELETE ON postings WHEN old.ad_id IS NOT NULL BEGIN
            {refresh} WHERE id = old.ad_id;
        END""",
        f"""CREATE TRIGGER ads_summary_update AFTER UPDATE OF {', '.join(WATCHED)} ON postings
        WHEN {_changed()} BEGIN
            {refresh} WHERE id IN (old.ad_id, new.ad_id);
        END""",
    ]


SQLITE_DOWNGRADE = [f"DROP TRIGGER IF EXISTS ads_summary_{event}" for event in ("update", "delete", "insert")]


def postgresql_upgrade() -> list[str]:
    one_ad = ONE_AD.format(sources=", STRING_AGG(DISTINCT source, ',' ORDER BY source)")
    return [
        f"""CREATE UNLOGGED TABLE {PENDING} (
            txid bigint NOT NULL DEFAULT txid_current(),
            ad_id integer NOT NULL,
            PRIMARY KEY (txid, ad_id))""",
        f"""CREATE FUNCTION ads_summary_refresh(ad_ids integer[]) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM 1 FROM ads WHERE id = ANY (ad_ids) ORDER BY id FOR NO KEY UPDATE;
            UPDATE ads SET ({', '.join(COUNTED)}, sources) = ({one_ad}) WHERE id = ANY (ad_ids);
        END $$""",
        f"""CREATE FUNCTION ads_summary_mark(ad_ids integer[]) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            IF cardinality(ad_ids) > 0 THEN
                INSERT INTO {PENDING} (ad_id) SELECT 0 UNION SELECT unnest(ad_ids) ON CONFLICT DO NOTHING;
            END IF;
        END $$""",
        f"""CREATE FUNCTION ads_summary_flush() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            ad_ids integer[];
        BEGIN
            WITH done AS (DELETE FROM {PENDING} WHERE txid = txid_current() RETURNING ad_id)
            SELECT array_agg(ad_id) INTO ad_ids FROM done WHERE ad_id <> 0;
            PERFORM ads_summary_refresh(coalesce(ad_ids, '{{}}'));
            RETURN NULL;
        END $$""",
        """CREATE FUNCTION ads_summary_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM ads_summary_mark(ARRAY(SELECT ad_id FROM new_rows WHERE ad_id IS NOT NULL));
            RETURN NULL;
        END $$""",
        """CREATE FUNCTION ads_summary_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM ads_summary_mark(ARRAY(SELECT ad_id FROM old_rows WHERE ad_id IS NOT NULL));
            RETURN NULL;
        END $$""",
        f"""CREATE FUNCTION ads_summary_updated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM ads_summary_mark(ARRAY(
                SELECT ad.id
                  FROM old_rows o JOIN new_rows n ON n.id = o.id
                 CROSS JOIN LATERAL (VALUES (o.ad_id), (n.ad_id)) AS ad (id)
                 WHERE ad.id IS NOT NULL AND ({_changed('o', 'n', 'IS DISTINCT FROM')})));
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER ads_summary_insert AFTER INSERT ON postings REFERENCING NEW TABLE AS new_rows
           FOR EACH STATEMENT EXECUTE FUNCTION ads_summary_inserted()""",
        """CREATE TRIGGER ads_summary_delete AFTER DELETE ON postings REFERENCING OLD TABLE AS old_rows
           FOR EACH STATEMENT EXECUTE FUNCTION ads_summary_deleted()""",
        """CREATE TRIGGER ads_summary_update AFTER UPDATE ON postings
           REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
           FOR EACH STATEMENT EXECUTE FUNCTION ads_summary_updated()""",
        f"""CREATE CONSTRAINT TRIGGER ads_summary_commit AFTER INSERT ON {PENDING}
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.ad_id = 0)
           EXECUTE FUNCTION ads_summary_flush()""",
    ]


POSTGRESQL_DOWNGRADE = [
    *(f"DROP TRIGGER IF EXISTS ads_summary_{event} ON postings" for event in ("update", "delete", "insert")),
    f"DROP TABLE IF EXISTS {PENDING}",
    *(f"DROP FUNCTION IF EXISTS ads_summary_{name}()" for name in ("updated", "deleted", "inserted", "flush")),
    "DROP FUNCTION IF EXISTS ads_summary_mark(integer[])",
    "DROP FUNCTION IF EXISTS ads_summary_refresh(integer[])",
]

BACKFILL = """
UPDATE ads SET status = s.status, first_seen_at = s.first_seen_at, last_seen_at = s.last_seen_at,
       closed_at = s.closed_at, sources = src.sources, posting_count = s.posting_count
  FROM ({ad_status}) s JOIN ({sources}) src ON src.ad_id = s.ad_id
 WHERE s.ad_id = ads.id
"""
"""Every ad's summary at once, with the very SQL v_ads used until now."""

V_ADS = (VIEWS_0007.V_ADS
         .replace("s.status", "a.status").replace("s.first_seen_at", "a.first_seen_at")
         .replace("s.last_seen_at", "a.last_seen_at").replace("s.closed_at", "a.closed_at")
         .replace("src.sources", "a.sources").replace("s.posting_count", "a.posting_count")
         .replace("  JOIN ({ad_status}) s ON s.ad_id = a.id\n  JOIN ({sources}) src ON src.ad_id = a.id\n", "")
         + " WHERE a.posting_count > 0\n")
"""0007's v_ads, the summary read from `ads` (same columns, order and values)."""


def _v_ads_0007(dialect: str) -> str:
    columns = {f"p_{name}": VIEWS_0007._col(name) for name in VIEWS_0007.FACTS}
    ad_status = VIEWS_0002.AD_STATUS.format(sources=VIEWS_0002.SOURCES_AGG[dialect])
    return VIEWS_0007.V_ADS.format(ad_status=ad_status, sources=VIEWS_0007.SOURCES[dialect], **columns)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP VIEW IF EXISTS v_ads")
    for name in ("status", "sources"):
        op.add_column("ads", sa.Column(name, sa.Text() if name == "sources" else sa.String(20), nullable=True))
    for name in ("first_seen_at", "last_seen_at", "closed_at"):
        op.add_column("ads", sa.Column(name, storage.models.UTCDateTime(timezone=True), nullable=True))
    op.add_column("ads", sa.Column("posting_count", sa.Integer(), server_default="0", nullable=False))
    ad_status = VIEWS_0002.AD_STATUS.format(sources=VIEWS_0002.SOURCES_AGG[dialect])
    op.execute(BACKFILL.format(ad_status=ad_status, sources=VIEWS_0007.SOURCES[dialect]))
    op.create_index(AD_OF_POSTING, "postings", ["id", "ad_id"])
    for statement in sqlite_upgrade() if dialect == "sqlite" else postgresql_upgrade():
        op.execute(statement)
    columns = {f"p_{name}": VIEWS_0007._col(name) for name in VIEWS_0007.FACTS}
    op.execute(V_ADS.format(**columns))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP VIEW IF EXISTS v_ads")
    for statement in SQLITE_DOWNGRADE if dialect == "sqlite" else POSTGRESQL_DOWNGRADE:
        op.execute(statement)
    op.drop_index(AD_OF_POSTING, "postings")
    for name in reversed(SUMMARY):  # plain ALTER, as in 0007: batch mode would recreate `ads`
        op.execute(f"ALTER TABLE ads DROP COLUMN {name}")
    op.execute(_v_ads_0007(dialect))
