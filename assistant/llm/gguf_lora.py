"""Export a peft LoRA folder to a GGUF LoRA that llama.cpp loads with `llama_adapter_lora_init`.

The peft folder stays the source of truth (the torch path trains it); `adapter.gguf` beside it is derived. The
layout is what llama.cpp's own `convert_lora_to_gguf.py` writes: `general.type=adapter`, `adapter.type=lora`,
`adapter.lora.alpha`, and per target `<gguf tensor>.lora_a` / `.lora_b` with peft's A (r × in) and B (out × r)
as they are. We write it with the `gguf` package directly: the vendored script is not installed with the wheel,
and this needs neither the base weights nor torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

GGUF_NAME = "adapter.gguf"
SOURCE_KEY = "assistant.source_sha256"  # sha256 of the peft weights the export was made from

# peft module name -> llama.cpp tensor name, for the Qwen2/Llama family
_MODULES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_PEFT_KEY = re.compile(r"(?:.*\.)?layers\.(\d+)\.(self_attn\.\w+|mlp\.\w+)\.lora_([AB])\.(?:\w+\.)?weight$")
SUPPORTED_ARCHS = ("qwen2",)  # llama would need llama.cpp's q/k row permutation applied to B


class GGUFExportError(RuntimeError):
    """The adapter cannot be expressed as a GGUF LoRA (unknown module, unsupported architecture, bad files)."""


def _weights_file(folder: Path) -> Path:
    path = folder / "adapter_model.safetensors"
    if not path.exists():
        raise GGUFExportError(f"{folder.name}: no adapter_model.safetensors to export")
    return path


def source_digest(folder: Path) -> str:
    digest = hashlib.sha256(_weights_file(folder).read_bytes())
    config = json.loads((folder / "adapter_config.json").read_text())
    digest.update(json.dumps(config, sort_keys=True).encode())  # the values count, not their formatting
    return digest.hexdigest()


def export_state(folder: Path) -> str:
    """'current', 'missing' or 'stale' (the peft weights changed since the export)."""
    target = folder / GGUF_NAME
    if not target.exists():
        return "missing"
    from gguf import GGUFReader

    try:
        field = GGUFReader(str(target)).get_field(SOURCE_KEY)
        recorded = field.contents() if field is not None else ""
    except (ValueError, OSError):
        return "stale"
    return "current" if recorded == source_digest(folder) else "stale"


def export_gguf_lora(folder: Path, arch: str = "qwen2") -> Path:
    """Write `<folder>/adapter.gguf` (atomically) from the peft files in `folder`; returns its path."""
    from gguf import GGUFWriter
    from safetensors.numpy import load_file

    if arch not in SUPPORTED_ARCHS:
        raise GGUFExportError(f"GGUF LoRA export supports {', '.join(SUPPORTED_ARCHS)}, not {arch!r}")
    config = json.loads((folder / "adapter_config.json").read_text())
    if config.get("use_rslora") or config.get("use_dora"):
        raise GGUFExportError(f"{folder.name}: rsLoRA/DoRA adapters have no GGUF LoRA form")
    tensors = load_file(str(_weights_file(folder)))
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        match = _PEFT_KEY.match(key)
        if not match or match.group(2) not in _MODULES:
            raise GGUFExportError(f"{folder.name}: cannot map {key!r} to a llama.cpp tensor")
        layer, module, which = match.groups()
        name = f"blk.{layer}.{_MODULES[module]}.weight"
        pairs.setdefault(name, {})[which] = value.astype(np.float32)
    target = folder / GGUF_NAME
    tmp = folder / f".{GGUF_NAME}.{os.getpid()}.tmp"
    writer = GGUFWriter(str(tmp), arch)
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(config.get("lora_alpha", config.get("r", 8))))
    writer.add_string(SOURCE_KEY, source_digest(folder))
    for name in sorted(pairs):
        if set(pairs[name]) != {"A", "B"}:
            raise GGUFExportError(f"{folder.name}: {name} lacks lora_A or lora_B")
        writer.add_tensor(f"{name}.lora_a", pairs[name]["A"])
        writer.add_tensor(f"{name}.lora_b", pairs[name]["B"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, target)
    return target


def ensure_gguf_lora(folder: Path, arch: str = "qwen2") -> tuple[Path, str]:
    """The adapter's GGUF LoRA, exported again when missing or stale; returns (path, notice or '')."""
    state = export_state(folder)
    if state == "current":
        return folder / GGUF_NAME, ""
    path = export_gguf_lora(folder, arch)
    return path, f"adapter {folder.name}: GGUF LoRA was {state}, exported again"
