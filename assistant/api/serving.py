"""The serving layer of /v1: turns OpenAI requests into calls of the app's services; knows nothing of HTTP.

A chat request goes through `ChatEngine` (so it is stored as a conversation of the caller, can be voted on in the
UI, and gets knowledge, CoT and built-in tools like any chat) whenever ChatEngine can express it. The engine is
called directly only for what a chat turn has no words for: `n` > 1 (one batched `stream_many`), a JSON
`response_format` (the engine's grammar), the client's own `tools` (a grammar-constrained decision like
`assistant/tools/decision.py`), a history that holds tool results, and `/v1/completions` (raw prompt text).
Those chats are recorded too, with the exact prompt, so they can be voted on as well.

Every request runs on its own worker thread after taking a generation slot (`Gate`): a bounded number may wait,
for a bounded time; past that the answer is 429, never a hang. Each request yields `Event`s, which the routes
turn into a JSON body or server-sent chunks.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from assistant.api.protocol import ChatCompletionRequest, CompletionRequest, ModelCard, new_id
from assistant.limits import check_chat_rate
from assistant.llm.base import GenerationParams, GenerationStats, InputError

log = logging.getLogger(__name__)

EMBEDDING_MODEL = "all-minilm-l6-v2"
EMBEDDING_ALIASES = {EMBEDDING_MODEL, "all-minilm-l6-v2".upper(), "sentence-transformers/all-minilm-l6-v2"}
MAX_MESSAGES = 512  # per chat request; each may be stored as the conversation so far
TOOL_DECISION_TOKENS = 384


class ApiError(Exception):
    """An error with its HTTP status and OpenAI error type; the message is shown to the client as it is."""

    def __init__(
        self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
        param: str | None = None, headers: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}


def busy(message: str) -> ApiError:
    return ApiError(429, message, "rate_limit_error", "server_busy", headers={"Retry-After": "5"})


# --- the generation queue -----------------------------------------------------------------------------------------
class Gate:
    """`slots` generations at once; at most `max_waiting` more wait, each at most `timeout_s` (else 429)."""

    def __init__(self, slots: int, max_waiting: int, timeout_s: float) -> None:
        self._slots = threading.Semaphore(slots)
        self._lock = threading.Lock()  # guards _waiting
        self._waiting = 0
        self.max_waiting, self.timeout_s = max_waiting, timeout_s

    @property
    def waiting(self) -> int:
        return self._waiting

    def acquire(self) -> float:
        """Take a slot (blocking, bounded); returns the seconds waited, or raises the 429 ApiError."""
        if self._slots.acquire(blocking=False):
            return 0.0
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise busy(f"the generation queue is full ({self.max_waiting} waiting); retry shortly")
            self._waiting += 1
        started = time.perf_counter()
        try:
            if not self._slots.acquire(timeout=self.timeout_s):
                raise busy(f"no generation slot freed within {self.timeout_s:.0f} s; retry shortly")
        finally:
            with self._lock:
                self._waiting -= 1
        return time.perf_counter() - started

    def release(self) -> None:
        self._slots.release()


async def run_on_thread(
    produce: Callable[[threading.Event], Iterator], gate: Gate | None, stop_event: threading.Event
) -> AsyncIterator:
    """Iterate `produce(stop_event)` on a worker thread (holding a slot of `gate`); yield its items here.

    Errors of the worker are raised here. Leaving early (a client that disconnects) sets `stop_event`: the engine
    stops at its next token, and the slot is freed by the worker when the generation has really ended.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def put(kind: str, value: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the event loop is gone (server shutting down)
            stop_event.set()

    def work() -> None:
        try:
            if gate is not None:
                gate.acquire()
            try:
                if stop_event.is_set():
                    return
                for item in produce(stop_event):
                    put("item", item)
            finally:
                if gate is not None:
                    gate.release()
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put("error", exc)
        finally:
            put("done", None)

    threading.Thread(target=work, name="api-generate", daemon=True).start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop_event.set()


# --- events: what a generation produces, whatever the path --------------------------------------------------------
@dataclass
class Delta:
    index: int
    content: str = ""
    reasoning: str = ""


@dataclass
class ToolCalls:
    index: int
    calls: list[dict]


@dataclass
class Choice:
    index: int
    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict] | None = None
    finish_reason: str = "stop"


