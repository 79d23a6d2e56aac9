"""What every engine backend shares: generation settings, statistics, and prompt building with the chat template.

The chat template, the context-window budget and what gets cut are the same whichever backend decodes, so the
backends (torch, llama.cpp, remote) inherit `PromptBuilder` and differ only in how they turn a prompt into tokens.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import asdict, dataclass, field

from assistant.config import Settings

# Exclusive use of the in-process model (its KV memory and its active adapter) by one thread at a time.
# Only ever taken *inside* the thread that runs the model (or for a synchronous call that never yields):
# a generator that yields while holding it can be resumed on another thread by Gradio, and a lock released by
# another thread than its owner raises and stays held for good.
MODEL_LOCK = threading.RLock()


GREEDY_BELOW = 1e-3


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

    @property
    def greedy(self) -> bool:
        """A temperature this close to 0 is greedy: dividing logits by 1e-300 gives NaN probabilities."""
        return float(self.temperature) < GREEDY_BELOW

    def to_generate_kwargs(self) -> dict:
        sample = not self.greedy
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


@dataclass(frozen=True)
class BiasAfter:
    """Add `bias` to the logits of the tokens that write `word` right after `after` (whitespace aside).

    A logit bias bound to one position, unlike an API's `logit_bias`: the tool decision uses it as a prior towards
    `{"tool": "none"}` where the tool's name is written (see `Settings.tool_none_bias`). The model still decides;
    the bias moves its threshold for calling a tool, as a classifier's decision threshold does. A tokenizer may
    write the opening quote on its own (`"`, `none`) or merged with the name's start (`"c`): where the quote is
    next, the lone quote is favoured, and then the word. A tool whose name shares the word's first letters gets the
    bias on those letters too."""

    after: str
    word: str
    bias: float

    def token_ids(self, tokenizer, output: str) -> list[int]:  # noqa: ANN001 - HF tokenizer
        """The tokens to bias at this step, given the output so far (none where the name is not next)."""
        tail, marker = "".join(output.split()), "".join(self.after.split())
        if tail.endswith(marker):
            return _tokens_starting(tokenizer, f'"{self.word}')
        if tail.endswith(marker + '"'):
            return _tokens_starting(tokenizer, self.word)
        return []


@functools.lru_cache(maxsize=8)
def _tokens_starting(tokenizer, prefix: str) -> list[int]:  # noqa: ANN001 - HF tokenizer
    """Vocabulary ids that begin writing `prefix`: their text, leading whitespace aside, is a start of it (`"`,
    `"n`, `no`, `none`) or runs on past it (`none"`). One pass over the vocabulary, then cached."""
    ids = []
    for i in range(len(tokenizer)):
        text = tokenizer.decode([i]).lstrip()
        if text and (prefix.startswith(text) or text.startswith(prefix)):
            ids.append(i)
    return ids


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


class PromptBuilder:
    """Chat-template rendering within the context window; needs `self.tokenizer` (HF) and `self.settings`."""

    settings: Settings

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
            n_tokens = self.count_tokens(prompt)
        if n_tokens > budget:  # the system prompt (with its sources) alone leaves no room: cutting cannot help
            raise InputError(
                f"the system prompt takes most of the {self.settings.context_tokens:,}-token context window "
                f"({n_tokens:,} tokens with your message cut short, {max_new_tokens} kept for the reply): "
                "shorten the system prompt"
            )
        return prompt, "; ".join(notices)

    def generate(
        self,
        prompt: str,
        params: GenerationParams,
        adapter: str | None = None,
        json_schema: dict | None = None,
        bias: BiasAfter | None = None,
    ) -> tuple[str, GenerationStats]:
        """The whole reply at once: the backend's own `stream`, joined."""
        stats = GenerationStats()
        pieces = self.stream(prompt, params, adapter, stats=stats, json_schema=json_schema, bias=bias)  # type: ignore[attr-defined]
        return "".join(pieces), stats

    def generate_many(self, prompts: list[str], params: GenerationParams, adapter: str | None = None) -> list[str]:
        """Whole replies to several prompts (evaluations: the gate, benchmarks); one after another here, side by side
        where the backend can batch different prompts (llama.cpp)."""
        return [self.generate(prompt, params, adapter)[0] for prompt in prompts]
