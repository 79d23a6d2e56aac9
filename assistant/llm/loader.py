"""`load_model(settings)`: find the weights (packaged alias, GGUF, HF folder, opt-in hub id), load, quantize."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from assistant.config import Settings
from assistant.llm.packaged import PACKAGED, ModelSourceError, assemble, canonical_model_name, packaged_model
from assistant.storage import atomic_dir

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str  # what the user asked for (alias, path or id)
    path: str  # the folder the weights were loaded from
    quant: str
    device: str
    load_seconds: float
    notes: list[str] = field(default_factory=list)


def resolve_source(settings: Settings) -> tuple[str, Path | str]:
    """Map `settings.model` to a loadable HF folder (converting a GGUF once) or a hub id."""
    spec = canonical_model_name(settings.model)
    tried: list[str] = []
    packaged = packaged_model(spec)
    if packaged is not None:
        hf_dir = settings.models_dir / packaged.folder / "hf"
        if (hf_dir / "config.json").exists():
            return spec, hf_dir
        gguf = assemble(packaged, settings.models_dir / packaged.folder)
        return spec, convert_gguf(gguf, hf_dir)
    tried.append(f"packaged alias (known: {', '.join(PACKAGED)})")
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelSourceError(f"model {spec!r}: GGUF file not found (tried {path.resolve()})")
        from assistant.llm.select import gguf_cache_folder

        hf_dir = settings.models_dir / gguf_cache_folder(path) / "hf"
        if (hf_dir / "config.json").exists() and hf_dir.stat().st_mtime >= path.stat().st_mtime:
            return spec, hf_dir
        return spec, convert_gguf(path, hf_dir)
    tried.append("GGUF file (needs a .gguf suffix)")
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelSourceError(f"model {spec!r}: folder {path.resolve()} has no config.json")
        return spec, path.resolve()
    tried.append(f"local folder ({path.resolve()} does not exist)")
    if settings.allow_hub and "/" in spec:
        return spec, spec
    tried.append("hub id (set ASSISTANT_ALLOW_HUB=true to allow downloads)")
    raise ModelSourceError(f"model {spec!r} not found; tried: " + "; ".join(tried))


def resolve_gguf(settings: Settings) -> tuple[str, Path]:
    """Map `settings.model` to a GGUF file (assembling a packaged model once) for the llama.cpp backend."""
    spec = canonical_model_name(settings.model)
    packaged = packaged_model(spec)
    if packaged is not None:
        return spec, assemble(packaged, settings.models_dir / packaged.folder)
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".gguf" and path.is_file():
        return spec, path.resolve()
    raise ModelSourceError(
        f"model {spec!r} is not a GGUF file or packaged alias (known: {', '.join(PACKAGED)}): the llama.cpp "
        "engine needs one; set ASSISTANT_ENGINE=torch for an HF folder"
    )


def load_gguf_tokenizer(gguf: Path, cache_dir: Path) -> PreTrainedTokenizerBase:
    """The HF tokenizer and chat template of a GGUF, read once from the file and kept in `cache_dir`.

    Both backends render prompts with this same template; the converted HF folder is used when it exists.
    """
    for folder in (cache_dir / "hf", cache_dir / "tokenizer"):
        if (folder / "tokenizer_config.json").exists():
            return AutoTokenizer.from_pretrained(str(folder))
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    with atomic_dir(cache_dir / "tokenizer", overwrite=True) as tmp:
        tokenizer.save_pretrained(tmp)
    return tokenizer


def convert_gguf(gguf: Path, hf_dir: Path) -> Path:
    """Dequantize a GGUF once into a safetensors folder (40–70 s), so later starts take seconds."""
    log.info("converting %s to a safetensors cache in %s (once)", gguf, hf_dir)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model remembers its quantizer; saving needs it gone (see MODELS.md).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_dir(hf_dir, overwrite=True) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    log.info("converted in %.1f s", time.perf_counter() - started)
    return hf_dir


def load_model(settings: Settings) -> LoadedModel:
    """Load tokenizer + model on the configured device with the configured quantization."""
    started = time.perf_counter()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = settings.resolved_device()
    quant = settings.resolved_quant()
    name, source = resolve_source(settings)
    notes: list[str] = []
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {}
    if quant in ("nf4", "bnb-int8"):
        kwargs["quantization_config"] = bnb_config(quant, device)
        kwargs["device_map"] = {"": 0} if device == "cuda" else {"": "cpu"}
    elif quant == "bf16":
        kwargs["dtype"] = torch.bfloat16
    else:
        kwargs["dtype"] = torch.float16 if device == "cuda" and quant == "none" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(source), **kwargs)
    if quant not in ("nf4", "bnb-int8"):
        model.to(device)
    if quant == "int8":
        if device == "cuda":
            raise ModelSourceError("ASSISTANT_QUANT=int8 is the CPU path; on CUDA use nf4 or bnb-int8 (or auto)")
        outliers = quantize_dynamic_int8(model, keep=settings.lora_targets, outlier_ratio=settings.int8_outlier_ratio)
        notes.append(f"torch dynamic int8 on every Linear except {', '.join(settings.lora_targets)} (kept for LoRA)")
        if outliers:
            notes.append(f"{len(outliers)} Linear layers with outlier weights kept in fp32: {', '.join(outliers)}")
    model.eval()
    return LoadedModel(model, tokenizer, name, str(source), quant, device, time.perf_counter() - started, notes)


def bnb_config(quant: str, device: str):  # noqa: ANN201 - BitsAndBytesConfig
    from transformers import BitsAndBytesConfig

    if quant == "nf4":
        compute = torch.bfloat16 if device == "cuda" else torch.float32
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute, bnb_4bit_use_double_quant=True
        )
    return BitsAndBytesConfig(load_in_8bit=True)


class _TolerantPackedParams(torch.ao.nn.quantized.modules.linear.LinearPackedParams):
    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        if prefix + "_packed_params" in state_dict:
            super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class AdapterTolerantInt8Linear(torch.ao.nn.quantized.dynamic.Linear):
    """torch's dynamic int8 Linear, except that a partial state dict passes it by.

    peft loads adapter weights with `model.load_state_dict(adapter_only, strict=False)`, which visits every
    module; the stock int8 Linear (and its packed-params child) demand their own keys and raise KeyError, so no
    adapter could be loaded onto the int8 model. A frozen layer the state dict says nothing about keeps its weights.
    """

    def __init__(self, in_features: int, out_features: int, bias_: bool = True, dtype: torch.dtype = torch.qint8):
        super().__init__(in_features, out_features, bias_, dtype=dtype)
        # same state, one overridden method: re-class instead of unpacking and packing the weights again
        self._packed_params.__class__ = _TolerantPackedParams

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        if prefix + "scale" in state_dict:
            super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _get_name(self) -> str:
        return "DynamicQuantizedLinear"


def quantize_dynamic_int8(model: torch.nn.Module, keep: list[str], outlier_ratio: float = 150.0) -> list[str]:
    """Swap Linear layers for torch's dynamic int8 ones in place, except the LoRA targets and outlier layers.

    peft cannot wrap a quantized Linear, so the modules adapters attach to stay in fp32; everything else
    (MLPs, k/o projections, lm_head) gets int8 weights: the fastest CPU path we measured. A few layers have a
    handful of weights hundreds of times larger than the rest (in Qwen2.5-0.5B: `down_proj` of layers 2, 3, 5, 21
    and 23); one int8 scale per tensor then rounds almost all their other weights to zero. Keeping just those in
    fp32 took perplexity on our fixed text from 85 to 63 (fp32: 53) at no measurable speed cost.
    Returns the names of the outlier layers kept in fp32.
    """
    from torch.ao.quantization import quantize_dynamic

    names, outliers = set(), []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or any(name.split(".")[-1] == k for k in keep):
            continue
        weight = module.weight.detach().abs()
        if float(weight.amax()) > outlier_ratio * float(weight.mean()):
            outliers.append(name)
        else:
            names.add(name)
    # lm_head is tied to the input embeddings in small Qwen models: quantizing it makes an int8 copy for the
    # output projection only, which is the single largest matmul per token.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(
            model,
            qconfig_spec=dict.fromkeys(names, torch.ao.quantization.default_dynamic_qconfig),
            dtype=torch.qint8,
            mapping={torch.nn.Linear: AdapterTolerantInt8Linear},
            inplace=True,
        )
    return outliers