@dataclass
class Final:
    choices: list[Choice]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    conversation_id: str | None = None
    message_id: int | None = None
    sources: list[dict] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


class StopText:
    """Cuts text at the first stop sequence, and holds back an end that could be the start of one."""

    def __init__(self, stops: list[str] | None) -> None:
        self.stops = [s for s in stops or [] if s]
        self.hit = False

    def cut(self, text: str) -> str:
        for stop in self.stops:
            at = text.find(stop)
            if at >= 0:
                self.hit = True
                text = text[:at]
        return text

    def safe(self, text: str) -> str:
        """The part of `text` that can be sent now (no stop sequence can begin in what is held back)."""
        hold = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:k]):
                    hold = max(hold, k)
                    break
        return text[: len(text) - hold] if hold else text


class _RowStop(threading.Event):
    """Stops one row at its stop string without stopping the rows after it; the request's own stop (client gone,
    Stop pressed) still stops every row."""

    def __init__(self, request_stop: threading.Event) -> None:
        super().__init__()
        self.request_stop = request_stop

    def is_set(self) -> bool:
        return super().is_set() or self.request_stop.is_set()


def stream_rows(  # noqa: PLR0913 - what one generation request needs
    engine, prompt: str, params: GenerationParams, adapter: str | None, n: int, schema: dict | None,  # noqa: ANN001
    stops: list[StopText], stop_event: threading.Event, stats: GenerationStats,
) -> Iterator[tuple[int, str]]:
    """(row, its text so far) while the n rows of a request grow: side by side in one batch, or one after another
    for a single row or under a JSON schema (the grammar is per sequence). The caller cuts each text with its
    row's StopText; once that has seen a stop string the row's generation ends at the next token."""
    if n > 1 and schema is None:
        for texts in engine.stream_many(prompt, params, n, adapter, stop_event, stats):
            yield from enumerate(texts)
        return
    for i in range(n):
        one, row_stop, text = GenerationStats(), _RowStop(stop_event), ""
        for piece in engine.stream(prompt, params, adapter, row_stop, one, json_schema=schema):
            text += piece
            yield i, text
            if stops[i].hit:
                row_stop.set()
        stats.tokens += one.tokens
        stats.prompt_tokens = one.prompt_tokens


class Sent:
    """What has been streamed of one choice: the next delta is the new suffix (only while it is one)."""

    def __init__(self) -> None:
        self.content = ""
        self.reasoning = ""

    def delta(self, index: int, content: str, reasoning: str = "") -> Delta | None:
        out = Delta(index)
        if content.startswith(self.content) and len(content) > len(self.content):
            out.content, self.content = content[len(self.content) :], content
        if reasoning.startswith(self.reasoning) and len(reasoning) > len(self.reasoning):
            out.reasoning, self.reasoning = reasoning[len(self.reasoning) :], reasoning
        return out if out.content or out.reasoning else None


# --- the service --------------------------------------------------------------------------------------------------
@dataclass
class Caller:
    name: str  # the account name, or "local"

    @property
    def owner(self) -> str:
        """The owner of what the caller stores: the same string the UI uses for this account."""
        return "local" if self.name == "local" else f"user:{self.name}"


