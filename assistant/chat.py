"""ChatEngine: one turn = command? -> retrieve? -> tool call? -> generate (streamed, CoT) -> record.

It keeps no per-user state: everything a turn needs comes in the request or from the database, so the UI,
the CLI and the API can all call it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.adapters import BASE
from assistant.conversations import check_system_prompt
from assistant.limits import check_chat_rate
from assistant.llm.engine import GenerationParams, GenerationStats, InputError
from assistant.prompts import assistant_prefix, check_mode, majority_vote, parse_reply, system_prompt

TOOL_RULES = "Tools were already called for this message; use their results to answer (mention errors plainly):"
EARLIER_TOOLS = ("Earlier in this conversation, tools answered these requests and the person has seen the results "
                 "(images, jobs); refer to them only if asked:")
KNOWLEDGE_RULES = (
    "Answer using the numbered sources below when they are relevant, and cite them inline like [1] or [2]. "
    "If the sources do not contain the answer, say so briefly and answer from general knowledge."
)


@dataclass
class TurnRequest:
    owner: str
    message: str
    conversation_id: str | None = None
    adapter: str | None = None  # None: the conversation's choice, else the promoted default; "none": base model
    cot_mode: str | None = None
    knowledge_mode: str | None = None
    tools_enabled: bool | None = None
    params: dict[str, Any] = field(default_factory=dict)
    system_prompt: str | None = None
    regenerate: bool = False  # answer the last user message again; the old reply becomes an alternative
    record: bool = True
    commands: bool = True  # slash commands (/draw, /train …) run; the API allows them only with x_builtin_tools
    # The options above are the conversation's settings from now on (the UI): the chat service stores them with
    # the conversation (creating it with them if needed) before the turn, so None then means the default.
    remember_options: bool = False
    # Earlier turns a new conversation starts with (an API client's resent chat), stored only once the turn is
    # accepted: a refused request (empty message, over the rate) leaves nothing behind.
    earlier: list[dict[str, str]] = field(default_factory=list)

    def conversation_options(self) -> dict:
        """The per-conversation options this request carries, in the form the conversation store keeps."""
        options: dict[str, Any] = {"adapter": self.adapter}
        if self.cot_mode is not None:
            options["cot_mode"] = self.cot_mode
        if self.knowledge_mode is not None:
            options["knowledge_mode"] = self.knowledge_mode
        if self.tools_enabled is not None:
            options["tools_enabled"] = bool(self.tools_enabled)
        generation = dict(self.params)
        if self.system_prompt is not None:
            generation["system_prompt"] = self.system_prompt
        options["generation"] = generation
        return options


@dataclass
class TurnResult:
    """The stable JSON contract (`chat --json`): later features fill the same fields."""

    answer: str = ""
    reasoning: str = ""
    model: str = ""
    quant: str = ""
    engine: str = ""  # llamacpp, torch or remote
    adapter: str | None = None
    sources: list[dict] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    cot_mode: str = "direct"
    votes: list[dict] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    conversation_id: str | None = None
    message_id: int | None = None
    user_message_id: int | None = None
    stopped: bool = False
    first_token_seconds: float | None = None
    # a call run only once the user confirms: a side-effect call the model proposed, or (with "offer") a call the
    # checks suggest after the model's own call ran, such as drawing every group the message names
    pending_call: dict | None = None
    # the exact prompt the answer was generated from (None: the answer is a tool's or a command's, not the model's)
    model_input: dict | None = None

    def to_json(self) -> dict:
        """The `chat --json` contract; the full model input stays in the stored message, not on the wire."""
        return {k: v for k, v in asdict(self).items() if k != "model_input"}


@dataclass
class TurnUpdate:
    """A partial state while the turn streams; `done` is set on the last one."""

    result: TurnResult
    status: str = ""
    done: bool = False


class ChatEngine:
    def __init__(self, services) -> None:  # noqa: ANN001 - Services (avoids an import cycle)
        self.services = services
        self.settings = services.settings

    # --- helpers --------------------------------------------------------------------------------
    def check_message(self, text: str) -> str:
        if text is None or not str(text).strip():
            raise InputError("the message is empty: type a question or /help")
        if len(text) > self.settings.max_input_chars:
            raise InputError(
                f"the message is {len(text):,} characters; the limit is "
                f"{self.settings.max_input_chars:,} (set ASSISTANT_MAX_INPUT_CHARS to change it)"
            )
        return str(text)

    def resolve_adapter(self, requested: str | None, conversation_adapter: str | None) -> str | None:
        choice = requested if requested is not None else conversation_adapter
        if choice is None:  # the promoted adapter, unless it was trained for another base model than the serving one
            choice = self.services.adapters.serving_default()
        if choice in ("none", "", BASE, None):
            return None
        self.services.adapters.check_compatible(choice)
        return choice

    def _start(self, request: TurnRequest, **options: Any):  # noqa: ANN202 - the store's conversation view
        """A new conversation with the request's earlier turns, once the turn has been accepted."""
        store = self.services.conversations
        conv = store.create(request.owner, **options)
        for m in request.earlier:
            store.add_message(conv.id, m["role"], m["content"], meta={"source": "api history"})
        return store.get(request.owner, conv.id) if request.earlier else conv

    # --- the turn -------------------------------------------------------------------------------
    def turn(self, request: TurnRequest, stop_event: threading.Event | None = None) -> Iterator[TurnUpdate]:
        """Run one turn, yielding partial results; the last update has `done=True`."""
        started = time.perf_counter()
        stop_event = stop_event or threading.Event()
        store = self.services.conversations
        conv = store.get(request.owner, request.conversation_id) if request.conversation_id else None
        # Validate everything before anything is written: bad input never leaves a trace in the store.
        if not request.regenerate:
            message = self.check_message(request.message)
        elif conv is None or not any(m["role"] == "user" for m in conv.messages):
            raise InputError("nothing to regenerate yet")
        check_chat_rate(request.owner, self.settings)  # per user, before anything is stored
        default_mode = self.settings.default_cot_mode  # may change while the app runs (Settings tab)
        mode = check_mode(request.cot_mode or (conv.cot_mode if conv else None) or default_mode)
        knowledge_mode = request.knowledge_mode or (conv.knowledge_mode if conv else None) or "auto"
        tools_default = conv.tools_enabled if conv else self.settings.tools_by_default
        tools_on = tools_default if request.tools_enabled is None else request.tools_enabled
        # With remember_options the request's adapter is the conversation's choice (None: the promoted default).
        conversation_adapter = request.adapter if request.remember_options else (conv.adapter if conv else None)
        adapter = self.resolve_adapter(request.adapter, conversation_adapter)
        stored_params = conv.generation if conv else {}
        params = GenerationParams.from_settings(self.settings, **{**stored_params, **request.params})
        check_system_prompt(request.system_prompt)
        # remembered options replace the stored ones, system prompt included (an empty box means the default)
        stored_prompt = None if request.remember_options else stored_params.get("system_prompt")
        base_prompt = request.system_prompt or stored_prompt or self.settings.system_prompt
        last_user = next(m for m in reversed(conv.messages) if m["role"] == "user") if request.regenerate else None
        if last_user is not None:
            message = last_user["content"]
        if not (request.commands and message.lstrip().startswith("/")):  # a direct command needs no model
            # the system prompt and the message must fit the window, before the turn writes anything (history is
            # dropped to fit, sources left out below): a refused prompt used to leave its conversation behind
            self.services.llm.build_prompt([{"role": "system", "content": system_prompt(base_prompt, mode)},
                                            {"role": "user", "content": message}],
                                           params.max_new_tokens, prefix=assistant_prefix(mode))
        if request.remember_options:
            options = request.conversation_options()  # validated by the store before it writes
            if conv is None:
                conv = self._start(request, **{"cot_mode": default_mode, **options, "tools_enabled": tools_on})
            else:
                conv = store.update(request.owner, conv.id, **options)
        elif conv is None:
            conv = self._start(request, tools_enabled=tools_on, cot_mode=default_mode)
        history = [
            {"role": m["role"], "content": m["content"]} for m in conv.messages if m["role"] in ("user", "assistant")
        ]
        answer_notes = {i: note for i, m in enumerate(m for m in conv.messages if m["role"] in ("user", "assistant"))
                        if (note := tool_reply_note(m))}
        user_message_id = replaced_id = None
        if last_user is not None:
            last_reply = next((m for m in reversed(conv.messages) if m["role"] == "assistant"), None)
            user_message_id = last_user["id"]
            if last_reply is not None and last_reply["id"] > last_user["id"]:
                replaced_id = last_reply["id"]  # hidden by _finish, once its replacement is stored
                history = history[:-1]
            history = history[:-1]
        # The answering model reads the exchanges a tool answered as notes in its system prompt, not as its own turns
        # (the decision step, trained on the replies as the chat shows them, reads them as they are).
        answer_history, earlier_tools = split_tool_exchanges(history, answer_notes)
        engine = self.services.llm
        result = TurnResult(
            model=engine.name,
            quant=engine.loaded.quant,
            engine=engine.kind,
            adapter=adapter, cot_mode=mode, conversation_id=conv.id
        )
        if request.record and not request.regenerate:
            user_message_id = store.add_message(conv.id, "user", message)
        result.user_message_id = user_message_id

        # 1) direct commands (/draw, /search, /tools …) need no model at all
        command = None
        if request.commands and message.lstrip().startswith("/"):
            command = self.services.tools.run_command(message, request.owner, conv.id)
        if command is not None:
            result.answer, result.tool_calls, result.images = command.text, command.calls, command.images
            yield from self._finish(request, result, started, replaced_id, {})
            return

        # 2) tools chosen by the model
        tool_notes: list[str] = []
        if tools_on:
            yield TurnUpdate(result, status="choosing tools…")
            for update in self.services.tools.agent_step(
                message, history, engine, result, owner=request.owner, conversation_id=conv.id
            ):
                yield TurnUpdate(result, status=update)
            if result.pending_call is not None and not result.pending_call.get("offer"):
                # A tool that changes something waits for the user's yes (UI button, CLI --yes, API flag).
                from assistant.tools.service import describe_call

                pending = result.pending_call
                result.answer = (
                    f"I can run {describe_call(pending['name'], pending['arguments'])} for this. "
                    "It changes something, so it runs only when you confirm."
                )
                yield from self._finish(request, result, started, replaced_id, params.__dict__)
                return
            for call in result.tool_calls:
                outcome = call.get("result_text") or f"error: {call.get('error', 'no output')}"
                tool_notes.append(
                    f"- {call.get('name')}({json.dumps(call.get('arguments', {}), ensure_ascii=False)})"
                    f" returned: {outcome}"
                )
            # Image, training and adapter tools answer for themselves; a failed call is reported as it is,
            # because a small model asked to explain an error tends to invent one.
            if result.tool_calls and all(c.get("final") or "error" in c for c in result.tool_calls):
                result.answer = "\n\n".join(
                    c["summary"] if c.get("summary") else f"⚠️ I tried `{c.get('name')}` but it failed: {c['error']}"
                    for c in result.tool_calls
                )
                yield from self._finish(request, result, started, replaced_id, params.__dict__)
                return

        # 3) retrieval, only for a reply the model writes: a drawing or a proposed job cites no sources
        context = ""
        if knowledge_mode != "off":
            yield TurnUpdate(result, status="searching the knowledge base…")
            hits = self.services.knowledge_hits(message, always=knowledge_mode == "always", owner=request.owner)
            if hits:
                result.sources = [h.to_dict() for h in hits]
                context = self.services.format_sources(hits)

        # 4) generation
        extra = (KNOWLEDGE_RULES + "\n\nSources:\n" + context) if context else ""
        if earlier_tools:
            extra += "\n\n" + EARLIER_TOOLS + "\n" + "\n".join(earlier_tools)
        if tool_notes:
            extra += "\n\n" + TOOL_RULES + "\n" + "\n".join(tool_notes)
        messages = [
            {"role": "system", "content": system_prompt(base_prompt, mode, extra)},
            *answer_history,
            {"role": "user", "content": message},
        ]
        prefix = assistant_prefix(mode)
        try:
            prompt, notice = engine.build_prompt(messages, params.max_new_tokens, prefix=prefix)
        except InputError:
            if not extra:
                raise
            # the message fit with the system prompt (checked above); the sources and tool notes beside it do not
            messages[0] = {"role": "system", "content": system_prompt(base_prompt, mode)}
            prompt, notice = engine.build_prompt(messages, params.max_new_tokens, prefix=prefix)
            result.sources = []
            result.notices.append("the sources and tool results did not fit beside this message and system prompt: "
                                  "answered without them")
        # What the model was given, exactly: a vote on this reply trains on this, not on a re-built history.
        result.model_input = {
            "prompt": prompt,
            "messages": messages,
            "prefix": prefix,
            "engine": engine.kind,
            "adapter": adapter,
            "cot_mode": mode,
            "params": dict(params.__dict__),
        }
        if notice:
            result.notices.append(notice)
        if mode == "self-consistency":
            yield from self._self_consistency(engine, prompt, params, adapter, stop_event, result)
        else:
            stats = GenerationStats()
            text = ""
            for piece in engine.stream(prompt, params, adapter, stop_event, stats):
                text += piece
                parsed = parse_reply(text, mode, partial=True)
                result.reasoning, result.answer = parsed.reasoning, parsed.answer
                result.first_token_seconds = stats.first_token_seconds
                yield TurnUpdate(result)
            parsed = parse_reply(text, mode)
            result.reasoning, result.answer = parsed.reasoning, parsed.answer
            result.tokens, result.stopped = stats.tokens, stats.stopped
            if stats.stopped:
                result.notices.append("stopped")
        yield from self._finish(request, result, started, replaced_id, params.__dict__)

    def _self_consistency(
        self,
        engine,
        prompt: str,
        params: GenerationParams,
        adapter: str | None,  # noqa: ANN001
        stop_event: threading.Event,
        result: TurnResult,
    ) -> Iterator[TurnUpdate]:
        """Sample N reasoning paths, vote on their final answers, answer with the majority (seed 003)."""
        n = self.settings.self_consistency_paths
        sample = GenerationParams(**{**params.__dict__, "temperature": max(params.temperature, 0.7)})
        stats = GenerationStats()
        texts: list[str] = []
        for texts in engine.stream_many(prompt, sample, n, adapter, stop_event, stats):
            partial = [parse_reply(text, "step-by-step", partial=True) for text in texts]
            result.reasoning = _paths_markdown(partial, n, running=True)
            result.first_token_seconds = stats.first_token_seconds
            yield TurnUpdate(result, status=f"{n} reasoning paths side by side")
        paths = [parse_reply(text, "step-by-step") for text in texts if text.strip()]
        result.tokens, result.stopped = stats.tokens, stats.stopped
        votes = majority_vote([p.final for p in paths])
        result.votes = [{"answer": v.answer, "count": v.count, "paths": [i + 1 for i in v.paths]} for v in votes]
        result.reasoning = _paths_markdown(paths, n, running=False)
        if votes:
            winner = paths[votes[0].paths[0]]
            result.answer = winner.answer or votes[0].answer
            tally = ", ".join(f"{v.answer} ×{v.count}" for v in votes)
            result.notices.append(f"self-consistency: {len(paths)} paths, votes: {tally}")
        elif paths:
            result.answer = paths[0].answer
            result.notices.append("self-consistency: no path gave a final answer to vote on")
        yield TurnUpdate(result)

    def _finish(
        self, request: TurnRequest, result: TurnResult, started: float, replaced_id: int | None, params: dict
    ) -> Iterator[TurnUpdate]:
        result.seconds = round(time.perf_counter() - started, 3)
        if request.record and result.conversation_id:
            if replaced_id is not None:  # a regenerated reply is hidden only now that its replacement is written
                self.services.conversations.deactivate(request.owner, replaced_id)
            meta = {
                "user_message_id": result.user_message_id,
                "model": result.model,
                "quant": result.quant,
                "engine": result.engine,
                "adapter": result.adapter,
                "cot_mode": result.cot_mode,
                "params": params,
                "sources": result.sources,
                "tool_calls": result.tool_calls,
                "images": result.images,
                "votes": result.votes,
                "pending_call": result.pending_call,
                "model_input": result.model_input,
                "notices": result.notices,
                "tokens": result.tokens,
                "seconds": result.seconds,
            }
            result.message_id = self.services.conversations.add_message(
                result.conversation_id, "assistant", result.answer, result.reasoning, meta, replaced_id
            )
        yield TurnUpdate(result, done=True)

    def confirm(self, owner: str, message_id: int, accept: bool = True) -> TurnResult:
        """Run (or decline) the tool call a reply proposed; the outcome is a new assistant message.

        Only the owner of the conversation can confirm, only once: the proposal is cleared before the call runs.
        """
        store = self.services.conversations
        proposal = store.take_pending_call(owner, message_id)
        if proposal is None:
            raise InputError("there is no proposed action to confirm for that message (already done or declined)")
        conversation_id, pending = proposal
        engine_kind = self.services.llm.kind if self.services.llm_loaded else ""
        result = TurnResult(conversation_id=conversation_id, engine=engine_kind)
        if accept:
            record = self.services.tools.run_pending(pending, owner, conversation_id)
            result.tool_calls, result.images = [record], list(record.get("images", []))
            result.answer = record.get("summary") or (
                f"⚠️ `{pending['name']}` failed: {record['error']}" if "error" in record else record["result_text"]
            )
        else:
            result.answer = f"Cancelled: `{pending['name']}` was not run."
        meta = {"tool_calls": result.tool_calls, "images": result.images, "confirmed": accept}
        result.message_id = store.add_message(conversation_id, "assistant", result.answer, "", meta)
        return result

    def run(self, request: TurnRequest) -> TurnResult:
        """Run a turn to the end (CLI, API, tests)."""
        update = None
        for update in self.turn(request):  # noqa: B007 - only the final update matters
            pass
        return update.result


