"""The process's one LLM: prompt building within the context window and streamed generation behind a lock."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer
from transformers.generation.streamers import BaseStreamer

from assistant.config import Settings
from assistant.llm.loader import LoadedModel

# One generation at a time: the model, its KV memory and the active adapter are shared by every session.
GENERATION_LOCK = threading.RLock()


class InputError(ValueError):
    """Bad user input (empty, too long, invalid setting): shown to the user, never a crash."""


@dataclass
class GenerationParams:
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    max_new_tokens: int = 512
    repetition_penalty: float = 1.05
    seed: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> GenerationParams:
        base = cls(
            settings.temperature, settings.top_p, settings.top_k, settings.max_new_tokens, settings.repetition_penalty
        )
        known = cls.__dataclass_fields__
        params = cls(**{**asdict(base), **{k: v for k, v in overrides.items() if v is not None and k in known}})
        return params.validated(settings)

    def validated(self, settings: Settings) -> GenerationParams:
        """Check ranges; a bad value is an InputError naming the setting and its allowed range."""
        checks = [
            ("temperature", 0.0 <= float(self.temperature) <= 2.0, "0 to 2"),
            ("top_p", 0.0 < float(self.top_p) <= 1.0, "above 0, at most 1"),
            ("top_k", int(self.top_k) >= 0, "0 or more"),
            (
                "max_new_tokens",
                1 <= int(self.max_new_tokens) <= settings.max_new_tokens_cap,
                f"1 to {settings.max_new_tokens_cap}",
            ),
            ("repetition_penalty", 1.0 <= float(self.repetition_penalty) <= 2.0, "1 to 2"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise InputError(f"{name}={getattr(self, name)!r} is out of range ({allowed})")
        return self

    def to_generate_kwargs(self) -> dict:
        sample = self.temperature > 0
        kwargs: dict = {
            "max_new_tokens": int(self.max_new_tokens),
            "do_sample": sample,
            "repetition_penalty": float(self.repetition_penalty),
        }
        if sample:
            kwargs.update(temperature=float(self.temperature), top_p=float(self.top_p), top_k=int(self.top_k))
        else:  # greedy: silence the model's sampling defaults
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float | None = None
    stopped: bool = False
    truncated_notice: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        decode = self.seconds - (self.first_token_seconds or 0.0)
        return (self.tokens - 1) / decode if self.tokens > 1 and decode > 0 else 0.0


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


class LLMEngine:
    """Wraps a loaded model: builds prompts with the chat template and streams replies."""

    def __init__(self, loaded: LoadedModel, settings: Settings) -> None:
        self.loaded = loaded
        self.settings = settings
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.adapters = None  # set by AdapterRegistry.attach(); activates adapters under GENERATION_LOCK

    @property
    def name(self) -> str:
        return self.loaded.name

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def build_prompt(
        self, messages: list[dict], max_new_tokens: int, prefix: str = "", tools: list[dict] | None = None
    ) -> tuple[str, str]:
        """Apply the chat template, dropping old turns and cutting an over-long message to fit the window.

        Returns (prompt text, notice) where the notice says what was cut (empty when nothing was).
        """
        budget = self.settings.context_tokens - max_new_tokens - 16
        if budget < 64:
            raise InputError(
                f"max_new_tokens={max_new_tokens} leaves no room in the {self.settings.context_tokens}-"
                "token context window"
            )
        messages = [dict(m) for m in messages]
        notices: list[str] = []

        def render(msgs: list[dict]) -> str:
            return (
                self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, tools=tools)
                + prefix
            )

        prompt = render(messages)
        n_tokens = self.count_tokens(prompt)
        dropped = 0
        # Drop the oldest non-system turns first: the latest question matters most.
        while n_tokens > budget and len([m for m in messages if m["role"] != "system"]) > 1:
            index = next(i for i, m in enumerate(messages) if m["role"] != "system")
            messages.pop(index)
            dropped += 1
            prompt = render(messages)
            n_tokens = self.count_tokens(prompt)
        if dropped:
            notices.append(f"{dropped} earlier message(s) left out to fit the context window")
        if n_tokens > budget:
            last = messages[-1]
            ids = self.tokenizer(last["content"], add_special_tokens=False)["input_ids"]
            keep = max(16, len(ids) - (n_tokens - budget) - 8)
            last["content"] = self.tokenizer.decode(ids[:keep])
            notices.append(
                f"your message was cut from {len(ids):,} to {keep:,} tokens to fit the "
                f"{self.settings.context_tokens:,}-token context window"
            )
            prompt = render(messages)
        return prompt, "; ".join(notices)

    def stream(
        self,
        prompt: str,
        params: GenerationParams,
        adapter: str | None = None,
        stop_event: threading.Event | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[str]:
        """Yield text pieces as they are decoded. Holds GENERATION_LOCK for the whole generation."""
        stats = stats if stats is not None else GenerationStats()
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        outputs: list[torch.Tensor] = []
        for piece in self._generating(prompt, params, adapter, stop_event, stats, streamer, outputs):
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
        distinct = n if params.temperature > 0 else 1  # greedy rows would all be the same: decode one
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
        """Run generate() in a worker thread under GENERATION_LOCK and yield what the streamer hands over."""
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
        errors: list[BaseException] = []
        with GENERATION_LOCK:
            if self.adapters is not None:
                self.adapters.activate(adapter)
            elif adapter:
                raise InputError(f"adapter {adapter!r} requested but adapters are not available")
            if params.seed is not None:
                torch.manual_seed(int(params.seed))

            def run() -> None:
                try:
                    with torch.inference_mode():
                        outputs.append(self.model.generate(**kwargs))
                except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer thread
                    errors.append(exc)
                    streamer.end()

            started = time.perf_counter()
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
                    # A closed generator (client gone, Stop) must not leave generate() running under the lock.
                    stats.stopped = True
                    stop_event.set()
                worker.join()
                stats.seconds = time.perf_counter() - started
        if errors:
            raise errors[0]

    def generate(
        self, prompt: str, params: GenerationParams, adapter: str | None = None
    ) -> tuple[str, GenerationStats]:
        stats = GenerationStats()
        text = "".join(self.stream(prompt, params, adapter, stats=stats))
        return text, stats
