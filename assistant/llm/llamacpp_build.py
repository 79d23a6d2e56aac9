"""Loading a GGUF with llama-cpp-python so that it runs on the llama.cpp build this machine compiled.

`make install` compiles llama.cpp for the CPU it runs on (GGML_NATIVE). On a CPU with AMX (Sapphire Rapids and
later) that build puts the weights into llama.cpp's AMX buffer type, and decoding a Qwen2.5 Q4_K_M GGUF from it
crashes the process (SIGSEGV on the first token; llama-cpp-python 0.3.36). The extra buffer types are only an
optimisation (weight repacking), so on such a build they are turned off; the weights stay in plain CPU buffers.
llama-cpp-python does not expose `use_extra_bufts` as an argument of `Llama`, hence the narrow patch below.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

_PATCH_LOCK = threading.Lock()  # the patch swaps a module attribute: one load at a time


@lru_cache(maxsize=1)
def build_features() -> frozenset[str]:
    """The CPU features this llama.cpp build was compiled with (`AMX_INT8`, `AVX512`, `REPACK`, ...)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    return frozenset(
        part.split("=")[0].strip() for part in info.replace("|", "\n").splitlines() if part.strip().endswith("= 1")
    )


def extra_buffers_safe() -> bool:
    """False on a build with AMX kernels: their buffer type crashes decoding (see the module docstring)."""
    return "AMX_INT8" not in build_features()


@contextmanager
def _model_params(use_extra_bufts: bool) -> Iterator[None]:
    import llama_cpp.llama as llama_module

    if use_extra_bufts:
        yield
        return
    with _PATCH_LOCK:
        original = llama_module.llama_cpp.llama_model_default_params

        def without_extra_buffers():  # noqa: ANN202 - ctypes struct
            params = original()
            params.use_extra_bufts = False
            return params

        llama_module.llama_cpp.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            llama_module.llama_cpp.llama_model_default_params = original


def load_llama(model_path: str, **kwargs: Any):  # noqa: ANN201 - llama_cpp.Llama
    """`llama_cpp.Llama(model_path, **kwargs)`, with the extra buffer types off where this build crashes on them."""
    from llama_cpp import Llama

    with _model_params(extra_buffers_safe()):
        return Llama(model_path=model_path, **kwargs)
