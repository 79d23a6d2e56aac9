"""The torch backend: transformers + peft (+ bitsandbytes on CUDA). Serves on CUDA, trains, scores log-probs.

Generation runs in a worker thread that takes `MODEL_LOCK` itself; the caller's generator only reads a queue. So
no lock is ever held across a `yield` (Gradio may resume a generator on another thread).
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Iterator

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer
from transformers.generation.streamers import BaseStreamer

from assistant.config import Settings
from assistant.llm.base import (
    MODEL_LOCK,
    BiasAfter,
    GenerationParams,
    GenerationStats,
    InputError,
    PromptBuilder,
)
from assistant.llm.loader import LoadedModel

__all__ = ["MODEL_LOCK", "GENERATION_LOCK", "GenerationParams", "GenerationStats", "InputError", "TorchEngine"]

GENERATION_LOCK = MODEL_LOCK  # the old name, for scripts that take the model for a synchronous forward pass


class _BatchStreamer(BaseStreamer):
    """Hands each decoding step's new token ids (one per row) of a batched generate() to the consumer thread."""

    def __init__(self) -> None:
        self.steps: queue.Queue = queue.Queue()
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first puts the prompt ids
            self.prompt_seen = True
            return
        self.steps.put(value.view(-1).tolist())

    def end(self) -> None:
        self.steps.put(None)

    def __iter__(self) -> Iterator[list[int]]:
        while (step := self.steps.get(timeout=600)) is not None:
            yield step


class _StopOnEvent(StoppingCriteria):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids, scores, **kwargs) -> bool:  # noqa: ANN001
        return self.event.is_set()


@functools.lru_cache(maxsize=4)
def _enforcer_tokenizer_data(tokenizer):  # noqa: ANN001, ANN202 - HF tokenizer -> TokenEnforcerTokenizerData
    """lm-format-enforcer's view of the vocabulary (each token's text, and whether it starts a word); built once.

    Its own transformers integration imports a module transformers 5 no longer has, so this mirrors it.
    """
    from lmformatenforcer import TokenEnforcerTokenizerData

    zero = tokenizer.encode("0", add_special_tokens=False)[-1]
    special = set(tokenizer.all_special_ids)
    regular = []
    for token in range(len(tokenizer)):
        if token in special:
            continue
        after_zero = tokenizer.decode([zero, token])[1:]
        regular.append((token, after_zero, len(after_zero) > len(tokenizer.decode([token]))))
    ends = [t for t in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")) if isinstance(t, int)]

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids).rstrip("\ufffd")

    return TokenEnforcerTokenizerData(regular, decode, sorted(set(ends)), False, len(tokenizer))


def bias_after_processor(tokenizer, bias: BiasAfter, n_prompt: int):  # noqa: ANN001, ANN201 - a LogitsProcessor
    """`bias` as generate()'s logits processor, row by row on the output decoded so far."""
    from transformers import LogitsProcessor

    class _BiasAfter(LogitsProcessor):
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            for row, ids in enumerate(input_ids):
                output = tokenizer.decode(ids[n_prompt:].tolist()[-32:], skip_special_tokens=True)
                ids_to_bias = bias.token_ids(tokenizer, output)
                if ids_to_bias:
                    scores[row, ids_to_bias] += bias.bias
            return scores

    return _BiasAfter()


def json_schema_constraint(tokenizer, schema: dict):  # noqa: ANN001, ANN201 - prefix_allowed_tokens_fn
    """generate()'s `prefix_allowed_tokens_fn` that only lets through JSON valid under `schema` (lm-format-enforcer)."""
    from lmformatenforcer import CharacterLevelParserConfig, JsonSchemaParser, TokenEnforcer

    # bounded whitespace, as llama.cpp's JSON grammar has: an unsure model cannot pad until its token budget ends
    parser = JsonSchemaParser(schema, config=CharacterLevelParserConfig(max_consecutive_whitespaces=2))
    enforcer = TokenEnforcer(_enforcer_tokenizer_data(tokenizer), parser)

    def allowed(batch_id: int, sent: torch.Tensor) -> list[int]:
        return enforcer.get_allowed_tokens(sent.tolist()).allowed_tokens

    return allowed


