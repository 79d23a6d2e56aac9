"""Pick and load the serving engine the settings ask for (`ASSISTANT_ENGINE`): llama.cpp, torch or remote."""

from __future__ import annotations

import hashlib
from pathlib import Path

from assistant.config import Settings
from assistant.llm.packaged import packaged_model


def gguf_cache_folder(gguf: Path) -> str:
    """The models-dir folder of a GGUF given by path (its tokenizer, its torch conversion): named after the file
    and its full path, so two different files that are both called `model.gguf` never share a tokenizer."""
    path = Path(gguf).expanduser().resolve()
    return f"{path.stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def gguf_with_tokenizer(settings: Settings):  # noqa: ANN201 - (name, GGUF path, HF tokenizer)
    """The GGUF the settings name (assembled and verified if packaged) and its chat tokenizer, cached once."""
    from assistant.llm.loader import load_gguf_tokenizer, resolve_gguf

    name, gguf = resolve_gguf(settings)
    packaged = packaged_model(name)
    cache = settings.models_dir / (packaged.folder if packaged else gguf_cache_folder(gguf))
    return name, gguf, load_gguf_tokenizer(gguf, cache)


def load_engine(settings: Settings):  # noqa: ANN201 - LlamaCppEngine | TorchEngine | RemoteEngine
    """Load the model once with the chosen backend; every caller then talks to it through the same interface."""
    kind = settings.resolved_engine()
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    if kind == "llamacpp":
        from assistant.llm.llamacpp_engine import LlamaCppEngine

        name, gguf, tokenizer = gguf_with_tokenizer(settings)
        return LlamaCppEngine(gguf, tokenizer, settings, name)
    if kind == "torch":
        from assistant.llm.engine import TorchEngine
        from assistant.llm.loader import load_model

        return TorchEngine(load_model(settings), settings)
    if kind == "remote":
        from assistant.llm.remote_engine import RemoteEngine

        return RemoteEngine(settings)
    raise NotImplementedError(f"ASSISTANT_ENGINE={kind!r} is not available (llamacpp, torch, remote)")


class LocalModelRequired(RuntimeError):
    """A job needs the model's weights on this machine (torch), which a remote-only install does not have."""


def require_local_model(settings: Settings, job: str) -> None:
    """Fail at once, with what to do, when `job` (training, reward scoring) cannot run on this install.

    With ASSISTANT_ENGINE=remote chat runs on the server, but training and reward scoring still load the torch model
    here: that works when the model's weights are available locally (the packaged model always is), and fails
    clearly when they are not.
    """
    if settings.resolved_engine() != "remote":
        return
    from assistant.llm.loader import resolve_source
    from assistant.llm.packaged import ModelSourceError

    try:
        resolve_source(settings)
    except ModelSourceError as exc:
        raise LocalModelRequired(
            f"{job} needs the model's weights on this machine (it trains or scores with torch), but this install "
            f"serves chat from {settings.remote_url} (ASSISTANT_ENGINE=remote) and has no local copy of "
            f"{settings.model!r} ({exc}). Run {job} on a machine with the weights (e.g. the GPU box), or set "
            "ASSISTANT_MODEL to a local folder or GGUF of the same base model."
        ) from exc
