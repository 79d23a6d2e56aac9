"""The SQL schema (SQLAlchemy): users, API keys, conversations, messages, votes, jobs, promotions.

SQLite (WAL) by default, PostgreSQL through `ASSISTANT_DATABASE_URL`; the schema is made and changed by the
migrations in assistant/migrations (docs/storage.md).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from assistant.migrations import upgrade_to_head

# An owner id: "local", or "user:" + a user name of up to 64 characters (PostgreSQL enforces VARCHAR lengths).
OWNER_CHARS = 128


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex[:16]


class Base(DeclarativeBase):
    pass


class User(Base):
    """An account: the password is only ever stored as an argon2 hash (see assistant/users.py)."""

    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")  # admin | user
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ApiKey(Base):
    """A key for the OpenAI-compatible API: only its sha256 is stored (the key is shown once, at creation)."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner: Mapped[str] = mapped_column(String(OWNER_CHARS), index=True)  # "user:<name>" (accounts) or "local"
    label: Mapped[str] = mapped_column(String(100), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise a key in listings
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner: Mapped[str] = mapped_column(String(OWNER_CHARS), index=True)
    title: Mapped[str] = mapped_column(String(200), default="New chat")
    adapter: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None = the default adapter
    cot_mode: Mapped[str] = mapped_column(String(32), default="direct")
    knowledge_mode: Mapped[str] = mapped_column(String(16), default="auto")
    tools_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    generation: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="Message.id"
    )


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant | tool
    content: Mapped[str] = mapped_column(Text, default="")
    reasoning: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict] = mapped_column(JSON, default=dict)  # model, adapter, quant, settings, sources, tools…
    # A regenerated reply replaces the visible one; the old one stays as an alternative (preference pairs).
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    alternative_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class Vote(Base):
    __tablename__ = "votes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    value: Mapped[int] = mapped_column(Integer)  # +1 / -1
    reason: Mapped[str] = mapped_column(Text, default="")
    # Everything needed to learn from the vote, frozen at vote time: prompt messages, reply, model, settings.
    snapshot: Mapped[dict] = mapped_column(JSON, default=dict)
    adapter: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    lock_key: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|succeeded|failed|cancelled
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Promotion(Base):
    __tablename__ = "promotions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(16))  # promote | rollback
    adapter: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None = bare base model
    previous: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evaluation: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Database:
    """One engine + session factory per URL per process (the job worker opens its own)."""

    _instances: dict[str, Database] = {}
    _instances_lock = threading.Lock()  # guards `_instances`

    def __init__(self, url: str) -> None:
        self.url = url
        connect_args = {"check_same_thread": False, "timeout": 30} if url.startswith("sqlite") else {}
        # pre_ping: a server restart (PostgreSQL) leaves dead pooled connections; a cheap check replaces them.
        self.engine: Engine = create_engine(url, connect_args=connect_args, pool_pre_ping=not url.startswith("sqlite"))
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        upgrade_to_head(self.engine)  # the schema comes from the migrations, never from create_all
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def for_url(cls, url: str) -> Database:
        with cls._instances_lock:
            if url not in cls._instances:
                cls._instances[url] = cls(url)
            return cls._instances[url]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; crash-safe
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def get_database(settings) -> Database:  # noqa: ANN001
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Database.for_url(settings.db_url)
