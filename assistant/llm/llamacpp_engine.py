"""The llama.cpp backend (the CPU serving default): the GGUF as shipped, GGUF LoRA adapters switched per request.

`llama-cpp-python`'s `Llama` decodes single replies (prefix cache, grammar, prompt-lookup drafts); N
self-consistency paths decode side by side in one `llama_batch` on a second context whose unified KV cache shares
the prompt between sequences (`llama_memory_seq_cp`). The C-level calls live here and nowhere else.

Prompts are rendered by the same HF chat template as the torch backend (`PromptBuilder`), so both backends see
identical prompt text.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from assistant.config import Settings
from assistant.llm.base import MODEL_LOCK, BiasAfter, GenerationParams, GenerationStats, InputError, PromptBuilder
from assistant.llm.cpu import FREE_CORES

log = logging.getLogger(__name__)

_DONE = object()


@dataclass
class EngineInfo:
    """What the UI and `chat --json` report about the loaded model (the torch backend's LoadedModel has the same)."""

    name: str
    path: str
    quant: str
    device: str
    load_seconds: float
    notes: list[str] = field(default_factory=list)


def _run_with_model(
    produce: Callable[[Callable[[object], None]], None], stop_event: threading.Event, stats: GenerationStats
) -> Iterator:
    """Run `produce(emit)` on its own thread holding MODEL_LOCK; yield what it emits.

    The lock is taken and released by that thread, never by this generator, which may be resumed on any thread.
    Closing the generator early sets `stop_event`, and the producer stops at its next token.
    """
    items: queue.Queue = queue.Queue()
    errors: list[BaseException] = []
    started = time.perf_counter()

    def run() -> None:
        try:
            with MODEL_LOCK:
                if not stop_event.is_set():
                    produce(items.put)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            errors.append(exc)
        finally:
            items.put(_DONE)

    worker = threading.Thread(target=run, name="llamacpp-generate", daemon=True)
    worker.start()
    finished = False
    try:
        while (item := items.get(timeout=600)) is not _DONE:
            if stats.first_token_seconds is None:
                stats.first_token_seconds = time.perf_counter() - started
            yield item
        finished = True
    finally:
        stats.stopped = stop_event.is_set() or not finished
        if not finished:
            stop_event.set()
        stats.seconds = time.perf_counter() - started
    if errors:
        raise errors[0]


class _IncrementalText:
    """Token ids -> text pieces, holding back a piece that ends inside a multi-byte character."""

    def __init__(self, tokenizer) -> None:  # noqa: ANN001 - HF tokenizer
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.sent = 0

    def add(self, token: int) -> str:
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return ""
        piece, self.sent = text[self.sent :], len(text)
        return piece


class LlamaCppEngine(PromptBuilder):
    kind = "llamacpp"

    def __init__(self, gguf_path: Path, tokenizer, settings: Settings, name: str) -> None:  # noqa: ANN001
        import llama_cpp

        from assistant.llm.llamacpp_build import extra_buffers_safe, load_llama

        started = time.perf_counter()
        self.settings = settings
        self.tokenizer = tokenizer
        self.threads = settings.threads or os.cpu_count() or 1
        draft = None
        if settings.prompt_lookup:
            from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

            draft = LlamaPromptLookupDecoding(num_pred_tokens=settings.prompt_lookup_tokens)
        self.llm = load_llama(
            str(gguf_path),
            n_ctx=settings.context_tokens,
            n_batch=512,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            draft_model=draft,
            # llama-cpp-python verifies drafts from every position's logits, but sizes that buffer from this
            # argument alone (n_ctx × vocab floats: ~2.5 GB at 4k context): the reason prompt lookup is opt-in
            logits_all=draft is not None,
            verbose=False,
        )
        self._c = llama_cpp
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm._model.model)
        self.adapters = None  # set by AdapterRegistry.attach()
        self._loras: dict[str, object] = {}  # name -> llama_adapter_lora pointer, loaded once
        self._active: str | None = None
        self._batch_ctx = None  # the context for N sequences side by side, made on first use
        self._batch_ctx_adapter: str | None = "unset"
        self.last_threads = self.threads  # threads of the latest request (fewer while other work holds cores)
        self._score_ctx = None  # the reranker's context (base model, no adapter), made on first use
        file_type = self.llm.metadata.get("general.file_type", "")
        self.loaded = EngineInfo(
            name=name,
            path=str(gguf_path),
            quant=f"gguf{_FILE_TYPES.get(str(file_type), '')}",
            device="cpu",
            load_seconds=time.perf_counter() - started,
            notes=[f"llama.cpp ({llama_cpp.__version__}), {self.threads} threads, GGUF {gguf_path.name}"
                   + ("" if extra_buffers_safe() else "; AMX build: weight repacking off")],
        )
        self.arch = self.llm.metadata.get("general.architecture", "qwen2")

    @property
    def name(self) -> str:
        return self.loaded.name

    # --- adapters (called by AdapterRegistry with MODEL_LOCK held) --------------------------------------------
    def load_adapter(self, name: str, folder: str) -> None:
        from assistant.llm.gguf_lora import ensure_gguf_lora

        path, notice = ensure_gguf_lora(Path(folder), self.arch)
        if notice:
            log.warning(notice)
            self.loaded.notes.append(notice)
        pointer = self._c.llama_adapter_lora_init(self.llm._model.model, str(path).encode())
        if not pointer:
            raise InputError(f"adapter {name!r}: llama.cpp could not load {path.name} (wrong base model?)")
        self._loras[name] = pointer

    def _apply(self, ctx, name: str | None) -> None:  # noqa: ANN001 - llama_context pointer
        if name is None:
            code = self._c.llama_set_adapters_lora(ctx, None, 0, None)
        else:
            adapters = (self._c.llama_adapter_lora_p_ctypes * 1)(self._loras[name])
            scales = (ctypes.c_float * 1)(1.0)
            code = self._c.llama_set_adapters_lora(ctx, adapters, 1, scales)
        if code != 0:
            raise RuntimeError(f"llama_set_adapters_lora failed ({code}) for {name or 'base model'}")

    def set_active_adapter(self, name: str | None, any_loaded: bool) -> None:
        if name == self._active:
            return
        self._apply(self.llm._ctx.ctx, name)
        self._active = name
        # The cached prompt prefix was computed under the other adapter: it must not be reused.
        self.llm.reset()

    def unload_adapter(self, name: str, remaining: list[str]) -> None:
        pointer = self._loras.pop(name, None)
        if self._active == name:
            self.set_active_adapter(None, bool(remaining))
        if self._batch_ctx_adapter == name:
            self._apply(self._batch_ctx.ctx, None)
            self._batch_ctx_adapter = None
        if pointer is not None:
            self._c.llama_adapter_lora_free(pointer)

    # --- tokens ---------------------------------------------------------------------------------------------
    def _tokens(self, prompt: str) -> list[int]:
        return self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def _is_end(self, token: int) -> bool:
        return bool(self._c.llama_vocab_is_eog(self.vocab, token))

    def _check_room(self, n_prompt: int, params: GenerationParams) -> None:
        if n_prompt + 1 > self.settings.context_tokens:
            raise InputError(f"the prompt has {n_prompt} tokens; the context window is {self.settings.context_tokens}")

    # --- one reply --------------------------------------------------------------------------------------------
    def stream(
        self,
        prompt: str,
        params: GenerationParams,
        adapter: str | None = None,
        stop_event: threading.Event | None = None,
        stats: GenerationStats | None = None,
        json_schema: dict | None = None,
        bias: BiasAfter | None = None,
    ) -> Iterator[str]:
        """Yield text pieces as they are decoded; `json_schema` constrains the output to JSON valid under it."""
        stats = stats if stats is not None else GenerationStats()
        stop_event = stop_event or threading.Event()
        tokens = self._tokens(prompt)
        processors = [self._bias_processor(bias, len(tokens))] if bias is not None and bias.bias else None
        stats.prompt_tokens = len(tokens)
        self._check_room(len(tokens), params)
        if self.adapters is None and adapter:
            raise InputError(f"adapter {adapter!r} requested but adapters are not available")
        budget = min(int(params.max_new_tokens), self.settings.context_tokens - len(tokens))
        grammar = None
        if json_schema is not None:
            from llama_cpp import LlamaGrammar

            grammar = LlamaGrammar.from_json_schema(json.dumps(json_schema), verbose=False)

        def produce(emit: Callable[[object], None]) -> None:
            if self.adapters is not None:
                self.adapters.activate(adapter)
            self._use_free_cores(self.llm._ctx.ctx)
            self.llm.set_seed(int(params.seed) if params.seed is not None else self._c.LLAMA_DEFAULT_SEED)
            text = _IncrementalText(self.tokenizer)
            greedy = params.greedy
            for token in self.llm.generate(
                tokens,
                temp=0.0 if greedy else float(params.temperature),
                top_k=int(params.top_k) if params.top_k else 0,
                top_p=1.0 if greedy else float(params.top_p),
                min_p=0.0,
                repeat_penalty=float(params.repetition_penalty),
                grammar=grammar,
                logits_processor=processors,
            ):
                if stop_event.is_set() or self._is_end(token):
                    break
                stats.tokens += 1
                piece = text.add(token)
                if piece:
                    emit(piece)
                if stats.tokens >= budget:
                    break

        yield from _run_with_model(produce, stop_event, stats)

    def _bias_processor(self, bias: BiasAfter, n_prompt: int):  # noqa: ANN202 - a llama-cpp logits processor
        """`bias` as a logits processor: it sees the prompt and the tokens decoded so far, in vocabulary order."""

        def apply(input_ids, scores):  # noqa: ANN001, ANN202 - numpy arrays
            output = self.tokenizer.decode(input_ids[n_prompt:].tolist()[-32:], skip_special_tokens=True)
            ids = bias.token_ids(self.tokenizer, output)
            if ids:
                scores[ids] += bias.bias
            return scores

        return apply

    def _use_free_cores(self, ctx) -> int:  # noqa: ANN001 - llama_context pointer
        """Decode this request with as many threads as other work leaves cores free (see assistant/llm/cpu.py);
        a fixed ASSISTANT_THREADS is used as it is."""
        threads = self.threads if self.settings.threads else FREE_CORES.threads(self.threads)
        self._c.llama_set_n_threads(ctx, threads, threads)
        self.last_threads = threads
        return threads

    # --- N replies side by side -------------------------------------------------------------------------------
    def _batch_context(self, cells: int, n_seq: int):  # noqa: ANN202 - internals.LlamaContext
        from llama_cpp import _internals

        current = self._batch_ctx
        if current is not None and current.n_ctx() >= cells and current.params.n_seq_max >= n_seq:
            return current
        params = self._c.llama_context_default_params()
        params.n_ctx = max(cells, self.settings.context_tokens)
        params.n_batch = 512
        params.n_ubatch = 512
        params.n_seq_max = max(n_seq, 8)
        params.kv_unified = True  # one pool of cells: the shared prompt is stored once for every sequence
        params.n_threads = params.n_threads_batch = self.threads
        if current is not None:
            current.close()
        self._batch_ctx = _internals.LlamaContext(model=self.llm._model, params=params, verbose=False)
        self._batch_ctx_adapter = "unset"
        return self._batch_ctx

    def _sampler(self, params: GenerationParams, seed: int):  # noqa: ANN202 - llama_sampler pointer
        c = self._c
        chain = c.llama_sampler_chain_init(c.llama_sampler_chain_default_params())
        penalties = c.llama_sampler_init_penalties(self.llm.n_vocab(), 64, float(params.repetition_penalty), 0.0, 0.0)
        c.llama_sampler_chain_add(chain, penalties)
        if params.greedy:
            c.llama_sampler_chain_add(chain, c.llama_sampler_init_greedy())
            return chain
        if params.top_k:
            c.llama_sampler_chain_add(chain, c.llama_sampler_init_top_k(int(params.top_k)))
        c.llama_sampler_chain_add(chain, c.llama_sampler_init_top_p(float(params.top_p), 1))
        c.llama_sampler_chain_add(chain, c.llama_sampler_init_temp(float(params.temperature)))
        c.llama_sampler_chain_add(chain, c.llama_sampler_init_dist(seed))
        return chain

    def stream_many(
        self,
        prompt: str,
        params: GenerationParams,
        n: int,
        adapter: str | None = None,
        stop_event: threading.Event | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[list[str]]:
        """Sample `n` replies to one prompt side by side: one llama_batch per step with a token of every sequence."""
        from llama_cpp import _internals

        stats = stats if stats is not None else GenerationStats()
        stop_event = stop_event or threading.Event()
        tokens = self._tokens(prompt)
        stats.prompt_tokens = len(tokens)
        self._check_room(len(tokens), params)
        distinct = 1 if params.greedy else n  # greedy rows would all be the same: decode one
        budget = min(int(params.max_new_tokens), self.settings.context_tokens - len(tokens))
        rows: list[list[int]] = [[] for _ in range(distinct)]

        def texts() -> list[str]:
            return [self.tokenizer.decode(row, skip_special_tokens=True) for row in rows] * (n // distinct)

        def produce(emit: Callable[[object], None]) -> None:
            c = self._c
            if self.adapters is not None:
                self.adapters.activate(adapter)  # validates and loads; the batch context is set below
            ctx = self._batch_context(len(tokens) + distinct * budget + 8, distinct)
            self._use_free_cores(ctx.ctx)
            if self._batch_ctx_adapter != self._active:
                self._apply(ctx.ctx, self._active)
                self._batch_ctx_adapter = self._active
            ctx.kv_cache_clear()
            base_seed = int(params.seed) if params.seed is not None else int.from_bytes(os.urandom(4), "little")
            samplers = [self._sampler(params, (base_seed + i) % (2**32 - 1)) for i in range(distinct)]
            batch = _internals.LlamaBatch(n_tokens=max(512, distinct), embd=0, n_seq_max=distinct, verbose=False)
            try:
                # the prompt once, on sequence 0; only its last position needs logits
                for start in range(0, len(tokens), 512):
                    batch.set_batch(tokens[start : start + 512], n_past=start, logits_all=False)
                    ctx.decode(batch)
                last = batch.n_tokens() - 1
                for seq in range(1, distinct):
                    ctx.kv_cache_seq_cp(0, seq, -1, -1)
                picks = [c.llama_sampler_sample(samplers[i], ctx.ctx, last) for i in range(distinct)]
                active = list(range(distinct))
                position = len(tokens)
                for step in range(budget):
                    still = []
                    for seq, token in zip(active, picks, strict=True):
                        if self._is_end(token):
                            continue
                        rows[seq].append(token)
                        stats.tokens += 1
                        still.append((seq, token))
                    if step % 4 == 0:
                        emit(texts())
                    if not still or stop_event.is_set() or step == budget - 1:
                        break
                    b = batch.batch
                    b.n_tokens = len(still)
                    for j, (seq, token) in enumerate(still):
                        b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = token, position, 1, True
                        b.seq_id[j][0] = seq
                    ctx.decode(batch)
                    position += 1
                    active = [seq for seq, _ in still]
                    picks = [c.llama_sampler_sample(samplers[seq], ctx.ctx, j) for j, seq in enumerate(active)]
                emit(texts())
            finally:
                for sampler in samplers:
                    c.llama_sampler_free(sampler)
                batch.close()

        yield from _run_with_model(produce, stop_event, stats)


    # --- several prompts side by side (evaluations) -------------------------------------------------------------
    def generate_many(
        self, prompts: list[str], params: GenerationParams, adapter: str | None = None, group: int = 16
    ) -> list[str]:
        """Whole replies to several prompts, `group` sequences decoded side by side: one llama_batch per step holds
        the next token of every unfinished reply, so a step costs little more than one reply's (decoding is
        memory-bound on a CPU). Their common prompt prefix (the system prompt) is decoded once and shared."""
        out: list[str] = []
        for start in range(0, len(prompts), group):
            rows = [self._tokens(p) for p in prompts[start : start + group]]
            for row in rows:
                self._check_room(len(row), params)
            texts: list[list[str]] = []
            stop_event = threading.Event()
            for texts_so_far in _run_with_model(lambda emit, rows=rows: emit(self._side_by_side(rows, params, adapter)),
                                                stop_event, GenerationStats()):
                texts.append(texts_so_far)
            out.extend(texts[-1])
        return out

    def _side_by_side(self, rows: list[list[int]], params: GenerationParams, adapter: str | None) -> list[str]:
        """Decode replies to the token rows together (the caller's thread holds MODEL_LOCK)."""
        from llama_cpp import _internals

        c = self._c
        if self.adapters is not None:
            self.adapters.activate(adapter)
        budget = min(int(params.max_new_tokens), self.settings.context_tokens - max(len(r) for r in rows))
        shared = _common_prefix(rows)
        cells = shared + sum(len(r) - shared for r in rows) + len(rows) * budget + 8
        ctx = self._batch_context(cells, len(rows))
        self._use_free_cores(ctx.ctx)
        if self._batch_ctx_adapter != self._active:
            self._apply(ctx.ctx, self._active)
            self._batch_ctx_adapter = self._active
        ctx.kv_cache_clear()
        seed = int(params.seed) if params.seed is not None else int.from_bytes(os.urandom(4), "little")
        samplers = [self._sampler(params, (seed + i) % (2**32 - 1)) for i in range(len(rows))]
        batch = _internals.LlamaBatch(n_tokens=512, embd=0, n_seq_max=len(rows), verbose=False)
        replies: list[list[int]] = [[] for _ in rows]
        picks: dict[int, int] = {}  # sequence -> its next token
        try:
            _decode_prefix_for_all(ctx, batch, rows[0][:shared], len(rows))
            # each row's own tail, packed 512 tokens per decode; a row's first reply token is sampled from the
            # logits of its last prompt token, before the next decode overwrites them
            pending = [(seq, pos) for seq, r in enumerate(rows) for pos in range(shared, len(r))]
            for first in range(0, len(pending), 512):
                self._decode_tokens(ctx, batch, [(seq, pos, rows[seq][pos], pos == len(rows[seq]) - 1)
                                                 for seq, pos in pending[first : first + 512]], samplers, picks)
            position = {seq: len(r) for seq, r in enumerate(rows)}
            for _ in range(budget):
                live = [(seq, tok) for seq, tok in sorted(picks.items()) if not self._is_end(tok)]
                for seq, tok in live:
                    replies[seq].append(tok)
                picks = {}
                live = [(seq, tok) for seq, tok in live if len(replies[seq]) < budget]
                if not live:
                    break
                self._decode_tokens(ctx, batch, [(seq, position[seq], tok, True) for seq, tok in live], samplers, picks)
                for seq, _ in live:
                    position[seq] += 1
        finally:
            for sampler in samplers:
                c.llama_sampler_free(sampler)
            batch.close()
        return [self.tokenizer.decode(reply, skip_special_tokens=True) for reply in replies]

    def _decode_tokens(self, ctx, batch, items: list[tuple[int, int, int, bool]], samplers: list,  # noqa: ANN001
                       picks: dict[int, int]) -> None:
        """One llama_decode of (sequence, position, token, wants logits) items; samples where logits were asked."""
        b = batch.batch
        b.n_tokens = len(items)
        for j, (seq, pos, token, wants) in enumerate(items):
            b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = token, pos, 1, wants
            b.seq_id[j][0] = seq
        ctx.decode(batch)
        for j, (seq, _, _, wants) in enumerate(items):
            if wants:
                picks[seq] = self._c.llama_sampler_sample(samplers[seq], ctx.ctx, j)

    # --- scoring (the reranker's relevance judgement) ----------------------------------------------------------
    def choice_logprobs(self, prompts: list[str], choices: list[str]) -> list[list[float]]:
        """Per prompt, log P(first token of each choice) at the next position, under the base model.

        All prompts are decoded side by side on a context of their own (the chat's prompt cache stays as it was):
        their common token prefix once on sequence 0, copied to the others, then each prompt's own tail, with
        logits only at each prompt's last token. The caller holds MODEL_LOCK (a synchronous call).
        """
        import numpy as np
        from llama_cpp import _internals

        c = self._c
        rows = [self._tokens(p) for p in prompts]
        if not rows:
            return []
        choice_ids = [self._tokens(choice)[0] for choice in choices]
        shared = _common_prefix(rows)
        n_vocab = self.llm.n_vocab()
        out: list[list[float]] = [[] for _ in rows]
        group = 16  # sequences per round (one context sized for them)
        for start in range(0, len(rows), group):
            part = rows[start : start + group]
            cells = shared + sum(len(r) - shared for r in part) + 8
            if self._score_ctx is None or self._score_ctx.n_ctx() < cells:
                if self._score_ctx is not None:
                    self._score_ctx.close()
                params = c.llama_context_default_params()
                params.n_ctx = max(cells, 4096)
                params.n_batch = params.n_ubatch = 512
                params.n_seq_max = group
                params.kv_unified = True
                params.n_threads = params.n_threads_batch = self.threads
                self._score_ctx = _internals.LlamaContext(model=self.llm._model, params=params, verbose=False)
            ctx = self._score_ctx
            self._use_free_cores(ctx.ctx)
            ctx.kv_cache_clear()
            batch = _internals.LlamaBatch(n_tokens=512, embd=0, n_seq_max=group, verbose=False)
            try:
                _decode_prefix_for_all(ctx, batch, part[0][:shared], len(part))
                pending = [(seq, pos) for seq, r in enumerate(part) for pos in range(shared, len(r))]
                for first in range(0, len(pending), 512):
                    b = batch.batch
                    b.n_tokens = 0
                    wanted: list[tuple[int, int]] = []  # (sequence, index in this batch)
                    for j, (seq, pos) in enumerate(pending[first : first + 512]):
                        last = pos == len(part[seq]) - 1
                        b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = part[seq][pos], pos, 1, last
                        b.seq_id[j][0] = seq
                        b.n_tokens = j + 1
                        if last:
                            wanted.append((seq, j))
                    ctx.decode(batch)
                    for seq, j in wanted:
                        logits = np.ctypeslib.as_array(c.llama_get_logits_ith(ctx.ctx, j), shape=(n_vocab,))
                        top = float(logits.max())
                        log_z = top + float(np.log(np.exp(logits - top).sum()))
                        out[start + seq] = [float(logits[t]) - log_z for t in choice_ids]
            finally:
                batch.close()
        return out


def _common_prefix(rows: list[list[int]]) -> int:
    """Length of the token prefix all rows share, leaving every row at least its last token of its own."""
    shared = 0
    while all(len(r) > shared + 1 for r in rows) and len({r[shared] for r in rows}) == 1:
        shared += 1
    return shared


def _decode_prefix_for_all(ctx, batch, prefix: list[int], n_seq: int) -> None:  # noqa: ANN001 - llama internals
    """Decode `prefix` once on sequence 0 (no logits needed) and copy its cache cells to sequences 1..n_seq-1."""
    for pos in range(0, len(prefix), 512):
        piece = prefix[pos : pos + 512]
        batch.set_batch(piece, n_past=pos, logits_all=False)
        batch.batch.logits[len(piece) - 1] = False
        ctx.decode(batch)
    for seq in range(1, n_seq):
        ctx.kv_cache_seq_cp(0, seq, -1, -1)


# llama.cpp's `general.file_type` numbers for the quantizations one meets in practice
_FILE_TYPES = {"0": "-f32", "1": "-f16", "2": "-q4_0", "7": "-q8_0", "15": "-q4_k_m", "17": "-q5_k_m", "18": "-q6_k"}
