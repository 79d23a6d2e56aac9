"""ToolService: slash commands, and the model-driven tool step of a chat turn (decide -> check -> consent -> run)."""

from __future__ import annotations

import concurrent.futures
import contextvars
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from assistant.llm.engine import GenerationParams
from assistant.tools.builtins import CURRENT_TURN, TurnContext, make_builtin_tools
from assistant.tools.commands import command_arguments
from assistant.tools.decision import Decision, decision_messages, decision_schema, none_prior, read_decision
from assistant.tools.parsing import ToolParseError, validate_call
from assistant.tools.registry import ToolRegistry

log = logging.getLogger(__name__)

HELP = """**Commands**
- `/draw <what>` — draw with the image models, e.g. `/draw three red circles`, `/draw 7`, `/draw 画一个数字3`
- `/search <query>` — search the knowledge base
- `/train <vae|gan|ssl> [digits|shapes] [epochs]` — train an image model in the background
- `/calc <expression>` — exact arithmetic
- `/tools` — list the tools the assistant can call
- `/help` — this help"""

DECISION_TOKENS = 160  # the longest decision JSON (a drawing prompt, a long expression) fits easily


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
        if tool == "train_image_model":
            try:
                arguments = parse_train_command(rest)
            except ValueError as exc:
                return CommandResult(f"⚠️ {exc}\n\nUsage: `/train <vae|gan|ssl> [digits|shapes] [epochs]`")
        else:
            arguments = command_arguments(tool, rest)
        # A slash command is the user's explicit request: it runs without a second confirmation.
        record = self.call(tool, arguments, owner, conversation_id)
        return CommandResult(_record_text(record), [record], record.get("images", []))

    # --- the model's tool step ----------------------------------------------------------------------
    def is_side_effect(self, name: str) -> bool:
        tool = self.registry.tools.get(name)
        return bool(tool is not None and (tool.metadata or {}).get("side_effect"))

    def live_choices(self, owner: str | None = None) -> dict[str, dict[str, list[str]]]:
        """Arguments whose valid values are known now (installed adapters, the image models `owner` may use): the
        grammar then admits only those, so the model cannot name an adapter or image model that does not exist."""
        adapters = [*self.services.adapters.answer_names(), "base"]
        choices: dict[str, dict[str, list[str]]] = {"switch_adapter": {"name": adapters}}
        try:
            from assistant.imaging.engine import list_checkpoints

            visible = list_checkpoints(self.settings, owner)
        except Exception:  # noqa: BLE001 - images are optional; the tool validates its model anyway
            visible = []
        generative = [c["name"] for c in visible if c.get("kind") != "ssl"]
        masked = [c["name"] for c in visible if c.get("kind") == "ssl"]
        if masked:  # the inpainting tool's model: one the owner may use, as for drawing
            choices["inpaint_image"] = {"model": masked}
        if generative:
            # a family ("vae") is what users say, what the training data writes and what the tool resolves
            # (`resolve_model_name`: vae-<the prompt's dataset>); without it a call naming one had to become a
            # checkpoint name or "auto"
            families = sorted({name.split("-")[0] for name in generative if "-" in name})
            choices["generate_images"] = {"model": ["auto", *families, *generative]}
        return choices

    def decision_adapter(self, client: bool = False) -> str | None:
        """The adapter the decision step alone runs under: `tools` for the app's own tools (a compact prompt);
        for a /v1 client's tools (their full schemas in the prompt) `tools-client` when present, else `tools`.

        Two adapters because one served both prompts badly: each top-up that taught `tools` our key arguments
        cost the client's tools 4-6 points (docs/bench_tools.md, sixteenth session)."""
        names = [self.settings.client_tools_adapter, self.settings.tools_adapter] if client else [
            self.settings.tools_adapter]
        for name in filter(None, names):
            try:
                self.services.adapters.check_compatible(name)
            except ValueError:
                continue
            return name
        return None

    def decide(
        self, message: str, history: list[dict], engine, steps: list[tuple[dict, str]] | None = None,  # noqa: ANN001
        owner: str | None = None,
    ) -> Decision:
        """Ask the model (greedy, grammar-constrained) whether and how to call a tool for this message."""
        tools = self.registry.describe()
        adapter = self.decision_adapter()
        messages = decision_messages(tools, history, message, steps, compact=adapter is not None)
        prompt, _ = engine.build_prompt(messages, DECISION_TOKENS)
        schema = decision_schema(with_choices(tools, self.live_choices(owner))) if self.settings.tool_grammar else None
        params = GenerationParams(temperature=0.0, max_new_tokens=DECISION_TOKENS, repetition_penalty=1.0)
        text, _ = engine.generate(prompt, params, adapter, json_schema=schema,
                                  bias=none_prior(self.settings.tool_none_bias))
        return read_decision(text, set(self.registry.tools))

    def agent_step(
        self,
        message: str,
        history: list[dict],
        engine,  # noqa: ANN001
        result,  # noqa: ANN001 - TurnResult
        owner: str = "local",
        conversation_id: str | None = None,
    ) -> Iterator[str]:
        """Let the model call up to `max_tool_calls` tools, each result fed back before the next decision.

        Read-only tools run at once; a tool with side effects is not run but proposed (`result.pending_call`)
        for the user to confirm. Records go to `result.tool_calls`; yields status lines for the UI.
        """
        steps: list[tuple[dict, str]] = []
        for _ in range(self.settings.max_tool_calls):
            started = time.perf_counter()
            decision = self.decide(message, history, engine, steps, owner)
            seconds = round(time.perf_counter() - started, 3)
            if decision.error:
                log.info("tool decision unusable (%s): %r", decision.error, decision.raw[:200])
                result.notices.append(f"tool decision unusable, answering without tools: {decision.error}")
            if not decision.calls_tool:
                return
            try:
                call = validate_call(decision.tool, decision.arguments, self.registry.tools)
            except ToolParseError as exc:
                result.tool_calls.append(
                    {"name": decision.tool, "arguments": decision.arguments, "error": str(exc), "how": "model"}
                )
                return
            if (call.name, call.arguments) in [(c["name"], c["arguments"]) for c, _ in steps]:
                return  # the same call again would return the same result: the chain is done
            if self.is_side_effect(call.name):
                result.pending_call = {"name": call.name, "arguments": call.arguments, "decided_in_s": seconds}
                return
            yield f"calling {call.name}…"
            done = self.call(call.name, call.arguments, owner, conversation_id, validate=False)
            done.update(how="model", decided_in_s=seconds)
            if call.name == "generate_images" and "error" not in done:
                # code checks, the model decides: the call ran as chosen; groups it left out are named, with
                # the command that draws them all, and a call that does is offered for the user to confirm
                from assistant.imaging.groups import missing_groups

                missing = missing_groups(message, call.arguments)
                if missing:
                    done["summary"] = f"{done.get('summary', '')}\n\n{missing.note}"
                    done["missing_groups_note"] = missing.note
                    result.pending_call = {"name": call.name, "arguments": missing.arguments, "offer": True}
            result.tool_calls.append(done)
            result.images.extend(done.get("images", []))
            steps.append(({"name": call.name, "arguments": call.arguments}, _record_text(done)))
            if done.get("final"):
                return  # images, a started job, a switched adapter: the tool's own summary is the answer

    def run_pending(self, pending: dict, owner: str, conversation_id: str | None) -> dict:
        """Run a side-effect call the user has confirmed (validated again: the registry may have changed)."""
        record = self.call(pending["name"], pending.get("arguments", {}), owner, conversation_id)
        record["how"] = "model, confirmed by the user"
        return record


