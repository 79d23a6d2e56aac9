"""Who started each background job: a side table beside `jobs` (made by the migrations, like every table).

Kept apart from `assistant/jobs.py` because the worker runs that module as `__main__` and imports it again,
which would declare the table twice.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from assistant.db import OWNER_CHARS, Base

SYSTEM_OWNER = "local"  # the owner of jobs started without one (single-user app, CLI, auto-retrain)


class JobOwner(Base):
    __tablename__ = "job_owners"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_CHARS), index=True)
