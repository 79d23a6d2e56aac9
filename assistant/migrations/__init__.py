"""Schema migrations (Alembic): every process that opens the database brings it to the newest revision first.

`upgrade_to_head(engine)` runs at startup (`Database.__init__`). Processes that start together (the app and a job
worker, two CLI commands) take a lock first, so only one of them migrates and the others find the work done: a
file lock beside a SQLite file, `pg_advisory_lock` on PostgreSQL. A database made before migrations existed
(tables made by `create_all`, no `alembic_version`) is adopted: the first revision creates only the tables it
lacks, so its rows stay where they are.

New revision after changing a model in assistant/db.py (or a side table):
    ASSISTANT_DATABASE_URL=sqlite:////tmp/scratch.db .venv/bin/alembic upgrade head
    ASSISTANT_DATABASE_URL=sqlite:////tmp/scratch.db .venv/bin/alembic revision --autogenerate -m "what changed"
"""

from __future__ import annotations

import fcntl
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
# One cluster-wide advisory lock id for "this app migrates its schema" (any fixed 64-bit number will do).
PG_LOCK_KEY = zlib.crc32(b"assistant schema migrations")


def alembic_config() -> Config:
    """The Alembic config of the package's own migrations (no alembic.ini needed at run time)."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    return config


@cache
def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def full_metadata() -> MetaData:
    """Every table of the app, side tables included (for autogenerate and schema checks; imports torch via arena)."""
    import assistant.arena  # noqa: F401 - declares arena_battles on Base
    import assistant.job_owners  # noqa: F401 - declares job_owners on Base
    from assistant.db import Base

    return Base.metadata


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Held while one process checks and migrates the schema; others wait for it."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":  # private to this process: nothing to race with
            yield
            return
        lock_path = Path(database).expanduser().with_name(Path(database).name + ".migrate.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif engine.dialect.name == "postgresql":
        # A session-level lock on a connection of its own, in autocommit: it outlives the migration's transaction
        # and is released explicitly (or by the server if this process dies).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})
    else:  # another server: its DDL is transactional or it is the user's to serialise
        yield


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> str:
    """Bring the schema to the newest revision (adopting a database made before migrations); returns what it did."""
    head = head_revision()
    if current_revision(engine) == head:  # the common case, without waiting for the lock
        return "current"
    with migration_lock(engine):
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            legacy = current is None and "conversations" in inspect(conn).get_table_names()
        if current == head:  # another process migrated while this one waited
            return "current"
        if legacy:
            log.warning("adopting a database made before schema migrations (%s): creating missing tables only",
                        engine.url.render_as_string(hide_password=True))
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        log.info("database schema migrated from %s to %s", current or ("legacy" if legacy else "empty"), head)
        return "adopted" if legacy else "migrated"
