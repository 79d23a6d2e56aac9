"""Search, export and import of one owner's conversations (the UI, the CLI and tests call these).

Everything here is scoped to an owner the caller has already established: a search, an export or an import
never reads or writes another owner's rows. The JSON export is the import format (`FORMAT`, version 1);
re-exporting an import gives the same document except the new conversation ids.

An import is validated completely before anything is written, and written in one transaction: a malformed,
oversized or hostile file raises `ImportError_` with a clear message and leaves the store as it was. Imported
conversations belong to the importing owner and get new ids. Only the display metadata of a reply travels
(`EXPORTED_META`): never a proposed tool call (it could be confirmed after the import), image paths (files of
this server) or the model's exact input (votes on an imported reply are marked as not the model's own output).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select

from assistant.conversations import (
    KNOWLEDGE_MODES,
    MAX_STORED_CHARS,
    MAX_SYSTEM_PROMPT_CHARS,
    ROLES,
    ConversationStore,
    clean_text,
)
from assistant.db import Conversation, Message, utcnow
from assistant.prompts import COT_MODES

FORMAT = "assistant-conversations"
VERSION = 1
MAX_IMPORT_BYTES = 20_000_000
MAX_CONVERSATIONS = 1_000
MAX_MESSAGES = 5_000  # per conversation
MAX_SEARCH_TERMS = 8
SNIPPET_CHARS = 120
# Reply metadata that an export carries and an import accepts (see the module docstring for what is left out).
EXPORTED_META = ("model", "quant", "engine", "adapter", "cot_mode", "params", "sources", "tool_calls", "notices",
                 "votes", "tokens", "seconds", "confirmed")
# (type, lowest, highest) of each generation option a conversation keeps (the ranges of GenerationParams)
GENERATION_KEYS = {"temperature": (float, 0.0, 2.0), "top_p": (float, 1e-9, 1.0), "top_k": (int, 0, 100_000),
                   "max_new_tokens": (int, 1, 1_000_000), "repetition_penalty": (float, 1.0, 2.0),
                   "seed": (int, -(2**63), 2**63 - 1), "system_prompt": (str, 0, 0)}
_ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ImportError_(ValueError):  # noqa: N801 - `ImportError` is a builtin with another meaning
    """The file cannot be imported; the message says what is wrong, and nothing was written."""


# --- search -----------------------------------------------------------------------------------------
@dataclass
class SearchHit:
    id: str
    title: str
    snippet: str  # the first matching message text around the match ("" when only the title matched)
    updated_at: str


def _like(term: str) -> str:
    """A LIKE pattern matching `term` literally: its own % and _ (and the escape character) are escaped."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(store: ConversationStore, owner: str, query: str, limit: int = 50) -> list[SearchHit]:
    """The owner's conversations whose title or visible messages contain every word of `query`, newest first.

    Case-insensitive (ILIKE: ASCII letters on SQLite, all letters on PostgreSQL). An empty query gives no hits
    (callers list instead).
    """
    terms = clean_text(str(query or "")).split()[:MAX_SEARCH_TERMS]
    if not terms:
        return []
    conditions = []
    for term in terms:
        pattern = _like(term)
        in_messages = (
            select(Message.id)
            .where(
                Message.conversation_id == Conversation.id,
                Message.active,
                Message.role.in_(("user", "assistant")),
                Message.content.ilike(pattern, escape="\\"),
            )
            .exists()
        )
        conditions.append(or_(Conversation.title.ilike(pattern, escape="\\"), in_messages))
    with store.db.session() as s:
        rows = s.execute(
            select(Conversation.id, Conversation.title, Conversation.updated_at)
            .where(Conversation.owner == owner, and_(*conditions))
            .order_by(Conversation.updated_at.desc())
            .limit(max(1, int(limit)))
        ).all()
        hits = []
        for row in rows:
            first = s.scalars(
                select(Message.content)
                .where(
                    Message.conversation_id == row.id,
                    Message.active,
                    Message.role.in_(("user", "assistant")),
                    or_(*[Message.content.ilike(_like(t), escape="\\") for t in terms]),
                )
                .order_by(Message.id)
                .limit(1)
            ).first()
            hits.append(SearchHit(row.id, row.title, _snippet(first or "", terms), str(row.updated_at)))
        return hits


