"""Schema migrations: a database of the previous release keeps its data, a new one matches the models, and
processes that start together migrate once. Each test runs on SQLite and on PostgreSQL (tests/postgres.py)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from assistant.db import Database, Job, Message, Vote
from assistant.job_owners import JobOwner
from assistant.migrations import current_revision, full_metadata, head_revision


def previous_release_metadata() -> sa.MetaData:
    """The tables as the release before migrations made them with `create_all` (git 5322269: db.py, job_owners.py)."""
    md = sa.MetaData()
    sa.Table("users", md, sa.Column("name", sa.String(64), primary_key=True),
             sa.Column("password_hash", sa.String(255), nullable=False),
             sa.Column("role", sa.String(16), nullable=False),
             sa.Column("created_at", sa.DateTime, nullable=False))
    sa.Table("api_keys", md, sa.Column("id", sa.String(32), primary_key=True),
             sa.Column("owner", sa.String(64), nullable=False, index=True),
             sa.Column("label", sa.String(100), nullable=False),
             sa.Column("key_hash", sa.String(64), nullable=False, unique=True, index=True),
             sa.Column("prefix", sa.String(16), nullable=False), sa.Column("revoked", sa.Boolean, nullable=False),
             sa.Column("created_at", sa.DateTime, nullable=False), sa.Column("last_used_at", sa.DateTime))
    sa.Table("conversations", md, sa.Column("id", sa.String(32), primary_key=True),
             sa.Column("owner", sa.String(64), nullable=False, index=True),
             sa.Column("title", sa.String(200), nullable=False), sa.Column("adapter", sa.String(64)),
             sa.Column("cot_mode", sa.String(32), nullable=False),
             sa.Column("knowledge_mode", sa.String(16), nullable=False),
             sa.Column("tools_enabled", sa.Boolean, nullable=False), sa.Column("generation", sa.JSON, nullable=False),
             sa.Column("created_at", sa.DateTime, nullable=False), sa.Column("updated_at", sa.DateTime, nullable=False))
    sa.Table("messages", md, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("conversation_id", sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False,
                       index=True),
             sa.Column("role", sa.String(16), nullable=False), sa.Column("content", sa.Text, nullable=False),
             sa.Column("reasoning", sa.Text, nullable=False), sa.Column("meta", sa.JSON, nullable=False),
             sa.Column("active", sa.Boolean, nullable=False), sa.Column("alternative_of", sa.Integer),
             sa.Column("created_at", sa.DateTime, nullable=False))
    sa.Table("votes", md, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("message_id", sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, unique=True),
             sa.Column("value", sa.Integer, nullable=False), sa.Column("reason", sa.Text, nullable=False),
             sa.Column("snapshot", sa.JSON, nullable=False), sa.Column("adapter", sa.String(64), index=True),
             sa.Column("created_at", sa.DateTime, nullable=False), sa.Column("updated_at", sa.DateTime, nullable=False))
    sa.Table("jobs", md, sa.Column("id", sa.String(32), primary_key=True),
             sa.Column("kind", sa.String(32), nullable=False, index=True),
             sa.Column("lock_key", sa.String(128), nullable=False, index=True),
             sa.Column("status", sa.String(16), nullable=False), sa.Column("config", sa.JSON, nullable=False),
             sa.Column("progress", sa.Float, nullable=False), sa.Column("message", sa.Text, nullable=False),
             sa.Column("result", sa.JSON, nullable=False), sa.Column("pid", sa.Integer),
             sa.Column("cancel_requested", sa.Boolean, nullable=False),
             sa.Column("created_at", sa.DateTime, nullable=False), sa.Column("started_at", sa.DateTime),
             sa.Column("finished_at", sa.DateTime))
    sa.Table("promotions", md, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("action", sa.String(16), nullable=False), sa.Column("adapter", sa.String(64)),
             sa.Column("previous", sa.String(64)), sa.Column("evaluation", sa.JSON, nullable=False),
             sa.Column("created_at", sa.DateTime, nullable=False))
    sa.Table("job_owners", md, sa.Column("job_id", sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
             sa.Column("owner", sa.String(64), nullable=False, index=True))
    return md


def schema_differences(engine: sa.Engine) -> list:
    """What autogenerate would still write: nothing, when the migrations made exactly the models' schema."""
    # SQLite never checks a VARCHAR's length, and the migrations leave declared lengths alone there.
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": engine.dialect.name != "sqlite"})
        return compare_metadata(context, full_metadata())


