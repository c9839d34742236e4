"""Each ad's summary of its postings on `ads` (migration 0009) as Alembic should see it.

The summary columns are in the models; the database keeps them in step by itself (SQLite: triggers on postings;
PostgreSQL: statement triggers noting the touched ads in `ads_summary_pending`, recomputed at COMMIT). Triggers and
functions are invisible to autogenerate; the PostgreSQL bookkeeping table is not, so pass `include_object`.
"""

from __future__ import annotations

PENDING = "ads_summary_pending"
"""PostgreSQL: (txid, ad_id) of the ads whose summary the open transactions must recompute at COMMIT."""


def include_object(obj, name: str | None, type_: str, reflected: bool, compare_to) -> bool:
    """Alembic autogenerate filter: False for the bookkeeping table, which lives outside the models."""
    return not (type_ == "table" and name == PENDING)
