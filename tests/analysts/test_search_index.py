"""The search objects of migration 0003 stay out of Alembic autogenerate through storage.search_index.include_object."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.models import Base
from storage.search_index import FTS_TABLE, SEARCH_COLUMN, SEARCH_INDEX, include_object


def mentions_search(diff) -> bool:
    text = repr(diff)
    return any(name in text for name in (FTS_TABLE, SEARCH_COLUMN, SEARCH_INDEX))


def test_autogenerate_ignores_search_objects(engine):
    with engine.connect() as connection:
        unfiltered = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        filtered = compare_metadata(MigrationContext.configure(connection, opts={"include_object": include_object}),
                                    Base.metadata)
    assert any(mentions_search(d) for d in unfiltered)
    assert not any(mentions_search(d) for d in filtered)