def with_choices(tools: list[dict], choices: dict[str, dict[str, list[str]]]) -> list[dict]:
    """A copy of the tool descriptions with `enum`s on the named string arguments."""
    out = []
    for tool in tools:
        extra = choices.get(tool["name"], {})
        properties = dict(tool["parameters"].get("properties", {}))
        for argument, values in extra.items():
            if argument in properties and values:
                properties[argument] = {**properties[argument], "enum": list(values)}
        out.append({**tool, "parameters": {**tool["parameters"], "properties": properties}})
    return out


def parse_train_command(text: str) -> dict:
    """`gan shapes 30` -> {"model": "gan", "dataset": "shapes", "epochs": 30}; anything else is named as an error."""
    arguments: dict = {}
    for word in text.lower().split():
        if word in ("vae", "gan", "ssl"):
            arguments["model"] = word
        elif word in ("digits", "shapes"):
            arguments["dataset"] = word
        elif word.isdigit():
            arguments["epochs"] = int(word)  # range checked by the tool's schema (a clear error, never ignored)
        else:
            raise ValueError(f"`/train` does not understand {word!r}")
    if "model" not in arguments:
        raise ValueError("`/train` needs the kind of model: vae, gan or ssl")
    return arguments


def describe_call(name: str, arguments: dict) -> str:
    """What a proposed call will do, in words the user can agree to."""
    shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
    return f"`{name}({shown})`"


def _record_text(record: dict) -> str:
    if "error" in record:
        return f"⚠️ {record['error']}"
    return record.get("result_text") or "(no output)"
