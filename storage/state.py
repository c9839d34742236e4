"""Per-source crawl state: a small key/value store (JSON values), e.g. the NAV feed cursor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from storage.db import session_scope
from storage.models import CrawlState


def get_state(engine: Engine, source: str, key: str, default: Any = None) -> Any:
    """The stored value, or `default` when there is none."""
    with Session(engine) as session:
        row = session.get(CrawlState, (source, key))
        return default if row is None else row.value


def set_state_in(session: Session, source: str, key: str, value: Any) -> None:
    """Store a value inside an open transaction (used by the store pipeline with a batch of postings)."""
    row = session.get(CrawlState, (source, key))
    now = datetime.now(UTC)
    if row is None:
        session.add(CrawlState(source=source, key=key, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now


def set_state(engine: Engine, source: str, key: str, value: Any) -> None:
    """Store a value in its own transaction."""
    with session_scope(engine) as session:
        set_state_in(session, source, key, value)
