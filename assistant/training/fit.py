"""Fit a voted conversation into the trainer's token budget without cutting the reply or the question.

A reply grounded in four retrieved sources has a prompt of 390-830 tokens on the shipped knowledge base, more than
the 384 tokens the RLHF job and the reward model read. trl drops a DPO/KTO row whose prompt alone fills
`max_length`, and the reward model's right-truncation cut the reply off: a grounded vote taught nothing. Here each
source's text is cut to the same length (its `[n] (source, location)` line and its beginning stay, so the reply's
citations still point at something), then the oldest turns of the history go. The rules, the question and the reply
stay whole. The vote itself keeps the exact model input; only what the trainer reads is shortened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SOURCES_LABEL = "\n\nSources:\n"
_SOURCE_LINE = re.compile(r"^\[\d+\] \([^\n]*\)$", re.M)
_ELLIPSIS = " …"


@dataclass
class Fitted:
    messages: list[dict]
    tokens: int  # prompt + reply, in the chat template
    shortened: bool  # sources cut or turns dropped
    fits: bool


def _sources_end(system: str, start: int) -> int:
    """Where the sources block ends: chat.py may put tool notes after it."""
    from assistant.chat import EARLIER_TOOLS, TOOL_RULES

    ends = [i for i in (system.find("\n\n" + marker, start) for marker in (EARLIER_TOOLS, TOOL_RULES)) if i >= 0]
    return min(ends, default=len(system))


def source_bodies(system: str) -> tuple[int, int, list[tuple[str, str]]] | None:
    """(start, end, [(source line, text)]) of the numbered sources in a system message, or None."""
    label = system.find(SOURCES_LABEL)
    if label < 0:
        return None
    start = label + len(SOURCES_LABEL)
    end = _sources_end(system, start)
    block = system[start:end]
    lines = list(_SOURCE_LINE.finditer(block))
    if not lines or lines[0].start() != 0:
        return None
    bodies = []
    for line, following in zip(lines, [*lines[1:], None], strict=True):
        bodies.append((line.group(0), block[line.end():following.start() if following else len(block)].strip()))
    return start, end, bodies


def shorten_sources(system: str, keep_chars: int) -> str:
    """The system message with every source's text cut to `keep_chars` characters (its source line kept)."""
    found = source_bodies(system)
    if found is None:
        return system
    start, end, bodies = found
    blocks = [line + "\n" + (text if len(text) <= keep_chars else text[:keep_chars].rstrip() + _ELLIPSIS)
              for line, text in bodies]
    return system[:start] + "\n\n".join(blocks) + system[end:]


def fit_messages(tokenizer, messages: list[dict], reply: str, max_length: int) -> Fitted:  # noqa: ANN001
    """`messages` (system first, the question last) shortened until they and `reply` fit `max_length` tokens."""

    def count(msgs: list[dict]) -> int:
        text = tokenizer.apply_chat_template([*msgs, {"role": "assistant", "content": reply}], tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    tokens = count(messages)
    if tokens <= max_length:
        return Fitted(messages, tokens, False, True)
    msgs = [dict(m) for m in messages]
    found = source_bodies(msgs[0]["content"]) if msgs and msgs[0]["role"] == "system" else None
    if found is not None:
        original = msgs[0]["content"]
        low, high = 0, max(len(text) for _, text in found[2])  # the longest cut that fits, by bisection
        while low < high:
            middle = (low + high + 1) // 2
            msgs[0]["content"] = shorten_sources(original, middle)
            if count(msgs) <= max_length:
                low = middle
            else:
                high = middle - 1
        msgs[0]["content"] = shorten_sources(original, low)
        tokens = count(msgs)
    # then the oldest turns of the history, a user turn and its reply at a time; never the question
    first = 1 if msgs and msgs[0]["role"] == "system" else 0
    while tokens > max_length and len(msgs) - first > 1:
        del msgs[first:first + (2 if len(msgs) - first > 2 else 1)]
        tokens = count(msgs)
    return Fitted(msgs, tokens, True, tokens <= max_length)


def fit_rows(tokenizer, rows: list[dict], max_length: int) -> tuple[list[dict], dict]:  # noqa: ANN001
    """trl rows (DPO: chosen/rejected, KTO: completion) with their prompts fitted to the longest reply of the row.

    Returns the rows and counts: how many were shortened, and how many still do not fit (trl drops or cuts those)."""
    out, counts = [], {"rows": len(rows), "shortened": 0, "too_long": 0}
    for row in rows:
        replies = [row[key][-1]["content"] for key in ("chosen", "rejected", "completion") if row.get(key)]
        longest = max(replies, key=lambda reply: len(tokenizer(reply, add_special_tokens=False)["input_ids"]),
                      default="")
        fitted = fit_messages(tokenizer, row["prompt"], longest, max_length)
        counts["shortened"] += fitted.shortened
        counts["too_long"] += not fitted.fits
        out.append({**row, "prompt": fitted.messages})
    return out, counts
