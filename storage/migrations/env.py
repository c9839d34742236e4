"""Alembic environment: migrations run on the connection handed over by storage.db.upgrade()."""

from alembic import context

from storage import ad_summary, search_index
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(*args) -> bool:
    """Leave the objects that live outside the models (search index, ad summary bookkeeping) to the migrations."""
    return search_index.include_object(*args) and ad_summary.include_object(*args)


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        with config.attributes["engine"].begin() as connection:
            _run(connection)
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
