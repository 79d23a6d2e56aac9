"""ToolService: slash commands, and the model-driven tool step of a chat turn (route -> ask -> parse -> run)."""

from __future__ import annotations

import concurrent.futures
import contextvars
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from assistant.llm.engine import GenerationParams
from assistant.tools.builtins import CURRENT_TURN, TurnContext, make_builtin_tools
from assistant.tools.calculator import uses_only_known_names
from assistant.tools.parsing import ToolParseError, parse_tool_calls, validate_call
from assistant.tools.registry import ToolRegistry
from assistant.tools.router import count_in, guess_arguments, route

log = logging.getLogger(__name__)

HELP = """**Commands**
- `/draw <what>` — draw with the image models, e.g. `/draw three red circles`, `/draw 7`, `/draw 画一个数字3`
- `/search <query>` — search the knowledge base
- `/train <vae|gan|ssl> [digits|shapes] [epochs]` — train an image model in the background
- `/calc <expression>` — exact arithmetic
- `/tools` — list the tools the assistant can call
- `/help` — this help"""

TOOL_PROMPT = (
    "You can call a tool. Tools:\n{tools}\n\nIf one of these tools is needed to answer, reply with ONLY a JSON object "
    'like {{"name": "<tool name>", "arguments": {{...}}}} and nothing else. If no tool is needed, answer normally.'
)


@dataclass
class CommandResult:
    text: str
    calls: list[dict] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