def tool_reply_note(message: dict) -> str:
    """What the answering model reads for a reply that a tool wrote itself (a drawing, a started job), else "".

    The reply is meant for the person: "…; seed 7 (image i has seed 7+i: pass like=<that seed> …)". A small model
    given that as its own earlier turn copies the seed and `like=` hints into unrelated answers, so it reads only
    what was done.
    """
    calls = (message.get("meta") or {}).get("tool_calls") or []
    if message.get("role") != "assistant" or not calls or not all(c.get("summary") for c in calls):
        return ""
    return "; ".join(f"{c.get('name')}: {c['summary'].split('; seed ')[0].strip()}" for c in calls)


def split_tool_exchanges(history: list[dict], notes: dict[int, str]) -> tuple[list[dict], list[str]]:
    """The answering model's history without the exchanges a tool answered, and a note line for each of them.

    Given a tool's reply as its own earlier turn (even reduced to a note), a small model copies that form into an
    unrelated answer ("[generate_images result: …]" for "is it past noon yet?", seen in a browser try) or drifts to
    the drawing; a note in the system prompt is context, not a turn to continue.
    """
    kept: list[dict] = []
    lines: list[str] = []
    for i, message in enumerate(history):
        if i not in notes:
            kept.append(message)
            continue
        asked = kept.pop()["content"] if kept and kept[-1]["role"] == "user" else ""
        lines.append(f'- "{asked[:200]}" → {notes[i]}' if asked else f"- {notes[i]}")
    return kept, lines


def _paths_markdown(paths: list, total: int, running: bool) -> str:
    blocks = []
    for i, path in enumerate(paths, 1):
        head = f"**Path {i}/{total}**" + (
            f" → `{path.final}`" if path.final and not running else ""
        )
        blocks.append(f"{head}\n\n{(path.reasoning + chr(10) + chr(10) + path.answer).strip()}")
    return "\n\n---\n\n".join(blocks)
