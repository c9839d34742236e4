"""The quarantine: ads that could not be stored even alone, kept with their raw answer and the error.

A posting lands here when the database refuses it after its batch was retried one posting at a time, when a
pipeline step raised on it, or when the spider could not map the source's answer at all. One row per source ad
(`source`, `source_ad_id`), holding the latest failure; storing the ad later removes its row. Knows nothing of Scrapy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from munijobs.items import ContactPerson
from munijobs.normalise.privacy import mask_personal_data
from storage.db import session_scope, upsert
from storage.models import Quarantine

ERROR_MAX = 2000
"""Characters of an error message kept."""


def storable_text(text: str) -> str:
    """Text any database accepts: NUL dropped, lone surrogates written as escapes."""
    return text.replace("\x00", "").encode("utf-8", "backslashreplace").decode("utf-8")


CONTACT_LISTS = ("contacts", "contactList")
"""Keys under which the sources (Jobbnorge, NAV) and JobPosting list contact persons: dropped from raw JSON."""


def _contacts_in(value: Any) -> list[ContactPerson]:
    """Every contact person listed anywhere in a JSON-like value (to mask them wherever the text names them)."""
    found: list[ContactPerson] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in CONTACT_LISTS and isinstance(item, list):
                found += [ContactPerson.from_record(person) for person in item if isinstance(person, dict)]
            else:
                found += _contacts_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found += _contacts_in(item)
    return found


def _masked(value: Any, contacts: list[ContactPerson]) -> Any:
    if isinstance(value, str):
        return mask_personal_data(value, contacts)
    if isinstance(value, dict):
        return {key: _masked(item, contacts) for key, item in value.items() if key not in CONTACT_LISTS}
    if isinstance(value, (list, tuple)):
        return [_masked(item, contacts) for item in value]
    return value


def raw_json(value: Any) -> str:
    """JSON text of an answer or an item (dataclasses as dicts, odd values as text), ASCII-escaped, without its
    contact lists; the persons they list, e-mail addresses and phone numbers masked wherever the text has them."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    masked = _masked(value, _contacts_in(value))
    return json.dumps(masked, ensure_ascii=True, default=str, sort_keys=True).replace("\\u0000", "")


def quarantine_in(session: Session, source: str, source_ad_id: str, raw: str | None, error: str,
                  run_id: int | None = None, now: datetime | None = None) -> None:
    """Put (or refresh) one ad in the quarantine inside the session's transaction."""
    upsert(session, Quarantine, [{
        "source": source,
        "source_ad_id": storable_text(str(source_ad_id)),
        "raw": storable_text(raw) if raw is not None else None,
        "error": storable_text(error)[:ERROR_MAX],
        "quarantined_at": now or datetime.now(UTC),
        "run_id": run_id,
    }], keys=("source", "source_ad_id"))


def quarantine(engine: Engine, source: str, source_ad_id: str, raw: str | None, error: str,
               run_id: int | None = None) -> None:
    """Put one ad in the quarantine in a transaction of its own."""
    with session_scope(engine) as session:
        quarantine_in(session, source, source_ad_id, raw, error, run_id)


def release_in(session: Session, keys: Iterable[tuple[str, str]]) -> None:
    """Remove the quarantine rows of ads that are stored now."""
    by_source: dict[str, list[str]] = {}
    for source, ad_id in keys:
        by_source.setdefault(source, []).append(ad_id)
    for source, ids in by_source.items():
        for start in range(0, len(ids), 500):
            session.execute(delete(Quarantine).where(Quarantine.source == source,
                                                     Quarantine.source_ad_id.in_(ids[start:start + 500])))


def quarantined_counts(engine: Engine) -> dict[str, int]:
    """Ads in the quarantine by source."""
    with Session(engine) as session:
        query = select(Quarantine.source, func.count()).group_by(Quarantine.source).order_by(Quarantine.source)
        return dict(session.execute(query).all())


def quarantined(engine: Engine, source: str | None = None) -> list[Quarantine]:
    """Quarantine rows, oldest first; of one source or of all."""
    query = select(Quarantine).order_by(Quarantine.id)
    if source is not None:
        query = query.where(Quarantine.source == source)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(query))