class ToolService:
    def __init__(self, services) -> None:  # noqa: ANN001
        self.services = services
        self.settings = services.settings
        self.registry = ToolRegistry(make_builtin_tools(services))
        self.registry.load_folder(self.settings.plugins_dir)
        self.registry.load_entry_points()
        for problem in self.registry.problems:
            log.warning("tool plugin problem: %s: %s", problem.source, problem.error)
        # Tools run on worker threads so a hanging one can be abandoned after the timeout.
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="tool")

    # --- running a tool ---------------------------------------------------------------------------
    def call(
        self,
        name: str,
        arguments: dict,
        owner: str = "local",
        conversation_id: str | None = None,
        validate: bool = True,
    ) -> dict:
        """Run one tool with a timeout; never raises: errors come back in the record."""
        started = time.perf_counter()
        record = {"name": name, "arguments": arguments}
        try:
            if validate:
                parsed = validate_call(name, arguments, self.registry.tools)
                name, arguments = parsed.name, parsed.arguments
                record.update(name=name, arguments=arguments)
            tool = self.registry.tools[name]
            context = contextvars.copy_context()
            context.run(CURRENT_TURN.set, TurnContext(owner, conversation_id))
            future = self._pool.submit(context.run, tool.invoke, arguments)
            output = future.result(timeout=self.settings.tool_timeout_s)
            if not isinstance(output, dict):
                output = {"text": str(output)}
            record["result"] = {k: v for k, v in output.items() if k not in ("images",)}
            record["result_text"] = str(output.get("text", ""))[:4000]
            record["images"] = list(output.get("images", []))
            record["final"] = bool(output.get("final"))
            record["summary"] = output.get("text", "") if output.get("final") else ""
        except concurrent.futures.TimeoutError:
            record["error"] = f"{name} did not finish within {self.settings.tool_timeout_s:.0f} s and was abandoned"
        except ToolParseError as exc:
            record["error"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a tool error becomes a message, never a crash
            record["error"] = f"{name} failed: {type(exc).__name__}: {exc}"
        record["seconds"] = round(time.perf_counter() - started, 3)
        return record

    # --- slash commands ---------------------------------------------------------------------------
    def run_command(
        self, message: str, owner: str = "local", conversation_id: str | None = None
    ) -> CommandResult | None:
        text = message.strip()
        if not text.startswith("/"):
            return None
        head, _, rest = text.partition(" ")
        command, rest = head[1:].lower(), rest.strip()
        if command in ("help", "?"):
            return CommandResult(HELP)
        if command == "tools":
            lines = [f"- `{t['name']}` ({t['origin']}): {t['description']}" for t in self.registry.describe()]
            problems = [f"- ⚠️ {p.source}: {p.error}" for p in self.registry.problems]
            return CommandResult(
                "**Tools**\n"
                + "\n".join(lines)
                + ("\n\n**Plugins that failed to load**\n" + "\n".join(problems) if problems else "")
            )
        mapping = {
            "draw": "generate_images",
            "search": "search_knowledge",
            "train": "train_image_model",
            "calc": "calculator",
        }
        if command not in mapping:
            return CommandResult(f"Unknown command `/{command}`.\n\n{HELP}")
        if not rest:
            return CommandResult(f"`/{command}` needs an argument.\n\n{HELP}")
        tool = mapping[command]
        arguments = guess_arguments(tool, rest, self.services.adapters.names())
        if tool == "train_image_model":
            words = rest.lower().split()
            arguments["model"] = words[0] if words and words[0] in ("vae", "gan", "ssl") else arguments["model"]
        record = self.call(tool, arguments, owner, conversation_id)
        return CommandResult(_record_text(record), [record], record.get("images", []))

    # --- the model's tool step ----------------------------------------------------------------------
    def agent_step(
        self,
        message: str,
        history: list[dict],
        engine,
        adapter: str | None,  # noqa: ANN001
        result,
        owner: str = "local",
        conversation_id: str | None = None,
        use_router: bool = True,
    ) -> Iterator[str]:
        """Decide on tool calls for this message and run them, appending records to `result.tool_calls`.

        Yields status lines for the UI. Bounded by `settings.max_tool_calls`.
        """
        for record in self.decide(message, engine, adapter, use_router=use_router):
            if "error" in record and "arguments" not in record:
                result.tool_calls.append(record)
                continue
            yield f"calling {record['name']}…"
            done = self.call(record["name"], record["arguments"], owner, conversation_id, validate=False)
            done["how"] = record.get("how", "")
            result.tool_calls.append(done)
            result.images.extend(done.get("images", []))

    def decide(self, message: str, engine, adapter: str | None, use_router: bool = True) -> list[dict]:  # noqa: ANN001
        """Which tool calls to make: [{name, arguments, how}] or [{error}] (no calls = answer directly).

        With the router: only routed candidates are offered, and the router's own arguments are used when the
        model's call is missing or does not fit the schema. Without it: every tool is offered to the model.
        """
        tools = self.registry.tools
        if use_router:
            routes = route(message, set(tools))
            if not routes:
                return []
            offered = [t for t in self.registry.describe() if t["name"] in {r.tool for r in routes[:3]}]
        else:
            routes, offered = [], self.registry.describe()
        listing = "\n".join(
            json.dumps(
                {"name": t["name"], "description": t["description"], "parameters": t["parameters"]["properties"]},
                ensure_ascii=False,
            )
            for t in offered
        )
        messages = [
            {"role": "system", "content": TOOL_PROMPT.format(tools=listing)},
            {"role": "user", "content": message},
        ]
        prompt, _ = engine.build_prompt(messages, 128)
        text, _ = engine.generate(prompt, GenerationParams(temperature=0.0, max_new_tokens=128), adapter)
        offered_tools = {t["name"]: tools[t["name"]] for t in offered}
        try:
            calls = parse_tool_calls(text, offered_tools if use_router else tools, self.settings.max_tool_calls)
            parse_error = None
        except ToolParseError as exc:
            calls, parse_error = [], str(exc)
        if calls:
            decided = []
            for c in calls:
                how = "model" + (" (repaired: " + ", ".join(c.repaired) + ")" if c.repaired else "")
                arguments, replaced = ground_arguments(c.name, c.arguments, message, self.services.adapters.names())
                if replaced:
                    how += f"; {', '.join(replaced)} taken from the message"
                decided.append({"name": c.name, "arguments": arguments, "how": how})
            return decided
        if routes:
            top = routes[0].tool
            guessed = guess_arguments(top, message, self.services.adapters.names())
            try:
                parsed = validate_call(top, guessed, tools)
                return [
                    {
                        "name": parsed.name,
                        "arguments": parsed.arguments,
                        "how": "router" + (f" (model output unusable: {parse_error})" if parse_error else ""),
                    }
                ]
            except ToolParseError as exc:
                return [{"name": top, "error": f"could not build arguments for {top}: {exc}"}]
        if parse_error:
            return [{"name": "?", "error": parse_error}]
        return []


def _grounded(value: str, message: str) -> bool:
    """Does a string argument come from the user's message (and not from the tool's description)?

    Latin words must mostly be words of the message; CJK text is compared character by character.
    """
    cjk = [ch for ch in value if "\u4e00" <= ch <= "\u9fff"]
    if cjk:
        return sum(ch in message for ch in cjk) / len(cjk) >= 0.75
    words = re.findall(r"\w+", value.lower())
    if not words:
        return False
    message_words = set(re.findall(r"\w+", message.lower()))
    return sum(w in message_words for w in words) / len(words) >= 0.75


def ground_arguments(tool: str, arguments: dict, message: str, adapters: list[str]) -> tuple[dict, list[str]]:
    """Replace free-text arguments the model invented (small models copy the schema's examples) by the ones
    read from the message."""
    guessed = guess_arguments(tool, message, adapters)
    fixed, replaced = dict(arguments), []
    for key, value in arguments.items():
        if isinstance(value, str) and key in guessed and not _grounded(value, message) and value != guessed[key]:
            fixed[key] = guessed[key]
            replaced.append(key)
    if tool == "calculator" and guessed.get("expression"):
        full, given = guessed["expression"], str(fixed.get("expression", ""))
        squashed_full, squashed_given = re.sub(r"\s+", "", full), re.sub(r"\s+", "", given)
        # a small model shortens "(12 + 8) * 3 - 5" to "12 + 8", or passes the whole sentence along
        fragment = squashed_given != squashed_full and squashed_given in squashed_full
        if fragment or not uses_only_known_names(given):
            fixed["expression"] = full
            replaced.append("expression")
    if tool == "generate_images":
        explicit = count_in(message)
        if explicit and fixed.get("n") != explicit:
            fixed["n"] = explicit
            replaced.append("n")
    return fixed, replaced


def _record_text(record: dict) -> str:
    if "error" in record:
        return f"⚠️ {record['error']}"
    return record.get("result_text") or "(no output)"
