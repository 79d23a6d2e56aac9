"""Alembic's entry: run by `upgrade_to_head` on the app's own connection, or by the `alembic` command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from assistant.migrations import full_metadata


def run(connection: Connection, target_metadata) -> None:  # noqa: ANN001 - MetaData | None
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters a table by copying it: autogenerate writes batch operations there.
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite never checks a VARCHAR's length and the revisions leave declared lengths alone there (0002):
        # column types are compared on PostgreSQL only, so make a revision that changes a type against one.
        compare_type=connection.dialect.name != "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:  # the app at startup: no models needed, the revisions carry their own DDL
    run(connection, None)
else:  # the command line (autogenerate compares against every model)
    from assistant.config import Settings

    url = context.config.get_main_option("sqlalchemy.url") or Settings().db_url
    engine = create_engine(url)
    with engine.connect() as conn:
        run(conn, full_metadata())
        conn.commit()
    engine.dispose()