class TorchEngine(PromptBuilder):
    """Wraps a loaded transformers model: builds prompts with the chat template and streams replies."""

    kind = "torch"

    def __init__(self, loaded: LoadedModel, settings: Settings) -> None:
        self.loaded = loaded
        self.settings = settings
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.adapters = None  # set by AdapterRegistry.attach()

    @property
    def name(self) -> str:
        return self.loaded.name

    # --- adapters (called by AdapterRegistry with MODEL_LOCK held, in the thread that runs the model) ---------
    def load_adapter(self, name: str, folder: str) -> None:
        from peft import PeftModel

        if isinstance(self.model, PeftModel):
            self.model.load_adapter(folder, adapter_name=name)
        else:
            self.model = PeftModel.from_pretrained(self.model, folder, adapter_name=name)
            self.model.eval()

    def set_active_adapter(self, name: str | None, any_loaded: bool) -> None:
        if name is None:
            if any_loaded:
                self.model.base_model.disable_adapter_layers()
            return
        self.model.base_model.enable_adapter_layers()
        self.model.set_adapter(name)

    def unload_adapter(self, name: str, remaining: list[str]) -> None:
        if remaining:
            self.model.delete_adapter(name)
            self.model.set_adapter(remaining[0])
        # peft refuses to delete the last adapter: its weights stay, never activated again
        self.model.base_model.disable_adapter_layers()

    # --- scoring (the reranker's relevance judgement) ----------------------------------------------------------
    def choice_logprobs(self, prompts: list[str], choices: list[str]) -> list[list[float]]:
        """Per prompt, log P(first token of each choice) at the next position, under the base model (one padded
        forward pass for all prompts). The caller holds MODEL_LOCK (a synchronous call)."""
        import contextlib

        from peft import PeftModel

        if not prompts:
            return []
        choice_ids = [self.tokenizer(c, add_special_tokens=False)["input_ids"][0] for c in choices]
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"  # the last position is then every prompt's last token
        try:
            batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            self.tokenizer.padding_side = side
        device = next(self.model.parameters()).device
        base = self.model.disable_adapter() if isinstance(self.model, PeftModel) else contextlib.nullcontext()
        with torch.inference_mode(), base:
            logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits[:, -1, :].float()
        logprobs = torch.log_softmax(logits, dim=-1)[:, choice_ids]
        return logprobs.cpu().tolist()

    # --- generation -----------------------------------------------------------------------------------------
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
        from transformers import LogitsProcessorList

        stats = stats if stats is not None else GenerationStats()
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        outputs: list[torch.Tensor] = []
        extra: dict = {}
        if json_schema is not None:
            extra["prefix_allowed_tokens_fn"] = json_schema_constraint(self.tokenizer, json_schema)
        if bias is not None and bias.bias:
            n_prompt = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
            extra["logits_processor"] = LogitsProcessorList([bias_after_processor(self.tokenizer, bias, n_prompt)])
        for piece in self._generating(prompt, params, adapter, stop_event, stats, streamer, outputs, **extra):
            if piece:
                yield piece
        if outputs:
            stats.tokens = int(outputs[0].shape[1] - stats.prompt_tokens)

    def stream_many(
        self,
        prompt: str,
        params: GenerationParams,
        n: int,
        adapter: str | None = None,
        stop_event: threading.Event | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[list[str]]:
        """Sample `n` replies to one prompt in a single batched generate(); yield all n texts as they grow.

        Decoding one token is memory-bound on a CPU, so n rows cost little more than one: self-consistency's
        paths run side by side instead of one after another.
        """
        stats = stats if stats is not None else GenerationStats()
        streamer = _BatchStreamer()
        outputs: list[torch.Tensor] = []
        distinct = 1 if params.greedy else n  # greedy rows would all be the same: decode one
        rows: list[list[int]] = [[] for _ in range(distinct)]
        steps = self._generating(
            prompt, params, adapter, stop_event, stats, streamer, outputs, num_return_sequences=distinct
        )
        eos = self.model.generation_config.eos_token_id
        stops = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.pad_token_id}

        def until_eos(ids: list[int]) -> list[int]:
            end = next((i + 1 for i, token in enumerate(ids) if token in stops), len(ids))
            return ids[:end]

        def texts() -> list[str]:
            return [self.tokenizer.decode(until_eos(row), skip_special_tokens=True) for row in rows] * (n // distinct)

        for step, tokens in enumerate(steps):
            for row, token in zip(rows, tokens, strict=True):
                row.append(token)
            if step % 4 == 0:  # re-decoding n rows every token would cost more than it shows
                yield texts()
        yield texts()
        stats.tokens = sum(len(until_eos(row)) for row in rows)

    def _generating(
        self,
        prompt: str,
        params: GenerationParams,
        adapter: str | None,
        stop_event: threading.Event | None,
        stats: GenerationStats,
        streamer: BaseStreamer,
        outputs: list[torch.Tensor],
        **extra: object,
    ) -> Iterator:
        """Run generate() in a worker thread and yield what the streamer hands over.

        The worker takes MODEL_LOCK (activating the adapter and seeding under it) and releases it on its own
        thread; this generator holds nothing, so closing it early (Stop, client gone) only sets the stop event.
        """
        stop_event = stop_event or threading.Event()
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.loaded.device)
        stats.prompt_tokens = int(inputs["input_ids"].shape[1])
        kwargs = dict(
            **inputs,
            streamer=streamer,
            pad_token_id=self.tokenizer.pad_token_id,
            stopping_criteria=StoppingCriteriaList([_StopOnEvent(stop_event)]),
            **params.to_generate_kwargs(),
            **extra,
        )
        if self.adapters is None and adapter:
            raise InputError(f"adapter {adapter!r} requested but adapters are not available")
        errors: list[BaseException] = []
        started = time.perf_counter()

        def run() -> None:
            try:
                with MODEL_LOCK:
                    if stop_event.is_set():  # stopped while waiting for the model
                        streamer.end()
                        return
                    if self.adapters is not None:
                        self.adapters.activate(adapter)
                    if params.seed is not None:
                        torch.manual_seed(int(params.seed))
                    with torch.inference_mode():
                        outputs.append(self.model.generate(**kwargs))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer thread
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name="generate", daemon=True)
        worker.start()
        finished = False
        try:
            for item in streamer:
                if stats.first_token_seconds is None:
                    stats.first_token_seconds = time.perf_counter() - started
                yield item
            finished = True
        finally:
            stats.stopped = stop_event.is_set()
            if not finished:
                # A closed generator (client gone, Stop) must not leave generate() running: it stops at the
                # next token and releases the model on its own thread.
                stats.stopped = True
                stop_event.set()
            else:
                worker.join()
            stats.seconds = time.perf_counter() - started
        if errors:
            raise errors[0]


LLMEngine = TorchEngine  # the name the rest of the code and the tests knew it by