def _snippet(text: str, terms: list[str]) -> str:
    if not text:
        return ""
    lowered = text.lower()
    found = [i for i in (lowered.find(t.lower()) for t in terms) if i >= 0]
    start = max(0, min(found, default=0) - SNIPPET_CHARS // 3)
    piece = " ".join(text[start : start + SNIPPET_CHARS].split())
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_CHARS < len(text) else "")


# --- export -----------------------------------------------------------------------------------------
def _portable_meta(meta: dict) -> dict:
    """The reply metadata that travels: `EXPORTED_META` without empties, tool calls without image paths."""
    out = {k: meta[k] for k in EXPORTED_META if meta.get(k) not in (None, [], {})}
    if isinstance(out.get("tool_calls"), list):
        # images named in a tool call are files of this server: never a path another server would open
        out["tool_calls"] = [
            {k: v for k, v in c.items() if k != "images"} if isinstance(c, dict) else c for c in out["tool_calls"]
        ]
    return out


def _owned_conversations(store: ConversationStore, owner: str, ids: list[str] | None) -> list[str]:
    """The conversation ids to export: `ids` (each must be the owner's) or all the owner's, newest first."""
    if ids is None:
        return [cid for cid, _ in store.list(owner)]
    for cid in ids:
        store.get(owner, cid)  # NotFound for another owner's conversation, exactly as for a missing one
    return list(ids)


def export_conversation(store: ConversationStore, owner: str, conversation_id: str) -> dict:
    """One conversation in the export form: options, then every message (inactive alternatives included)."""
    view = store.get(owner, conversation_id, include_inactive=True)
    with store.db.session() as s:
        conv = s.get(Conversation, conversation_id)
        created, updated = conv.created_at.isoformat(), conv.updated_at.isoformat()
    position = {m["id"]: i for i, m in enumerate(view.messages)}
    messages = []
    for m in view.messages:
        meta = m["meta"] or {}
        messages.append(
            {
                "role": m["role"],
                "content": m["content"],
                "reasoning": m["reasoning"],
                "active": bool(m["active"]),
                # the position of the reply this one replaced, within this list (database ids do not travel)
                "alternative_of": position.get(m["alternative_of"]),
                "created_at": m["created_at"].replace(" ", "T"),
                "meta": _portable_meta(meta),
            }
        )
    return {
        "id": view.id,
        "title": view.title,
        "adapter": view.adapter,
        "cot_mode": view.cot_mode,
        "knowledge_mode": view.knowledge_mode,
        "tools_enabled": view.tools_enabled,
        "generation": view.generation,
        "created_at": created,
        "updated_at": updated,
        "messages": messages,
    }


