"""Pick and load the serving engine the settings ask for (`ASSISTANT_ENGINE`): llama.cpp, torch or remote."""

from __future__ import annotations

from assistant.config import Settings
from assistant.llm.packaged import packaged_model


def load_engine(settings: Settings):  # noqa: ANN201 - LlamaCppEngine | TorchEngine
    """Load the model once with the chosen backend; every caller then talks to it through the same interface."""
    kind = settings.resolved_engine()
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    if kind == "llamacpp":
        from assistant.llm.llamacpp_engine import LlamaCppEngine
        from assistant.llm.loader import load_gguf_tokenizer, resolve_gguf

        name, gguf = resolve_gguf(settings)
        packaged = packaged_model(name)
        cache = settings.models_dir / (packaged.folder if packaged else gguf.stem)
        tokenizer = load_gguf_tokenizer(gguf, cache)
        return LlamaCppEngine(gguf, tokenizer, settings, name)
    if kind == "torch":
        from assistant.llm.engine import TorchEngine
        from assistant.llm.loader import load_model

        return TorchEngine(load_model(settings), settings)
    raise NotImplementedError(f"ASSISTANT_ENGINE={kind!r} is not available in this release (llamacpp, torch)")