def test_a_database_of_the_previous_release_upgrades_with_its_data(database_url):
    now = dt.datetime(2026, 11, 30, 12, 0)
    old = previous_release_metadata()
    engine = sa.create_engine(database_url)
    old.create_all(engine)
    t = old.tables
    with engine.begin() as conn:
        conn.execute(t["conversations"].insert(), [dict(
            id="c1", owner="user:alice", title="Old chat", adapter=None, cot_mode="direct", knowledge_mode="auto",
            tools_enabled=True, generation={"temperature": 0.2}, created_at=now, updated_at=now)])
        conn.execute(t["messages"].insert(), [
            dict(id=1, conversation_id="c1", role="user", content="What is LoRA?", reasoning="", meta={},
                 active=True, alternative_of=None, created_at=now),
            dict(id=2, conversation_id="c1", role="assistant", content="Low-rank adaptation.", reasoning="think",
                 meta={"adapter": "concise", "sources": [{"source": "a.md"}]}, active=True, alternative_of=None,
                 created_at=now)])
        conn.execute(t["votes"].insert(), [dict(id=1, message_id=2, value=1, reason="clear", snapshot={"k": [1, 2]},
                                                adapter="concise", created_at=now, updated_at=now)])
        conn.execute(t["jobs"].insert(), [dict(
            id="j1", kind="sleep", lock_key="sleep", status="succeeded", config={"steps": 2}, progress=1.0,
            message="done", result={"steps": 2}, pid=None, cancel_requested=False, created_at=now, started_at=now,
            finished_at=now)])
        conn.execute(t["job_owners"].insert(), [dict(job_id="j1", owner="user:alice")])
    if engine.dialect.name == "postgresql":  # explicit ids above: move the sequences past them, as the app's rows did
        with engine.begin() as conn:
            for table in ("messages", "votes"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 10)"))
    engine.dispose()

    db = Database(database_url)  # the new release opens it

    assert current_revision(db.engine) == head_revision()
    assert {"arena_battles", "alembic_version"} <= set(sa.inspect(db.engine).get_table_names())
    assert schema_differences(db.engine) == []
    from assistant.conversations import ConversationStore

    view = ConversationStore(db).get("user:alice", "c1")
    assert view.title == "Old chat" and view.generation == {"temperature": 0.2}
    assert [(m["role"], m["content"]) for m in view.messages] == [("user", "What is LoRA?"),
                                                                   ("assistant", "Low-rank adaptation.")]
    assert view.messages[1]["meta"]["sources"] == [{"source": "a.md"}]
    with db.session() as s:
        vote = s.scalars(sa.select(Vote)).one()
        assert (vote.message_id, vote.value, vote.snapshot, vote.adapter) == (2, 1, {"k": [1, 2]}, "concise")
        job = s.get(Job, "j1")
        assert (job.status, job.config, job.result, job.cancel_requested) == ("succeeded", {"steps": 2}, {"steps": 2},
                                                                               False)
        assert s.get(JobOwner, "j1").owner == "user:alice"
        # the new release writes into the old tables; an account owner id of 69 characters fits now
        long_owner = "user:" + "a" * 64
        s.add(Message(conversation_id="c1", role="user", content="and QLoRA?"))
    ConversationStore(db).create(long_owner, title="long name")
    assert len(ConversationStore(db).list(long_owner)) == 1


def test_a_new_database_matches_the_models(database_url):
    db = Database(database_url)
    assert current_revision(db.engine) == head_revision()
    assert schema_differences(db.engine) == []
    assert Database(database_url) is not db and current_revision(db.engine) == head_revision()  # a restart: no-op


STARTER = """
import sys
from assistant.db import Database
from assistant.migrations import current_revision
print(current_revision(Database(sys.argv[1]).engine))
"""


def test_processes_starting_together_migrate_once(database_url):
    """The app and job workers opening a new database at the same moment: one migrates, the others wait for it."""
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, database_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    assert {out.strip() for out, _ in outputs} == {head_revision()}
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()
