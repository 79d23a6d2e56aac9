"""The remote backend: any OpenAI-compatible server decodes (vLLM with multi-LoRA on a GPU box, or this app's own
/v1 on another machine); chat, CoT, self-consistency (`n`) and tool decisions run there.

Decided: prompts are rendered here, with the model's own chat template (`PromptBuilder`), and sent as text to
`/v1/completions`; we never send `messages` to `/v1/chat/completions`. So the remote model sees exactly the prompt
the local backends would build: the CoT prefix that opens the assistant turn, the tool-decision prompt the
`tools` adapter was trained on, the context-window budget, and the `model_input` stored for training from votes.
That needs the tokenizer (a few MB, no weights) on this machine: the packaged model's, or
`ASSISTANT_REMOTE_TOKENIZER` for another model.

Adapters are the server's model ids: `<base>:<adapter>` for our own server, `<adapter>` for vLLM started with
`--lora-modules <adapter>=<path>` (`ASSISTANT_REMOTE_ADAPTER_FORMAT={adapter}`), or an explicit mapping
(`ASSISTANT_REMOTE_ADAPTERS='{"concise": "my-concise"}'`). The local `adapters/` folder stays the catalogue
(cards, promotion); an adapter the server does not serve is a clear error naming what it does serve.
JSON-schema output goes as `response_format` (vLLM and our server accept it on completions); `n` goes as `n`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from assistant.config import Settings
from assistant.llm.base import BiasAfter, GenerationParams, GenerationStats, InputError, PromptBuilder
from assistant.llm.llamacpp_engine import EngineInfo


class RemoteError(RuntimeError):
    """The remote server could not be reached or refused a request; the message says which and why."""


def load_remote_tokenizer(settings: Settings):  # noqa: ANN201 - PreTrainedTokenizerBase
    """The chat template's tokenizer: ASSISTANT_REMOTE_TOKENIZER, the packaged model's, or a local HF folder."""
    from transformers import AutoTokenizer

    from assistant.llm.packaged import canonical_model_name, packaged_model

    if settings.remote_tokenizer:
        return AutoTokenizer.from_pretrained(settings.remote_tokenizer)
    spec = canonical_model_name(settings.model)
    packaged = packaged_model(spec)
    if packaged is not None:
        from assistant.llm.loader import load_gguf_tokenizer
        from assistant.llm.packaged import assemble

        cache = settings.models_dir / packaged.folder
        for folder in (cache / "hf", cache / "tokenizer"):
            if (folder / "tokenizer_config.json").exists():
                return AutoTokenizer.from_pretrained(str(folder))
        return load_gguf_tokenizer(assemble(packaged, cache), cache)
    if Path(spec).expanduser().is_dir():
        return AutoTokenizer.from_pretrained(str(Path(spec).expanduser()))
    raise RemoteError(
        f"the remote engine renders prompts locally and needs the tokenizer of {spec!r}: set "
        "ASSISTANT_REMOTE_TOKENIZER to a folder holding its tokenizer files (tokenizer.json, tokenizer_config.json)"
    )


class RemoteEngine(PromptBuilder):
    kind = "remote"

    def __init__(self, settings: Settings, tokenizer=None, client: httpx.Client | None = None) -> None:  # noqa: ANN001
        from assistant.llm.packaged import canonical_model_name

        if not settings.remote_url:
            raise RemoteError("ASSISTANT_ENGINE=remote needs ASSISTANT_REMOTE_URL (e.g. http://gpu-box:8000/v1)")
        started = time.perf_counter()
        self.settings = settings
        self.url = settings.remote_url.rstrip("/")
        self.base = settings.remote_model or canonical_model_name(settings.model)
        headers = {"Authorization": f"Bearer {settings.remote_key}"} if settings.remote_key else {}
        self.client = client or httpx.Client(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(settings.remote_timeout_s, connect=10.0)
        )
        self.tokenizer = tokenizer if tokenizer is not None else load_remote_tokenizer(settings)
        self.adapters = None  # set by AdapterRegistry.attach()
        self._served: set[str] | None = None
        self._served_lock = threading.Lock()  # guards _served
        served = self.served_models()
        if self.base not in served:
            raise RemoteError(
                f"the remote server at {self.url} does not serve the base model {self.base!r} (it serves: "
                f"{', '.join(sorted(served)) or 'nothing'}); set ASSISTANT_REMOTE_MODEL to its id"
            )
        self.loaded = EngineInfo(
            name=canonical_model_name(settings.model), path=self.url, quant="remote", device="remote",
            load_seconds=time.perf_counter() - started,
            notes=[f"remote OpenAI-compatible server {self.url}, base model id {self.base!r}"],
        )

    @property
    def name(self) -> str:
        return self.loaded.name

    # --- the server's model ids ------------------------------------------------------------------------------
    def served_models(self, refresh: bool = False) -> set[str]:
        with self._served_lock:
            if self._served is None or refresh:
                try:
                    response = self.client.get("/models")
                except httpx.HTTPError as exc:
                    raise RemoteError(f"the remote server at {self.url} is unreachable: {exc}") from exc
                if response.status_code != 200:
                    raise RemoteError(f"the remote server at {self.url} answered /models with "
                                      f"{response.status_code}: {response.text[:200]}")
                self._served = {m["id"] for m in response.json().get("data", [])}
            return set(self._served)

    def model_id(self, adapter: str | None) -> str:
        if not adapter:
            return self.base
        return self.settings.remote_adapters.get(adapter) or self.settings.remote_adapter_format.format(
            base=self.base, adapter=adapter)

    def _check_adapter(self, adapter: str | None) -> str:
        model = self.model_id(adapter)
        if adapter and model not in self.served_models() and model not in self.served_models(refresh=True):
            raise InputError(
                f"adapter {adapter!r} is not served by the remote server at {self.url} (looked for model id "
                f"{model!r}; it serves: {', '.join(sorted(self.served_models()))}). On vLLM, add --lora-modules "
                f"{adapter}=/path/to/adapters/{adapter} (and ASSISTANT_REMOTE_ADAPTER_FORMAT={{adapter}})"
            )
        return model

    # --- adapters (called by AdapterRegistry): nothing to load here, only to check the server has it -------------
    def load_adapter(self, name: str, folder: str) -> None:
        self._check_adapter(name)

    def set_active_adapter(self, name: str | None, any_loaded: bool) -> None:
        """Nothing to switch: every request names its adapter's model id."""

    def unload_adapter(self, name: str, remaining: list[str]) -> None:
        """Nothing to free on this side."""

    # --- generation ----------------------------------------------------------------------------------------------
    def _body(self, prompt: str, params: GenerationParams, adapter: str | None, n: int,
              json_schema: dict | None) -> dict:
        if self.adapters is not None and adapter:
            self.adapters.check_compatible(adapter)  # our catalogue: unknown or wrong-base adapters named here
        tokens = self.count_tokens(prompt)
        if tokens + 1 > self.settings.context_tokens:
            raise InputError(f"the prompt has {tokens} tokens; the context window is {self.settings.context_tokens}")
        body: dict = {
            "model": self._check_adapter(adapter),
            "prompt": prompt,
            "max_tokens": min(int(params.max_new_tokens), self.settings.context_tokens - tokens),
            "temperature": float(params.temperature),
            "top_p": float(params.top_p) if params.temperature > 0 else 1.0,
            "n": n,
            "stream": True,
            "stream_options": {"include_usage": True},
            # vLLM's sampling extensions (our server accepts the same names)
            "top_k": int(params.top_k) if params.top_k else -1,  # -1: off (vLLM's spelling; ours takes it too)
            "repetition_penalty": float(params.repetition_penalty),
        }
        if params.seed is not None:
            body["seed"] = int(params.seed)
        if json_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": json_schema}}
        return body

    def _events(self, body: dict, stop_event: threading.Event, stats: GenerationStats) -> Iterator[dict]:
        """The server's stream chunks (parsed), until [DONE], a stop, or a closed generator."""
        started = time.perf_counter()
        finished = False
        try:
            with self.client.stream("POST", "/completions", json=body) as response:
                if response.status_code != 200:
                    text = response.read().decode("utf-8", "replace")
                    try:
                        message = json.loads(text)["error"]["message"]
                    except (ValueError, KeyError, TypeError):
                        message = text[:300]
                    error = InputError if response.status_code in (400, 404, 413) else RemoteError
                    raise error(f"remote server ({response.status_code}): {message}")
                for line in response.iter_lines():
                    if stop_event.is_set():
                        break
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        finished = True
                        break
                    chunk = json.loads(data)
                    if "error" in chunk:
                        raise RemoteError(f"remote server: {chunk['error'].get('message')}")
                    if chunk.get("usage"):
                        stats.prompt_tokens = chunk["usage"].get("prompt_tokens", stats.prompt_tokens)
                        stats.tokens = chunk["usage"].get("completion_tokens", stats.tokens)
                    if chunk.get("choices") and stats.first_token_seconds is None:
                        stats.first_token_seconds = time.perf_counter() - started
                    yield chunk
        except httpx.HTTPError as exc:
            raise RemoteError(f"the remote server at {self.url} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            stats.stopped = stop_event.is_set() or not finished
            stats.seconds = time.perf_counter() - started

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
        """Yield text pieces as the server streams them; `json_schema` constrains the output (server grammar).

        `bias` is not sent: an OpenAI-style `logit_bias` applies at every position, not at one, so a remote
        server decides tools without the prior towards "none" (docs/architecture.md)."""
        stats = stats if stats is not None else GenerationStats()
        stop_event = stop_event or threading.Event()
        body = self._body(prompt, params, adapter, 1, json_schema)
        pieces = 0
        for chunk in self._events(body, stop_event, stats):
            for choice in chunk.get("choices", []):
                text = choice.get("text") or ""
                if text:
                    pieces += 1
                    yield text
        stats.tokens = stats.tokens or pieces

    def stream_many(
        self,
        prompt: str,
        params: GenerationParams,
        n: int,
        adapter: str | None = None,
        stop_event: threading.Event | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[list[str]]:
        """`n` replies to one prompt in one request (`n`); yields every reply's text so far."""
        stats = stats if stats is not None else GenerationStats()
        stop_event = stop_event or threading.Event()
        body = self._body(prompt, params, adapter, n, None)
        texts = [""] * n
        for chunk in self._events(body, stop_event, stats):
            changed = False
            for choice in chunk.get("choices", []):
                index = int(choice.get("index", 0))
                if 0 <= index < n and choice.get("text"):
                    texts[index] += choice["text"]
                    changed = True
            if changed:
                yield list(texts)
        yield list(texts)
