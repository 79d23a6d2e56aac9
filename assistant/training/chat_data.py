"""Reading chat-format training files (JSONL of {"messages": [...]}) with per-line problems reported."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

ROLES = {"system", "user", "assistant"}


class TrainingDataError(ValueError):
    """The training file cannot be used; the message lists the bad lines."""


@dataclass
class ChatData:
    examples: list[list[dict]]
    skipped: list[str] = field(default_factory=list)  # "line 7: …" for each line left out

    def describe(self) -> str:
        return f"{len(self.examples)} examples" + (f", {len(self.skipped)} bad lines skipped" if self.skipped else "")


def _check(obj: object) -> list[dict]:
    if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list) or not obj["messages"]:
        raise ValueError('expected {"messages": [{"role": …, "content": …}, …]}')
    messages = obj["messages"]
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError("each message needs a role (system, user or assistant) and a string content")
    if messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
        raise ValueError("the last message must be a non-empty assistant reply (that is what is learned)")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def read_chat_jsonl(path: str | Path, max_bad_share: float = 0.1) -> ChatData:
    """Read the file; skip bad lines (listed with line numbers), refuse it when more than 10% are bad."""
    path = Path(path)
    if not path.is_file():
        raise TrainingDataError(f"training file {str(path)!r} not found")
    examples, skipped = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            examples.append(_check(json.loads(line)))
        except (json.JSONDecodeError, ValueError) as exc:
            skipped.append(f"line {number}: {exc}")
    total = len(examples) + len(skipped)
    if not examples:
        detail = f" ({'; '.join(skipped[:5])})" if skipped else ""
        raise TrainingDataError(f"{path.name}: no usable examples{detail}")
    if len(skipped) > max_bad_share * total:
        raise TrainingDataError(f"{path.name}: {len(skipped)} of {total} lines are bad, refusing to train: "
                                + "; ".join(skipped[:8]) + (" …" if len(skipped) > 8 else ""))
    return ChatData(examples, skipped)
