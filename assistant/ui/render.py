"""Turn stored messages and streaming turn results into Gradio chatbot messages.

Each assistant reply becomes several chatbot messages (folded Thinking, folded tool calls, images, answer,
folded sources); `ids` maps every chatbot message index back to the stored message so 👍/👎 reach the
right reply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from assistant.chat import TurnResult
from assistant.security import load_generated_image


@dataclass
class Rendered:
    messages: list = field(default_factory=list)
    ids: list[int | None] = field(default_factory=list)  # stored message id per chatbot message
    feedback: list[str | None] = field(default_factory=list)

    def add(self, message: dict | gr.ChatMessage, message_id: int | None, vote: str | None = None) -> None:
        self.messages.append(message)
        self.ids.append(message_id)
        self.feedback.append(vote)


# Spans the chatbot must not touch: code, and maths already inside one of the chat's LaTeX delimiters.
_PROTECTED = re.compile(
    r"```.*?(?:```|$)|`[^`\n]*`|\$\$.*?\$\$|\\\[.*?\\\]|\\\(.*?\\\)|(?<![\\$])\$[^$\n]+?\$",
    re.DOTALL,
)
_BARE_MATH = re.compile(r"\\(?:boxed|frac|dfrac|sqrt)\s*\{")


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the LaTeX command starting at `start` and its brace groups (`\\frac{a}{b}`)."""
    i = text.index("{", start)
    while i < len(text) and text[i] == "{":
        depth = 0
        for j in range(i, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                i = j + 1
                break
        else:
            return None  # unclosed (still streaming): leave it raw until it closes
    return i


def math_ready(text: str) -> str:
    """Put maths the model wrote without delimiters (`\\boxed{24}`, `\\frac{7}{3}`) inside `$…$` so KaTeX
    renders it instead of showing raw LaTeX; code and maths already delimited are left alone."""
    if "\\" not in text:
        return text
    out, last = [], 0
    for match in _PROTECTED.finditer(text):
        out.append(_wrap_bare(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_wrap_bare(text[last:]))
    return "".join(out)


def _wrap_bare(chunk: str) -> str:
    out, i = [], 0
    for match in _BARE_MATH.finditer(chunk):
        if match.start() < i:
            continue  # inside the previous command's braces
        end = _balanced_end(chunk, match.start())
        if end is None:
            break
        out.append(chunk[i : match.start()] + "$" + chunk[match.start() : end] + "$")
        i = end
    out.append(chunk[i:])
    return "".join(out)


def sources_markdown(sources: list[dict]) -> str:
    if not sources:
        return ""
    lines = []
    for i, s in enumerate(sources, 1):
        quote = " ".join(str(s.get("text", "")).split())[:300]
        lines.append(
            f"**[{i}] {s.get('source', '?')}** — {s.get('location', '')} (score {s.get('score', 0):.3f})\n> {quote}"
        )
    return "\n\n".join(lines)


def tool_markdown(call: dict) -> str:
    args = json.dumps(call.get("arguments", {}), ensure_ascii=False)
    body = f"**arguments** `{args}`"
    if call.get("how"):
        body += f"\n\n*chosen by {call['how']}*"
    if "error" in call:
        body += f"\n\n**error** {call['error']}"
    else:
        body += f"\n\n**result**\n\n{str(call.get('result_text', ''))[:1500]}"
    return body


def assistant_messages(
    out: Rendered,
    message_id: int | None,
    answer: str,
    reasoning: str,
    meta: dict,
    vote: str | None = None,
    pending: bool = False,
    status: str = "",
    images_root: Path | None = None,
) -> None:
    """Append the chatbot messages of one assistant reply.

    Images are shown only when they lie under `images_root` (the generated-images folder), and are handed to
    Gradio as pixels: it caches a copy under a content-hash name, so no path of ours is ever served.
    """
    if reasoning:
        title = "💭 Thinking" + (" (self-consistency)" if meta.get("cot_mode") == "self-consistency" else "")
        out.add(
            gr.ChatMessage(
                role="assistant",
                content=math_ready(reasoning),
                metadata={"title": title, "status": "pending" if pending and not answer else "done"},
            ),
            message_id,
        )
    for call in meta.get("tool_calls", []):
        title = f"🛠 {call.get('name', '?')}" + (" — error" if "error" in call else "")
        out.add(
            gr.ChatMessage(
                role="assistant",
                content=tool_markdown(call),
                metadata={"title": title, "status": "done", "duration": call.get("seconds", 0.0)},
            ),
            message_id,
        )
    for path in meta.get("images", [])[:16] if images_root is not None else []:
        image = load_generated_image(path, images_root)
        if image is not None:
            out.add(
                gr.ChatMessage(
                    # 128 px: the tools upscale 16/32 px images (nearest-neighbour) to at least this
                    role="assistant", content=gr.Image(image, show_label=False, height=128, format="png")
                ),
                message_id,
            )
    text = math_ready(answer) or (f"*{status}*" if pending and status else "")
    notices = [n for n in meta.get("notices", []) if n]
    if notices and not pending:
        text += "\n\n" + "\n".join(f"> ℹ️ {n}" for n in notices)
    if text or not pending:
        out.add(gr.ChatMessage(role="assistant", content=text or "(empty reply)"), message_id, vote)
    if meta.get("sources") and not pending:
        out.add(
            gr.ChatMessage(
                role="assistant",
                content=sources_markdown(meta["sources"]),
                metadata={"title": f"📚 Sources ({len(meta['sources'])})", "status": "done"},
            ),
            message_id,
        )


def render_conversation(
    messages: list[dict], votes: dict[int, int] | None = None, images_root: Path | None = None
) -> Rendered:
    votes = votes or {}
    out = Rendered()
    for m in messages:
        if m["role"] == "user":
            out.add({"role": "user", "content": m["content"]}, m["id"])
        elif m["role"] == "assistant":
            vote = {1: "Like", -1: "Dislike"}.get(votes.get(m["id"]))
            assistant_messages(out, m["id"], m["content"], m["reasoning"], m["meta"], vote, images_root=images_root)
    return out


def render_partial(
    base: Rendered, user_text: str, result: TurnResult, status: str, done: bool, images_root: Path | None = None
) -> Rendered:
    """The conversation so far plus the streaming turn."""
    out = Rendered(list(base.messages), list(base.ids), list(base.feedback))
    out.add({"role": "user", "content": user_text}, result.user_message_id)
    meta = {
        "cot_mode": result.cot_mode,
        "tool_calls": result.tool_calls,
        "images": result.images,
        "sources": result.sources,
        "notices": result.notices,
    }
    assistant_messages(
        out, result.message_id, result.answer, result.reasoning, meta, pending=not done, status=status,
        images_root=images_root,
    )
    return out
