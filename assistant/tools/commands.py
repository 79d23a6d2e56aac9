"""Arguments of the explicit slash commands (`/draw three red circles`, `/calc 17*23`, `/search lora`).

A slash command is the user naming the tool, so reading its argument from the text is parsing, not guessing for
the model; the model's own decisions go through `assistant/tools/decision.py`.
"""

from __future__ import annotations

import re

from assistant.tools.calculator import find_expression

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a couple of": 2,
    "a few": 3,
    "一": 1,
    "两": 2,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
    "一个": 1,
    "几": 3,
}


def _count(text: str, default: int) -> int:
    match = re.search(r"\b(\d{1,3})\b(?!\s*(?:epochs?|%|个?轮))", text)
    digits_only = re.search(r"\b(?:digit|number|数字)\s*(\d)\b", text, re.I)
    if match and not (digits_only and digits_only.group(1) == match.group(1)):
        value = int(match.group(1))
        # "draw a 7" names the digit, not how many
        if not re.search(rf"\b(an?|the|digit|number)\s+{value}\b|\b{value}s\b", text, re.I):
            return value
    for word, value in sorted(_NUMBER_WORDS.items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"\b{word}\b" if word.isascii() else f"{word}(个|张|幅|只)", text, re.I):
            return value
    return default


def count_in(text: str) -> int | None:
    """An explicit number of things asked for ("three red circles", "画五个"), else None."""
    value = _count(text, -1)
    return value if value > 0 else None


# "/draw 4 red circles with diffusion-shapes", "… using the gan", "用diffusion画": the user names the image model
_MODEL_NAMED = re.compile(
    r"\s*(?:\b(?:with|using|by|from)\s+(?:the\s+)?|用)((?:vae|gan|diffusion)(?:-(?:digits|shapes))?)(?![a-z0-9-])(?:\s+model\b)?",
    re.I)


def draw_arguments(text: str) -> dict:
    """`/draw`'s arguments: the prompt, the count, and the image model when the text names one."""
    arguments: dict = {}
    named = _MODEL_NAMED.search(text)
    if named:
        arguments["model"] = named.group(1).lower()
        text = (text[: named.start()] + " " + text[named.end():]).strip()
    return {"prompt": text, "n": max(1, min(_count(text, 4), 64)), **arguments}


def command_arguments(tool: str, text: str) -> dict:
    """The arguments of `/draw`, `/calc` or `/search` from the text after the command."""
    text = text.strip()
    if tool == "generate_images":
        return draw_arguments(text)
    if tool == "calculator":
        return {"expression": find_expression(text) or text}
    if tool == "search_knowledge":
        return {"query": text}
    raise ValueError(f"no slash command runs {tool!r}")
