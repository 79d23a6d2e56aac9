"""The model's tool decision: the prompt it sees, the JSON schema of every answer it may give, and reading it back.

The model decides; code checks. The decision is decoded under a JSON-schema grammar whose only solutions are
`{"tool": "none"}` or a call of a registered tool with arguments of that tool's schema, so the output is always
usable. The same prompt builder renders the training data of the shipped `tools` adapter (see
`assistant/training/tool_data.py`), so what the adapter learned is what it is asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from assistant.llm.base import BiasAfter

NO_TOOL = "none"
HISTORY_TURNS = 6  # earlier messages the decision sees (a follow-up like "draw another one" needs them)
HISTORY_CHARS = 600  # per earlier message: enough to know what was asked and answered

DECISION_SYSTEM = (
    "Decide if the user's latest message needs a tool. Tools:\n{tools}\n"
    'Reply with JSON only: {{"tool": "<name>", "arguments": {{...}}}} or {{"tool": "none"}}. Use a tool only when '
    "the user wants what it does; questions, writing, coding and translation need none. Earlier messages resolve "
    "follow-ups."
)
# With the `tools` adapter, which has learned what each built-in tool is for, the prompt names the tools and their
# arguments only: a quarter of the tokens, so decisions are faster and the adapter trains in minutes on a CPU.
DECISION_SYSTEM_COMPACT = 'Tools: {tools}. Reply with JSON: a tool call or {{"tool": "none"}}.'
RESULT_NOTE = (
    "[result of {name}] {text}\n"
    'If another tool is still needed for my request, call it; otherwise reply {{"tool": "none"}}.'
)


@dataclass
class Decision:
    tool: str  # NO_TOOL or a registered tool name
    arguments: dict = field(default_factory=dict)
    raw: str = ""
    error: str = ""  # set when the output could not be read (then tool is NO_TOOL)

    @property
    def calls_tool(self) -> bool:
        return self.tool != NO_TOOL


def none_prior(bias: float) -> BiasAfter | None:
    """The decision's prior towards no tool: `bias` added to "none" where the tool's name is decoded."""
    return BiasAfter(after='{"tool":', word=NO_TOOL, bias=bias) if bias else None


def tool_listing(tools: list[dict]) -> str:
    """One compact line per tool: `name(required, optional?): description` (the schema goes to the grammar)."""
    lines = []
    for tool in tools:
        params = tool["parameters"]
        required = set(params.get("required", []))
        args = [k if k in required else f"{k}?" for k in params.get("properties", {})]
        enums = [
            f"{k}: {'|'.join(str(v) for v in spec['enum'])}"
            for k, spec in params.get("properties", {}).items()
            if "enum" in spec
        ]
        note = f" [{'; '.join(enums)}]" if enums else ""
        lines.append(f"- {tool['name']}({', '.join(args)}): {tool['description']}{note}")
    return "\n".join(lines)


def tool_signatures(tools: list[dict]) -> str:
    """`calculator(expression); generate_images(prompt, n?, …)`: names and arguments, for the compact prompt."""
    parts = []
    for tool in tools:
        params = tool["parameters"]
        required = set(params.get("required", []))
        args = [k if k in required else f"{k}?" for k in params.get("properties", {})]
        parts.append(f"{tool['name']}({', '.join(args)})")
    return "; ".join(parts)


def decision_messages(
    tools: list[dict],
    history: list[dict],
    message: str,
    steps: list[tuple[dict, str]] | None = None,
    compact: bool = False,
) -> list[dict]:
    """The chat the decision is made from: system prompt with the tools, recent history, the message, and the
    calls already made this turn with their results. `compact` is the prompt the `tools` adapter is trained on."""
    recent = [
        {"role": m["role"], "content": m["content"][:HISTORY_CHARS]}
        for m in history[-HISTORY_TURNS:]
        if m.get("role") in ("user", "assistant") and m.get("content")
    ]
    if compact:
        system = DECISION_SYSTEM_COMPACT.format(tools=tool_signatures(tools))
    else:
        system = DECISION_SYSTEM.format(tools=tool_listing(tools))
    messages = [{"role": "system", "content": system}, *recent]
    messages.append({"role": "user", "content": message})
    for call, result_text in steps or []:
        messages.append({"role": "assistant", "content": format_call(call["name"], call["arguments"])})
        messages.append({"role": "user", "content": RESULT_NOTE.format(name=call["name"], text=result_text[:800])})
    return messages


def format_call(name: str, arguments: dict | None = None) -> str:
    """The exact text of a decision, as the adapter is trained to write it."""
    if name == NO_TOOL:
        return json.dumps({"tool": NO_TOOL})
    return json.dumps({"tool": name, "arguments": arguments or {}}, ensure_ascii=False)


def _argument_schema(spec: dict) -> dict:
    keep = {k: v for k, v in spec.items() if k in ("type", "enum")}
    return keep or {}


def decision_schema(tools: list[dict]) -> dict:
    """JSON schema whose instances are exactly the allowed decisions."""
    options: list[dict] = [
        {
            "type": "object",
            "properties": {"tool": {"const": NO_TOOL}},
            "required": ["tool"],
            "additionalProperties": False,
        }
    ]
    for tool in tools:
        params = tool["parameters"]
        options.append(
            {
                "type": "object",
                "properties": {
                    "tool": {"const": tool["name"]},
                    "arguments": {
                        "type": "object",
                        "properties": {k: _argument_schema(v) for k, v in params.get("properties", {}).items()},
                        "required": list(params.get("required", [])),
                        "additionalProperties": False,
                    },
                },
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        )
    return {"anyOf": options}


def read_decision(text: str, known: set[str]) -> Decision:
    """Parse the model's output; anything unusable is 'no tool' with the reason kept (the documented fallback)."""
    raw = text.strip()
    if raw.startswith("```"):
        raw = raw.strip("`").removeprefix("json").strip()
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return Decision(NO_TOOL, raw=text, error=f"decision is not JSON ({exc.msg})")
    if not isinstance(obj, dict) or not isinstance(obj.get("tool"), str):
        return Decision(NO_TOOL, raw=text, error='decision lacks a "tool" name')
    name = obj["tool"]
    if name == NO_TOOL:
        return Decision(NO_TOOL, raw=text)
    if name not in known:
        return Decision(NO_TOOL, raw=text, error=f"unknown tool {name!r}")
    arguments = obj.get("arguments") or {}
    if not isinstance(arguments, dict):
        return Decision(NO_TOOL, raw=text, error="arguments are not an object")
    return Decision(name, arguments, raw=text)