class ApiService:
    def __init__(self, services, status=None) -> None:  # noqa: ANN001 - Services, StartupStatus
        self.services = services
        self.settings = services.settings
        self.status = status
        self.gate = Gate(self.settings.concurrency, self.settings.api_queue_size, self.settings.api_queue_timeout_s)
        self._load_lock = threading.Lock()  # guards _loader
        self._loader: threading.Thread | None = None
        self._load_error: str | None = None

    # --- models -------------------------------------------------------------------------------------------------
    def base_id(self) -> str:
        from assistant.llm.packaged import canonical_model_name

        name = canonical_model_name(self.settings.model)
        return Path(name).stem if ("/" in name and Path(name).expanduser().exists()) else name

    def models(self) -> list[ModelCard]:
        base = self.base_id()
        cards = [ModelCard(id=base, x_adapter=None)]
        cards += [ModelCard(id=f"{base}:{name}", x_adapter=name) for name in self.services.adapters.fitting_names()]
        return cards

    def adapter_for(self, model: str) -> str | None:
        """The adapter a model id selects (None: the base model); 404 for an id we do not serve."""
        for card in self.models():
            if card.id == model:
                return card.x_adapter
        known = ", ".join(c.id for c in self.models())
        raise ApiError(404, f"the model {shown(model)} does not exist; available: {known}", code="model_not_found",
                       param="model")

    def engine(self):  # noqa: ANN201 - the loaded LLM engine
        """The engine, or 503 while it loads (the first request starts loading when nothing else has)."""
        if self.services.llm_loaded:
            return self.services.llm
        if self.status is not None and self.status.model == "failed":
            raise ApiError(503, f"the model failed to load: {'; '.join(self.status.errors[-1:])}",
                           "service_unavailable", "model_failed")
        with self._load_lock:
            if self._load_error:
                raise ApiError(503, f"the model failed to load: {self._load_error}", "service_unavailable",
                               "model_failed")
            if self._loader is None or not self._loader.is_alive():
                self._loader = threading.Thread(target=self._load, name="api-model-load", daemon=True)
                self._loader.start()
        raise ApiError(503, "the model is loading; retry in a few seconds", "service_unavailable", "model_loading",
                       headers={"Retry-After": "5"})

    def _load(self) -> None:
        try:
            _ = self.services.llm  # waits behind a warm-up thread that is already loading it
        except Exception as exc:  # noqa: BLE001 - reported to the next request
            log.exception("model loading for the API failed")
            self._load_error = f"{type(exc).__name__}: {exc}"

    def check_texts(self, texts: list[str], what: str = "message", param: str = "messages") -> None:
        """Every text within the size limit and valid Unicode: JSON can carry a lone surrogate ("\\ud800"), which
        no tokenizer or database takes (the embedder answered 500, the chat a codec error)."""
        limit = self.settings.max_input_chars
        for text in texts:
            if len(text) > limit:
                raise ApiError(413, f"a {what} has {len(text):,} characters; the limit is {limit:,} "
                                    "(ASSISTANT_MAX_INPUT_CHARS)", code="input_too_large", param=param)
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ApiError(400, f"a {what} is not valid Unicode text: a lone surrogate "
                                    f"{text[exc.start]!r} at character {exc.start}", param=param) from None

    def params(self, request: ChatCompletionRequest | CompletionRequest) -> GenerationParams:
        try:
            return GenerationParams.from_settings(self.settings, **request.generation())
        except InputError as exc:  # "<our name>=<value> is out of range (…)": the client's field is the param
            ours = str(exc).split("=", 1)[0]
            param = "max_completion_tokens" if ours == "max_new_tokens" and request.max_completion_tokens else (
                {"max_new_tokens": "max_tokens"}.get(ours, ours))
            raise ApiError(400, str(exc), param=param if param in type(request).model_fields else None) from exc

    # --- chat ---------------------------------------------------------------------------------------------------
    def plan_chat(self, request: ChatCompletionRequest, caller: Caller) -> Callable[[threading.Event], Iterator]:
        """Check the request (raising ApiError) and return the generation to run on the worker thread."""
        adapter = self.adapter_for(request.model)
        try:
            texts = [m.text() for m in request.messages]
        except ValueError as exc:
            raise ApiError(400, str(exc), param="messages") from exc
        self.check_texts(texts)
        if len(texts) > MAX_MESSAGES:  # every one may be stored: a 2 MB body holds ~65,000 tiny messages
            raise ApiError(400, f"{len(texts):,} messages; at most {MAX_MESSAGES} per request (the model reads "
                                f"{self.settings.context_tokens:,} tokens)", param="messages")
        if not any(m.role == "user" for m in request.messages):
            raise ApiError(400, "messages: at least one message must have the role 'user'", param="messages")
        params = self.params(request)
        engine = self.engine()
        tools_on = bool(request.tools) and request.tool_choice != "none"
        json_out = request.response_format is not None and request.response_format.type != "text"
        after_user = request.messages[[m.role for m in request.messages].index("user"):]
        tool_history = any(m.role == "tool" or m.tool_calls for m in request.messages)
        last_is_user = request.messages[-1].role == "user"
        if request.n > 1 and (tools_on or json_out) and request.stream:
            raise ApiError(400, "n > 1 cannot be combined with tools or response_format when streaming", param="n")
        if tools_on and request.n > 1:
            raise ApiError(400, "n > 1 with tools is not supported; send n=1", param="n")
        if request.response_format is not None and request.response_format.type == "json_schema":
            spec = request.response_format.json_schema
            if spec is None or not spec.schema_:
                raise ApiError(400, "response_format json_schema needs json_schema.schema", param="response_format")
            check_schema(spec.schema_, "response_format")
        choice = request.tool_choice
        if choice is not None and not isinstance(choice, str):
            name = choice.function.get("name")
            if name not in {t.function.name for t in request.tools or []}:
                raise ApiError(400, f"tool_choice names {name!r}, which is not among the tools", param="tool_choice")
        for tool in request.tools or []:
            if tool.function.parameters.get("type", "object") != "object":
                raise ApiError(400, f"tool {tool.function.name!r}: parameters must be a JSON schema of type "
                                    "'object' (a call's arguments are one JSON object)", param="tools")
            check_schema(client_decision_schema([{"name": tool.function.name, "parameters": tool.function.parameters}],
                                                True), "tools", f"tool {tool.function.name!r}: ")
        del after_user
        if request.n == 1 and not tools_on and not json_out and not tool_history and last_is_user:
            return self._chat_turn(request, caller, adapter, params)  # the chat turn counts against the rate
        check_chat_rate(caller.owner, self.settings)
        return self._chat_direct(request, caller, adapter, params, engine, tools_on)

    def _history(self, request: ChatCompletionRequest) -> tuple[str | None, list[dict], str]:
        """(system prompt, earlier user/assistant messages, the last user message) of a plain chat."""
        system = "\n\n".join(m.text() for m in request.messages if m.role in ("system", "developer")) or None
        turns = [{"role": m.role, "content": m.text()} for m in request.messages if m.role in ("user", "assistant")]
        return system, turns[:-1], turns[-1]["content"]

    def _matching_conversation(self, owner: str, history: list[dict]) -> str | None:
        """The caller's recent conversation whose messages are exactly `history`: a client resending the chat so far
        continues it."""
        from assistant.conversations import clean_text

        store = self.services.conversations
        wanted = [(m["role"], clean_text(m["content"]).strip()) for m in history]
        if wanted:
            for conv_id, _ in store.list(owner)[:20]:
                view = store.get(owner, conv_id)
                have = [(m["role"], m["content"].strip()) for m in view.messages if m["role"] in ("user", "assistant")]
                if have == wanted:
                    return conv_id
        return None

    def _conversation(self, owner: str, history: list[dict], **options: object) -> str:
        """The caller's conversation whose messages are exactly `history`, else a new one holding `history`."""
        found = self._matching_conversation(owner, history)
        if found is not None:
            return found
        store = self.services.conversations
        conv = store.create(owner, **options)
        for m in history:
            store.add_message(conv.id, m["role"], m["content"], meta={"source": "api history"})
        return conv.id

    def _chat_turn(
        self, request: ChatCompletionRequest, caller: Caller, adapter: str | None, params: GenerationParams
    ) -> Callable[[threading.Event], Iterator]:
        from assistant.chat import TurnRequest

        system, history, message = self._history(request)
        mode = request.x_cot_mode or "direct"
        overrides = {k: v for k, v in request.generation().items() if v is not None}
        stop = StopText(request.stop)
        services = self.services

        def produce(stop_event: threading.Event) -> Iterator:
            # a new conversation and the resent history are stored by the turn, once it has accepted the message
            conversation_id = self._matching_conversation(caller.owner, history)
            turn = TurnRequest(
                owner=caller.owner, message=message, conversation_id=conversation_id,
                earlier=history if conversation_id is None else [],
                adapter=adapter or "none", cot_mode=mode, knowledge_mode=request.x_knowledge or "off",
                tools_enabled=request.x_builtin_tools, params=overrides, system_prompt=system,
                commands=request.x_builtin_tools,  # "/train …" is the app's tool too: never without the opt-in
            )
            sent = Sent()
            result = None
            for update in services.chat.turn(turn, stop_event):
                result = update.result
                answer = stop.cut(result.answer)
                if stop.hit:
                    stop_event.set()
                reasoning = result.reasoning if mode != "direct" else ""
                visible = answer if (update.done or stop.hit) else stop.safe(answer)
                delta = sent.delta(0, visible, reasoning)
                if delta is not None:
                    yield delta
            answer = stop.cut(result.answer)
            tokens = result.tokens
            finish = "length" if tokens >= params.max_new_tokens and not stop.hit else "stop"
            prompt = (result.model_input or {}).get("prompt", "")
            notices = [n for n in result.notices if n != "stopped" or not stop.hit]
            if result.tool_calls:
                notices.append("tools called: " + ", ".join(str(c.get("name")) for c in result.tool_calls))
            yield Final(
                choices=[Choice(0, answer, result.reasoning if mode != "direct" else "", None, finish)],
                prompt_tokens=services.llm.count_tokens(prompt) if prompt else 0,
                completion_tokens=tokens, conversation_id=result.conversation_id, message_id=result.message_id,
                sources=result.sources, notices=notices,
            )

        return produce

    def _chat_direct(  # noqa: C901 - one linear recipe: prompt, tool decision, generation, record
        self, request: ChatCompletionRequest, caller: Caller, adapter: str | None, params: GenerationParams,
        engine, tools_on: bool,  # noqa: ANN001
    ) -> Callable[[threading.Event], Iterator]:
        from assistant.chat import KNOWLEDGE_RULES, TOOL_RULES
        from assistant.prompts import assistant_prefix, parse_reply, system_prompt

        mode = request.x_cot_mode or "direct"
        if mode == "self-consistency":
            mode = "step-by-step"  # n paths are what the client asked for; it does its own voting
        roles = [m.role for m in request.messages]
        last_user = len(roles) - 1 - roles[::-1].index("user")
        user_text = request.messages[last_user].text()
        system = "\n\n".join(m.text() for m in request.messages if m.role in ("system", "developer"))
        system = system or self.settings.system_prompt
        names = {c.id: c.function.name for m in request.messages for c in (m.tool_calls or [])}
        # what the tools returned, for the decision (steps after the last user message) and for the answer
        steps, notes, history = [], [], []
        pending: dict[str, dict] = {}
        for i, m in enumerate(request.messages):
            if m.role == "assistant" and m.tool_calls:
                for call in m.tool_calls:
                    try:
                        args = json.loads(call.function.arguments or "{}")
                    except json.JSONDecodeError:
                        args = {}
                    pending[call.id] = {"name": call.function.name, "arguments": args if isinstance(args, dict)
                                        else {}}
                if m.text():
                    history.append({"role": "assistant", "content": m.text()})
            elif m.role == "tool":
                call = pending.get(m.tool_call_id or "", {"name": names.get(m.tool_call_id or "", m.name or "tool"),
                                                          "arguments": {}})
                notes.append(f"- {call['name']}({json.dumps(call['arguments'], ensure_ascii=False)}) returned: "
                             f"{m.text()[:4000]}")
                if i > last_user:
                    steps.append((call, m.text()))
                else:
                    history.append({"role": "user", "content": f"[result of {call['name']}] {m.text()[:800]}"})
            elif m.role in ("user", "assistant") and i != last_user:
                history.append({"role": m.role, "content": m.text()})
        sources: list[dict] = []
        extra = ""
        knowledge = request.x_knowledge or "off"
        stop = [StopText(request.stop) for _ in range(request.n)]
        schema = None
        if request.response_format is not None and request.response_format.type == "json_object":
            schema = {"type": "object"}
        elif request.response_format is not None and request.response_format.type == "json_schema":
            schema = request.response_format.json_schema.schema_
        tools = [{"name": t.function.name, "description": t.function.description or t.function.name,
                  "parameters": t.function.parameters or {"type": "object", "properties": {}}}
                 for t in request.tools or []]
        choice = request.tool_choice
        forced = choice.function.get("name") if choice is not None and not isinstance(choice, str) else None
        if forced is not None and forced not in {t["name"] for t in tools}:
            raise ApiError(400, f"tool_choice names {forced!r}, which is not among the tools", param="tool_choice")
        services = self.services
        base_model = self.base_id()

        def produce(stop_event: threading.Event) -> Iterator:
            nonlocal extra
            started = time.perf_counter()
            if knowledge != "off":
                hits = services.knowledge_hits(user_text, always=knowledge == "always", owner=caller.owner)
                if hits:
                    sources.extend(h.to_dict() for h in hits)
                    extra = KNOWLEDGE_RULES + "\n\nSources:\n" + services.format_sources(hits)
            notes_text = ("\n\n" + TOOL_RULES + "\n" + "\n".join(notes)) if notes else ""
            if tools_on:
                decision_stats = GenerationStats()
                call = self._decide(engine, tools, history, user_text, steps, choice, forced, adapter, decision_stats)
                if call is not None:
                    calls = [{"id": new_id("call"), "type": "function",
                              "function": {"name": call[0], "arguments": json.dumps(call[1], ensure_ascii=False)}}]
                    yield ToolCalls(0, calls)
                    message_id, conv_id = self._record_direct(
                        caller, history, user_text, json.dumps(calls, ensure_ascii=False), "", engine, adapter,
                        mode, params, None, decision_stats.tokens, started, {"tool_calls": calls})
                    # the call's JSON is what the model generated: usage counts the decision prompt and it
                    yield Final([Choice(0, "", "", calls, "tool_calls")], prompt_tokens=decision_stats.prompt_tokens,
                                completion_tokens=decision_stats.tokens, conversation_id=conv_id,
                                message_id=message_id, sources=sources)
                    return
            messages = [{"role": "system", "content": system_prompt(system, mode, extra + notes_text)}, *history,
                        {"role": "user", "content": user_text}]
            prefix = assistant_prefix(mode)
            prompt, notice = engine.build_prompt(messages, params.max_new_tokens, prefix=prefix)
            stats = GenerationStats()
            texts: list[str] = [""] * request.n
            sent = [Sent() for _ in range(request.n)]

            def show(i: int, text: str, done: bool) -> Delta | None:
                text = stop[i].cut(text)
                parsed = parse_reply(text, mode, partial=not done)
                visible = parsed.answer if done or stop[i].hit else stop[i].safe(parsed.answer)
                return sent[i].delta(i, visible, parsed.reasoning if mode != "direct" else "")

            for i, text in stream_rows(engine, prompt, params, adapter, request.n, schema, stop, stop_event, stats):
                texts[i] = text
                delta = show(i, text, False)
                if delta is not None:
                    yield delta
            choices = []
            for i, text in enumerate(texts):
                delta = show(i, text, True)
                if delta is not None:
                    yield delta
                parsed = parse_reply(stop[i].cut(text), mode)
                tokens = len(engine.tokenizer(text, add_special_tokens=False)["input_ids"]) if request.n > 1 else \
                    stats.tokens
                finish = "length" if tokens >= params.max_new_tokens and not stop[i].hit else "stop"
                choices.append(Choice(i, parsed.answer, parsed.reasoning if mode != "direct" else "", None, finish))
            model_input = {"prompt": prompt, "messages": messages, "prefix": prefix, "engine": engine.kind,
                           "adapter": adapter, "cot_mode": mode, "params": dict(params.__dict__)}
            message_id, conv_id = self._record_direct(
                caller, history, user_text, choices[0].content, choices[0].reasoning, engine, adapter, mode,
                params, model_input, stats.tokens, started,
                {"n": request.n, "response_format": schema is not None, "model": request.model or base_model})
            yield Final(choices, prompt_tokens=stats.prompt_tokens, completion_tokens=stats.tokens,
                        conversation_id=conv_id, message_id=message_id, sources=sources,
                        notices=[notice] if notice else [])

        return produce

    def _decide(self, engine, tools, history, message, steps, choice, forced, adapter,  # noqa: ANN001, ANN202
                usage: GenerationStats | None = None):
        """The model's call of a client tool, or None: greedy, under a grammar of the allowed decisions.

        `usage`, when given, receives the decision's prompt and generated token counts."""
        from assistant.tools.decision import NO_TOOL, decision_messages, decision_schema, none_prior, read_decision

        allowed = [t for t in tools if forced is None or t["name"] == forced]
        required = choice == "required" or forced is not None
        messages = decision_messages(allowed, history, message, steps)
        prompt, _ = engine.build_prompt(messages, TOOL_DECISION_TOKENS)
        adapter_for_decision = self.services.tools.decision_adapter(client=True) or adapter
        params = GenerationParams(temperature=0.0, max_new_tokens=TOOL_DECISION_TOKENS, repetition_penalty=1.0)
        text = ""
        for schema in (client_decision_schema(allowed, required), _reduced(decision_schema(allowed), required)):
            try:
                text, one = engine.generate(prompt, params, adapter_for_decision, json_schema=schema,
                                            bias=None if required else none_prior(self.settings.tool_none_bias))
                if usage is not None:
                    usage.prompt_tokens, usage.tokens = one.prompt_tokens, one.tokens
                break
            except (ValueError, RuntimeError) as exc:  # a schema the grammar compiler cannot take: simpler one
                log.info("tool grammar refused (%s); retrying with the reduced schema", exc)
        decision = read_decision(text, {t["name"] for t in allowed})
        if decision.tool == NO_TOOL:
            if required:
                # "auto" falls back to a text answer; "required" promised the client a call, so it gets an error
                # it can act on, not text it did not ask for
                raise ApiError(422, f"tool_choice asks for a tool call, but the model's call was not usable "
                                    f"({decision.error or 'no call'}; at most {TOOL_DECISION_TOKENS} tokens): "
                                    "shorten the tools' parameters or the conversation and try again",
                               code="tool_call_unusable", param="tool_choice")
            return None
        return decision.tool, decision.arguments

    def _record_direct(self, caller, history, user_text, reply, reasoning, engine, adapter, mode, params,  # noqa: ANN001
                       model_input, tokens, started, api_meta) -> tuple[int | None, str | None]:  # noqa: ANN001
        """Store the exchange as a conversation of the caller (the first choice), so it can be voted on."""
        store = self.services.conversations
        try:
            conv_id = self._conversation(caller.owner, history, tools_enabled=False)
            user_id = store.add_message(conv_id, "user", user_text)
            meta = {"user_message_id": user_id, "model": engine.name, "quant": engine.loaded.quant,
                    "engine": engine.kind, "adapter": adapter, "cot_mode": mode, "params": dict(params.__dict__),
                    "model_input": model_input, "tokens": tokens, "api": api_meta,
                    "seconds": round(time.perf_counter() - started, 3)}
            return store.add_message(conv_id, "assistant", reply, reasoning, meta), conv_id
        except Exception:  # noqa: BLE001 - the answer still goes out; the log says why it was not stored
            log.exception("could not store an API chat")
            return None, None

    # --- text completions ---------------------------------------------------------------------------------------
    def plan_completion(self, request: CompletionRequest) -> Callable[[threading.Event], Iterator]:
        adapter = self.adapter_for(request.model)
        prompt = request.text()
        self.check_texts([prompt], "prompt", "prompt")
        if not prompt:
            raise ApiError(400, "prompt is empty", param="prompt")
        params = self.params(request)
        engine = self.engine()
        schema = None
        if request.response_format is not None and request.response_format.type == "json_object":
            schema = {"type": "object"}
        elif request.response_format is not None and request.response_format.type == "json_schema":
            schema = (request.response_format.json_schema.schema_ if request.response_format.json_schema else None)
            if not schema:
                raise ApiError(400, "response_format json_schema needs json_schema.schema", param="response_format")
            check_schema(schema, "response_format")
        n = request.n
        stop = [StopText(request.stop) for _ in range(n)]
        echo = prompt if request.echo else ""

        def produce(stop_event: threading.Event) -> Iterator:
            stats = GenerationStats()
            texts = [""] * n
            sent = [Sent() for _ in range(n)]
            if echo:
                for i in range(n):
                    yield sent[i].delta(i, echo)
            for i, raw in stream_rows(engine, prompt, params, adapter, n, schema, stop, stop_event, stats):
                texts[i] = raw
                text = stop[i].cut(raw)
                delta = sent[i].delta(i, echo + (text if stop[i].hit else stop[i].safe(text)))
                if delta is not None:
                    yield delta
            choices = []
            for i, text in enumerate(texts):
                final = echo + stop[i].cut(text)
                delta = sent[i].delta(i, final)
                if delta is not None:
                    yield delta
                tokens = stats.tokens if n == 1 else len(engine.tokenizer(text, add_special_tokens=False)["input_ids"])
                finish = "length" if tokens >= params.max_new_tokens and not stop[i].hit else "stop"
                choices.append(Choice(i, final, "", None, finish))
            yield Final(choices, prompt_tokens=stats.prompt_tokens, completion_tokens=stats.tokens)

        return produce

    # --- embeddings and images ----------------------------------------------------------------------------------
    def check_embedding(self, model: str, texts: list[str]) -> None:
        if model.lower() not in EMBEDDING_ALIASES:
            raise ApiError(404, f"the embedding model {shown(model)} does not exist; available: {EMBEDDING_MODEL}",
                           code="model_not_found", param="model")
        self.check_texts(texts, "text", "input")
        if not texts or any(not text for text in texts):  # as OpenAI: an empty string has no meaning to embed
            raise ApiError(400, "input must be a non-empty string or a list of non-empty strings", param="input")

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Vectors for texts `check_embedding` accepted, and their token count."""
        from assistant.knowledge.embeddings import MiniLMEmbeddings, get_model

        vectors = MiniLMEmbeddings().embed_array(texts)
        tokenizer = get_model().tokenizer
        tokens = sum(len(tokenizer(t, add_special_tokens=True)["input_ids"]) for t in texts)
        return vectors.tolist(), tokens

    def check_image_model(self, model: str, prompt: str, viewer: str) -> None:
        from assistant.imaging.service import list_image_models

        self.check_texts([prompt], "prompt", "prompt")
        names = {m["name"] for m in list_image_models(self.settings, viewer)
                 if m.get("kind") in ("vae", "gan", "diffusion")}
        if model not in names | {"auto", "gan", "vae", "diffusion"}:
            raise ApiError(404, f"the image model {shown(model)} does not exist; available: auto, gan, vae, "
                                f"diffusion, {', '.join(sorted(names))}", code="model_not_found", param="model")

    def draw(self, model: str, prompt: str, n: int, seed: int | None, viewer: str) -> tuple[str, list[bytes]]:
        """Images for a request `check_image_model` accepted."""
        from assistant.imaging.engine import CheckpointError
        from assistant.imaging.prompting import PromptError
        from assistant.imaging.service import generate_images

        try:
            out = generate_images(model, prompt, n=n, seed=seed, settings=self.settings, viewer=viewer)
        except (PromptError, CheckpointError, ValueError) as exc:
            raise ApiError(400, str(exc), param="prompt") from exc
        files = out["files"][:n]
        return out["model"], [Path(f).read_bytes() for f in files]


def shown(name: str, limit: int = 80) -> str:
    """A client's name as an error message repeats it: quoted, and cut (a 100 KB model id came back whole)."""
    return repr(name if len(name) <= limit else name[:limit] + "…")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_schema(schema: dict, param: str, what: str = "") -> None:
    """A 400 naming `param` unless `schema` is a valid JSON schema that the decoding grammar can be built from."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ApiError(400, f"{what}not a valid JSON schema: {exc.message[:200]}", param=param) from None
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError:  # no llama.cpp here: the engine in use checks the schema itself
        return
    try:
        json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # noqa: BLE001 - the converter raises assertions and lookups on what it cannot take
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ApiError(400, f"{what}schema not supported for constrained decoding: {reason}", param=param) from None


def client_decision_schema(tools: list[dict], required: bool) -> dict:
    """Like `decision_schema`, but the arguments keep the client's full JSON schema."""
    options: list[dict] = [] if required else [
        {"type": "object", "properties": {"tool": {"const": "none"}}, "required": ["tool"],
         "additionalProperties": False}
    ]
    for tool in tools:
        params = dict(tool["parameters"] or {})
        params.setdefault("type", "object")
        options.append({"type": "object", "properties": {"tool": {"const": tool["name"]}, "arguments": params},
                        "required": ["tool", "arguments"], "additionalProperties": False})
    return {"anyOf": options}


def _reduced(schema: dict, required: bool) -> dict:
    options = schema["anyOf"][1:] if required else schema["anyOf"]
    return {"anyOf": options}