def export_json(store: ConversationStore, owner: str, ids: list[str] | None = None) -> dict:
    """The owner's conversations (`ids`, or all) as one JSON-able document, the input `import_json` takes."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": utcnow().isoformat(timespec="seconds"),
        "conversations": [export_conversation(store, owner, cid) for cid in _owned_conversations(store, owner, ids)],
    }


def export_markdown(store: ConversationStore, owner: str, ids: list[str] | None = None) -> str:
    """The visible text of the conversations, for reading: reasoning folded, sources listed under a reply."""
    parts = []
    for conv in export_json(store, owner, ids)["conversations"]:
        adapter = {None: "default", "none": "base model"}.get(conv["adapter"], conv["adapter"])
        lines = [
            f"# {conv['title']}",
            "",
            f"*{conv['created_at'][:16].replace('T', ' ')} · adapter: {adapter} · "
            f"chain of thought: {conv['cot_mode']}*",
        ]
        for m in conv["messages"]:
            if not m["active"] or m["role"] == "tool":
                continue
            who = "You" if m["role"] == "user" else "Assistant"
            lines += ["", f"**{who}** · {m['created_at'][:16].replace('T', ' ')}", ""]
            if m["reasoning"]:
                lines += ["<details><summary>Thinking</summary>", "", m["reasoning"], "", "</details>", ""]
            lines.append(m["content"])
            sources = m["meta"].get("sources") or []
            if sources:
                lines += ["", "Sources:"]
                lines += [
                    f"{i}. {s.get('source', '?')}" + (f" — {s['location']}" if s.get("location") else "")
                    for i, s in enumerate(sources, 1)
                    if isinstance(s, dict)
                ]
        parts.append("\n".join(lines))
    return "\n\n---\n\n".join(parts) + "\n"


def export_filename(kind: str, conversation_title: str | None = None) -> str:
    """`conversations-2025-01-31.json`, or `<title>.md` for one conversation: a safe file name."""
    suffix = "md" if kind == "markdown" else "json"
    if conversation_title:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", conversation_title).strip("-._")[:60] or "conversation"
    else:
        stem = f"conversations-{dt.date.today().isoformat()}"
    return f"{stem}.{suffix}"


# --- import -----------------------------------------------------------------------------------------
def _fail(where: str, what: str) -> ImportError_:
    return ImportError_(f"{where}: {what}" if where else what)


def _text(value: Any, where: str, limit: int = MAX_STORED_CHARS, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise _fail(where, "must be text")
    if len(value) > limit:
        raise _fail(where, f"is {len(value):,} characters; at most {limit:,} are accepted")
    return clean_text(value)


def _time(value: Any, where: str) -> dt.datetime:
    if value is None:
        return utcnow()
    try:
        parsed = dt.datetime.fromisoformat(str(value)[:40])
    except ValueError as exc:
        raise _fail(where, f"{str(value)[:40]!r} is not a date and time (ISO 8601)") from exc
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _json_value(value: Any, where: str, depth: int = 0) -> Any:
    """Plain JSON data, not too deep, strings cleaned (metadata is shown on screen)."""
    if depth > 8:
        raise _fail(where, "is nested too deeply")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(where, "holds a number that is not finite")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list):
        return [_json_value(v, where, depth + 1) for v in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): _json_value(v, where, depth + 1) for k, v in value.items()}
    raise _fail(where, "holds a value that is not JSON data")


def _generation(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(where, "must be an object")
    out: dict[str, Any] = {}
    for key, (kind, low, high) in GENERATION_KEYS.items():
        if value.get(key) is None:
            continue
        item = value[key]
        if kind is str:
            out[key] = _text(item, f"{where}.{key}", limit=MAX_SYSTEM_PROMPT_CHARS)  # what the store accepts
        elif isinstance(item, bool) or not isinstance(item, int | float) or (kind is int and item != int(item)):
            raise _fail(f"{where}.{key}", "must be a number")
        elif not low <= item <= high:
            raise _fail(f"{where}.{key}", f"{item!r} is out of range ({low} to {high})")
        else:
            out[key] = kind(item)
    return out


def _check_conversation(raw: Any, where: str, known_adapters: set[str] | None) -> tuple[dict, list[dict]]:
    """(conversation columns, message rows) of one exported conversation, or ImportError_."""
    if not isinstance(raw, dict):
        raise _fail(where, "must be an object")
    title = " ".join(_text(raw.get("title"), f"{where}.title", limit=1_000).split())[:200] or "New chat"
    adapter = raw.get("adapter")
    if adapter is not None and (not isinstance(adapter, str) or not _ADAPTER_NAME.match(adapter)):
        raise _fail(f"{where}.adapter", "must be an adapter name or null")
    if adapter not in (None, "none") and known_adapters is not None and adapter not in known_adapters:
        adapter = None  # an adapter this server does not have: the conversation uses the default
    cot_mode = raw.get("cot_mode") or "direct"
    if cot_mode not in COT_MODES:
        raise _fail(f"{where}.cot_mode", f"must be one of {', '.join(COT_MODES)}")
    knowledge_mode = raw.get("knowledge_mode") or "auto"
    if knowledge_mode not in KNOWLEDGE_MODES:
        raise _fail(f"{where}.knowledge_mode", f"must be one of {', '.join(KNOWLEDGE_MODES)}")
    tools_enabled = raw.get("tools_enabled", True)
    if not isinstance(tools_enabled, bool):
        raise _fail(f"{where}.tools_enabled", "must be true or false")
    columns = {
        "title": title,
        "adapter": adapter,
        "cot_mode": cot_mode,
        "knowledge_mode": knowledge_mode,
        "tools_enabled": tools_enabled,
        "generation": _generation(raw.get("generation"), f"{where}.generation"),
        "created_at": _time(raw.get("created_at"), f"{where}.created_at"),
        "updated_at": _time(raw.get("updated_at"), f"{where}.updated_at"),
    }
    messages = raw.get("messages", [])
    if not isinstance(messages, list):
        raise _fail(f"{where}.messages", "must be a list")
    if len(messages) > MAX_MESSAGES:
        raise _fail(f"{where}.messages", f"has {len(messages):,} messages; at most {MAX_MESSAGES:,} are accepted")
    rows = []
    for i, m in enumerate(messages):
        at = f"{where}.messages[{i}]"
        if not isinstance(m, dict):
            raise _fail(at, "must be an object")
        if m.get("role") not in ROLES:
            raise _fail(f"{at}.role", f"must be one of {', '.join(ROLES)}")
        alternative = m.get("alternative_of")
        if alternative is not None and (
            isinstance(alternative, bool) or not isinstance(alternative, int) or not 0 <= alternative < i
        ):
            raise _fail(f"{at}.alternative_of", "must be the position of an earlier message or null")
        active = m.get("active", True)
        if not isinstance(active, bool):
            raise _fail(f"{at}.active", "must be true or false")
        meta = m.get("meta") or {}
        if not isinstance(meta, dict):
            raise _fail(f"{at}.meta", "must be an object")
        meta = _portable_meta({k: _json_value(meta[k], f"{at}.meta.{k}") for k in EXPORTED_META if k in meta})
        if m["role"] == "assistant":
            meta["model_input"] = None  # not known to be this model's output (see assistant/feedback.py)
        rows.append(
            {
                "role": m["role"],
                "content": _text(m.get("content"), f"{at}.content"),
                "reasoning": _text(m.get("reasoning"), f"{at}.reasoning"),
                "active": active,
                "alternative_of": alternative,
                "created_at": _time(m.get("created_at"), f"{at}.created_at"),
                "meta": meta,
            }
        )
    return columns, rows


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_export(data: bytes | str | dict) -> dict:
    """The export document from raw bytes/text (size- and syntax-checked), or ImportError_."""
    if isinstance(data, dict):
        return data
    size = len(data.encode("utf-8", "replace") if isinstance(data, str) else data)
    if size > MAX_IMPORT_BYTES:
        raise ImportError_(f"the file is {size / 1e6:.1f} MB; at most {MAX_IMPORT_BYTES / 1e6:.0f} MB is imported")
    try:
        document = json.loads(data, parse_constant=_no_constant)
    except RecursionError as exc:
        raise ImportError_("the file is nested too deeply to be an export") from exc
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise ImportError_(f"the file is not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise ImportError_("the file is not a conversations export (expected a JSON object)")
    return document


def import_json(
    store: ConversationStore, owner: str, data: bytes | str | dict, known_adapters: set[str] | None = None
) -> list[str]:
    """Add the conversations of an export to `owner`'s; returns their new ids (in the file's order).

    `known_adapters`: when given, a conversation naming an adapter outside it falls back to the default adapter.
    """
    document = parse_export(data)
    if document.get("format") != FORMAT:
        raise ImportError_(f"the file is not a conversations export (its \"format\" is not {FORMAT!r})")
    if document.get("version") != VERSION:
        raise ImportError_(f"export version {document.get('version')!r} is not supported (this app reads {VERSION})")
    conversations = document.get("conversations")
    if not isinstance(conversations, list):
        raise ImportError_("\"conversations\" must be a list")
    if len(conversations) > MAX_CONVERSATIONS:
        raise ImportError_(
            f"the file holds {len(conversations):,} conversations; at most {MAX_CONVERSATIONS:,} are imported at once"
        )
    checked = [
        _check_conversation(raw, f"conversations[{i}]", known_adapters) for i, raw in enumerate(conversations)
    ]
    new_ids = []
    with store.db.session() as s:  # one transaction: all conversations or none
        for columns, rows in checked:
            conv = Conversation(owner=owner, **columns)
            s.add(conv)
            s.flush()
            written: list[Message] = []
            for row in rows:
                alternative = row.pop("alternative_of")
                message = Message(
                    conversation_id=conv.id,
                    alternative_of=written[alternative].id if alternative is not None else None,
                    **row,
                )
                s.add(message)
                s.flush()
                written.append(message)
            conv.updated_at = columns["updated_at"]  # the flushes above must not make it "now"
            new_ids.append(conv.id)
    return new_ids
