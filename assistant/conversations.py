"""ConversationStore: conversations and their messages in the database, always scoped to an owner."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select, update

from assistant.db import Conversation, Database, Message, utcnow
from assistant.prompts import check_mode

KNOWLEDGE_MODES = ("off", "auto", "always")
ROLES = ("user", "assistant", "tool")
# A backstop far above any real turn (the chat limits input to max_input_chars; replies to max_new_tokens):
# a caller that skips those checks still cannot bloat the database with a 10 MB message.
MAX_STORED_CHARS = 1_000_000
# A conversation's own system prompt: stored with it, exported, imported back (conversation_io) and sent with every
# turn, so one limit for all four; far more than a persona needs, and unchecked it was 5 MB a row (a hostile probe).
MAX_SYSTEM_PROMPT_CHARS = 20_000
# Stripped from everything stored as a title or message: C0 controls but tab/newline/carriage return (NUL, ESC…),
# DEL and the C1 controls, and the bidi embeddings/overrides/isolates that make a title or bubble display reversed.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str) -> str:
    """`text` without control characters and bidi overrides (\\n and \\t kept); the one filter for stored text."""
    return _UNSAFE_CHARS.sub("", text) if isinstance(text, str) else text


class NotFound(LookupError):
    """No such conversation or message for this owner."""


def check_system_prompt(text: object) -> None:
    """A ValueError unless `text` is None or a system prompt within MAX_SYSTEM_PROMPT_CHARS."""
    if text is None:
        return
    if not isinstance(text, str):
        raise ValueError("the system prompt must be text")
    if len(text) > MAX_SYSTEM_PROMPT_CHARS:
        raise ValueError(f"the system prompt is {len(text):,} characters; at most {MAX_SYSTEM_PROMPT_CHARS:,} are "
                         "accepted")


@dataclass
class ConversationView:
    id: str
    title: str
    adapter: str | None
    cot_mode: str
    knowledge_mode: str
    tools_enabled: bool
    generation: dict
    messages: list[dict] = field(default_factory=list)


def _message_dict(m: Message) -> dict:
    return {
        "id": m.id,
        "role": m.role,
        "content": m.content,
        "reasoning": m.reasoning,
        "meta": m.meta or {},
        "active": m.active,
        "alternative_of": m.alternative_of,
        "created_at": str(m.created_at),
    }


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, owner: str, title: str = "New chat", **options: object) -> ConversationView:
        self._check_options(options)
        with self.db.session() as s:
            conv = Conversation(owner=owner, title=clean_text(title)[:200] or "New chat", **options)
            s.add(conv)
            s.flush()
            return self._view(conv, [])

    def list(self, owner: str) -> list[tuple[str, str]]:
        """(id, title) pairs, most recently used first."""
        with self.db.session() as s:
            rows = s.execute(
                select(Conversation.id, Conversation.title)
                .where(Conversation.owner == owner)
                .order_by(Conversation.updated_at.desc())
            ).all()
            return [(r.id, r.title) for r in rows]

    def get(self, owner: str, conversation_id: str, include_inactive: bool = False) -> ConversationView:
        with self.db.session() as s:
            conv = self._owned(s, owner, conversation_id)
            messages = [m for m in conv.messages if include_inactive or m.active]
            return self._view(conv, messages)

    def update(self, owner: str, conversation_id: str, **options: object) -> ConversationView:
        self._check_options(options)
        with self.db.session() as s:
            conv = self._owned(s, owner, conversation_id)
            for key, value in options.items():
                setattr(conv, key, clean_text(value)[:200] if key == "title" else value)
            conv.updated_at = utcnow()
            return self._view(conv, [m for m in conv.messages if m.active])

    def rename(self, owner: str, conversation_id: str, title: str) -> None:
        title = " ".join(clean_text(title).split())[:200]
        if not title:
            raise ValueError("a conversation title cannot be empty")
        self.update(owner, conversation_id, title=title)

    def transfer_owner(self, old_owner: str, new_owner: str) -> int:
        """Give every conversation of `old_owner` to `new_owner` (one identity replacing another); how many moved."""
        with self.db.session() as s:
            result = s.execute(update(Conversation).where(Conversation.owner == old_owner).values(
                owner=new_owner, updated_at=Conversation.updated_at))  # the list keeps its order
            return result.rowcount or 0

    def delete(self, owner: str, conversation_id: str) -> None:
        with self.db.session() as s:
            s.delete(self._owned(s, owner, conversation_id))

    def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        reasoning: str = "",
        meta: dict | None = None,
        alternative_of: int | None = None,
    ) -> int:
        if role not in ROLES:
            raise ValueError(f"message role must be one of {', '.join(ROLES)}")
        for label, text in (("message", content), ("reasoning", reasoning)):
            if not isinstance(text, str):
                raise ValueError(f"the {label} must be text")
            if len(text) > MAX_STORED_CHARS:
                raise ValueError(f"the {label} is {len(text):,} characters; at most {MAX_STORED_CHARS:,} are stored")
        with self.db.session() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None:
                raise NotFound(f"no conversation {conversation_id!r}")
            message = Message(
                conversation_id=conversation_id,
                role=role,
                content=clean_text(content),
                reasoning=clean_text(reasoning),
                meta=meta or {},
                alternative_of=alternative_of,
            )
            s.add(message)
            conv.updated_at = utcnow()
            if conv.title == "New chat" and role == "user":
                conv.title = " ".join(message.content.split())[:60] or "New chat"
            s.flush()
            return message.id

    def deactivate(self, owner: str, message_id: int) -> dict:
        """Hide a reply (kept as an alternative for preference pairs) before it is regenerated."""
        with self.db.session() as s:
            message = s.get(Message, message_id)
            if message is None or message.conversation.owner != owner:
                raise NotFound(f"no message {message_id}")
            message.active = False
            return _message_dict(message)

    def take_pending_call(self, owner: str, message_id: int) -> tuple[str, dict] | None:
        """Remove and return (conversation id, call) of a reply's proposed tool call, at most once."""
        with self.db.session() as s:
            message = s.get(Message, message_id)
            if message is None or message.conversation.owner != owner:
                raise NotFound(f"no message {message_id}")
            pending = (message.meta or {}).get("pending_call")
            if not pending:
                return None
            message.meta = {**message.meta, "pending_call": None, "pending_resolved": True}
            return message.conversation_id, pending

    def message(self, message_id: int) -> dict:
        with self.db.session() as s:
            message = s.get(Message, message_id)
            if message is None:
                raise NotFound(f"no message {message_id}")
            return {
                **_message_dict(message),
                "conversation_id": message.conversation_id,
                "owner": message.conversation.owner,
            }

    def history_before(self, message_id: int) -> list[dict]:
        """The active messages of the conversation that precede `message_id` (the prompt it answered)."""
        with self.db.session() as s:
            message = s.get(Message, message_id)
            if message is None:
                raise NotFound(f"no message {message_id}")
            return [
                _message_dict(m)
                for m in message.conversation.messages
                if m.id < message_id and m.active and m.role in ("user", "assistant")
            ]

    @staticmethod
    def _owned(s, owner: str, conversation_id: str) -> Conversation:  # noqa: ANN001
        conv = s.get(Conversation, conversation_id)
        if conv is None or conv.owner != owner:  # another owner's conversation looks exactly like a missing one
            raise NotFound(f"no conversation {conversation_id!r}")
        return conv

    @staticmethod
    def _check_options(options: dict) -> None:
        if "cot_mode" in options:
            check_mode(str(options["cot_mode"]))
        if "knowledge_mode" in options and options["knowledge_mode"] not in KNOWLEDGE_MODES:
            raise ValueError(f"knowledge mode must be one of {', '.join(KNOWLEDGE_MODES)}")
        if "generation" in options:
            check_system_prompt((options["generation"] or {}).get("system_prompt"))

    @staticmethod
    def _view(conv: Conversation, messages: list[Message]) -> ConversationView:
        return ConversationView(
            conv.id,
            conv.title,
            conv.adapter,
            conv.cot_mode,
            conv.knowledge_mode,
            conv.tools_enabled,
            dict(conv.generation or {}),
            [_message_dict(m) for m in messages],
        )
