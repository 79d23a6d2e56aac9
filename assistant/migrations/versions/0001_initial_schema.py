"""The schema of the last release without migrations: nine tables.

A database made by that release (or an earlier one) already has some of them: it has no `alembic_version` and
was made by `create_all`, which added `job_owners` and `arena_battles` only once the code that uses them ran.
So this revision creates only the tables that are missing; the ones there keep their rows. No release ever
changed a column of an existing table without a new table, so a table that exists has these columns.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _create(name: str, *columns: sa.Column | sa.Constraint, indexes: dict[str, tuple[str, bool]] = {}) -> None:  # noqa: B006
    """Create table `name` with its indexes ({index name: (column, unique)}), unless the database has it."""
    if name in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(name, *columns)
    for index, (column, unique) in indexes.items():
        op.create_index(index, name, [column], unique=unique)


def upgrade() -> None:
    _create(
        "users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    _create(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        indexes={"ix_api_keys_key_hash": ("key_hash", True), "ix_api_keys_owner": ("owner", False)},
    )
    _create(
        "conversations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("adapter", sa.String(64), nullable=True),
        sa.Column("cot_mode", sa.String(32), nullable=False),
        sa.Column("knowledge_mode", sa.String(16), nullable=False),
        sa.Column("tools_enabled", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        indexes={"ix_conversations_owner": ("owner", False)},
    )
    _create(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("reasoning", sa.Text(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("alternative_of", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        indexes={"ix_messages_conversation_id": ("conversation_id", False)},
    )
    _create(
        "votes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("adapter", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("message_id"),
        indexes={"ix_votes_adapter": ("adapter", False)},
    )
    _create(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("lock_key", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        indexes={"ix_jobs_kind": ("kind", False), "ix_jobs_lock_key": ("lock_key", False)},
    )
    _create(
        "promotions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("adapter", sa.String(64), nullable=True),
        sa.Column("previous", sa.String(64), nullable=True),
        sa.Column("evaluation", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    _create(
        "job_owners",
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        indexes={"ix_job_owners_owner": ("owner", False)},
    )
    _create(
        "arena_battles",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("left_message_id", sa.Integer(), nullable=False),
        sa.Column("right_message_id", sa.Integer(), nullable=False),
        sa.Column("left_adapter", sa.String(64), nullable=False),
        sa.Column("right_adapter", sa.String(64), nullable=False),
        sa.Column("winner", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        indexes={"ix_arena_battles_conversation_id": ("conversation_id", False),
                 "ix_arena_battles_owner": ("owner", False)},
    )


def downgrade() -> None:
    for name in ("arena_battles", "job_owners", "promotions", "jobs", "votes", "messages", "conversations",
                 "api_keys", "users"):
        op.drop_table(name)
