"""Owner columns fit an account's owner id: "user:" + a user name of up to 64 characters (69 in all).

PostgreSQL refuses a longer value than a VARCHAR's length (SQLite never checks it, so there the declared type
stays as it was: changing it would mean copying each table).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OWNER_COLUMNS = ("conversations", "api_keys", "job_owners", "arena_battles")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in OWNER_COLUMNS:
        op.alter_column(table, "owner", type_=sa.String(128), existing_type=sa.String(64), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in OWNER_COLUMNS:
        op.alter_column(table, "owner", type_=sa.String(64), existing_type=sa.String(128), existing_nullable=False)
