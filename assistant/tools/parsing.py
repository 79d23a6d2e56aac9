"""Parse tool calls out of model text: native `<tool_call>` blocks, fenced or bare JSON; repair small errors.

Strict where it matters: the tool name must map to a registered tool and the arguments must fit its schema.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError


class ToolParseError(ValueError):
    """The text held a tool call that cannot be used (unknown tool, bad arguments, broken JSON)."""


@dataclass
class ParsedCall:
    name: str
    arguments: dict[str, Any]
    repaired: list[str] = field(default_factory=list)  # what was fixed, e.g. "single quotes"


_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_FENCE = re.compile(r"```(?:json|tool_call|tool)?\s*(.*?)```", re.S)


def _balanced_objects(text: str) -> list[str]:
    """Every top-level {...} span, honouring strings."""
    spans, depth, start, in_string, escape = [], 0, None, None, False
    for i, ch in enumerate(text):
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == in_string:
                in_string = None
            continue
        if ch in "\"'":
            in_string = ch
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    if depth and start is not None:  # an unclosed object at the end: try closing it
        spans.append(text[start:] + "}" * depth)
    return spans


def _loads_repaired(candidate: str) -> tuple[Any, list[str]]:
    try:
        return json.loads(candidate), []
    except json.JSONDecodeError:
        pass
    fixes = []
    text = candidate
    if "'" in text and '"' not in text:
        text, fixes = text.replace("'", '"'), [*fixes, "single quotes"]
    new = re.sub(r",\s*([}\]])", r"\1", text)
    if new != text:
        text, fixes = new, [*fixes, "trailing comma"]
    new = re.sub(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:", r'\1"\2":', text)
    if new != text:
        text, fixes = new, [*fixes, "unquoted keys"]
    new = re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", re.sub(r"\bNone\b", "null", text)))
    if new != text:
        text, fixes = new, [*fixes, "Python literals"]
    while text.count("{") > text.count("}"):
        text, fixes = text + "}", [*fixes, "missing brace"]
    try:
        return json.loads(text), fixes
    except json.JSONDecodeError as exc:
        raise ToolParseError(f"could not read the tool call as JSON ({exc.msg}): {candidate[:120]}") from exc


def _normalize(obj: Any, known: set[str]) -> tuple[str, dict] | None:
    """Accept the shapes small models produce: {name, arguments}, {tool, args}, {function: {…}}, {tool: {…}}."""
    if not isinstance(obj, dict):
        return None
    if "function" in obj and isinstance(obj["function"], dict):
        obj = obj["function"]
    name = obj.get("name") or obj.get("tool") or obj.get("tool_name") or obj.get("action")
    args = obj.get("arguments", obj.get("args", obj.get("parameters", obj.get("input", obj.get("action_input")))))
    if name is None and len(obj) == 1:
        ((key, value),) = obj.items()
        if _match_name(key, known) and isinstance(value, dict):
            name, args = key, value
    if not isinstance(name, str):
        return None
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            args = {"input": args}
    if args is None:
        args = {}
    elif not isinstance(args, dict):
        args = {"input": args}
    return name, dict(args)


def _match_name(name: str, known: set[str]) -> str | None:
    if name in known:
        return name
    canon = {k.lower().replace("-", "_").replace(" ", "_"): k for k in known}
    key = name.lower().replace("-", "_").replace(" ", "_")
    if key in canon:
        return canon[key]
    close = difflib.get_close_matches(key, list(canon), n=1, cutoff=0.8)
    return canon[close[0]] if close else None


def find_calls(text: str, known: set[str]) -> list[tuple[str, dict, list[str]]]:
    """All tool-call-looking objects in the text as (raw name, args, repairs); raises on hopeless JSON only
    when nothing else usable was found."""
    candidates = _TOOL_CALL.findall(text) + _FENCE.findall(text)
    candidates += [c for c in _balanced_objects(text) if c not in candidates]
    calls, errors = [], []
    for candidate in candidates:
        for obj_text in _balanced_objects(candidate) or [candidate]:
            try:
                obj, fixes = _loads_repaired(obj_text)
            except ToolParseError as exc:
                errors.append(exc)
                continue
            normalized = _normalize(obj, known)
            if normalized and (normalized[0], normalized[1]) not in [(c[0], c[1]) for c in calls]:
                calls.append((*normalized, fixes))
    if not calls and errors:
        raise errors[0]
    return calls


def validate_call(name: str, args: dict, tools: dict) -> ParsedCall:
    """Map the name onto a registered tool and check the arguments against its schema."""
    resolved = _match_name(name, set(tools))
    if resolved is None:
        raise ToolParseError(f"unknown tool {name!r}; available tools: {', '.join(sorted(tools))}")
    tool = tools[resolved]
    schema = getattr(tool, "args_schema", None)
    repaired = [] if resolved == name else [f"tool name {name!r} -> {resolved!r}"]
    if schema is not None and hasattr(schema, "model_validate"):
        try:
            validated = schema.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            raise ToolParseError(f"arguments for {resolved} do not fit its schema: {problems}") from exc
        args = validated.model_dump(exclude_none=True)
    return ParsedCall(resolved, args, repaired)


def parse_tool_calls(text: str, tools: dict, limit: int = 3) -> list[ParsedCall]:
    """Parse and validate at most `limit` calls; raises ToolParseError when a call is present but unusable."""
    calls = find_calls(text, set(tools))
    parsed = []
    for name, args, fixes in calls[:limit]:
        call = validate_call(name, args, tools)
        call.repaired = fixes + call.repaired
        parsed.append(call)
    return parsed
