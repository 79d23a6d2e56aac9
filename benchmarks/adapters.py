"""Adapter swap latency: resident adapters (peft set_adapter, ours) vs rebuilding a PeftModel per switch.

    python benchmarks/adapters.py [--switches 40]            # torch backend
    python benchmarks/adapters.py --engine llamacpp          # the CPU serving default: GGUF LoRAs

On llama.cpp a switch is `llama_set_adapters_lora` plus dropping the cached prompt prefix; the cost that follows is
one prefill of the next prompt, reported as time to first token with and without a switch before it.

Rebuilding is what text-generation-webui does when you pick another LoRA: wrap the base model again with
`PeftModel.from_pretrained` (and unwrap the previous one). Both run on the same int8 base model in one process.
Uses the shipped adapters in adapters/ (concise, zh-tutor).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_llamacpp(args: argparse.Namespace) -> int:
    from assistant.config import Settings
    from assistant.llm.base import MODEL_LOCK, GenerationParams, GenerationStats
    from assistant.services import Services

    services = Services(Settings(data_dir=Path(args.data_dir), auto_index_knowledge=False, threads=args.threads,
                                 engine="llamacpp"))
    engine = services.llm
    names = services.adapters.names()[:2]
    order = [names[i % len(names)] if i % 3 else None for i in range(args.switches)]
    first_load = []
    for name in names:
        started = time.perf_counter()
        with MODEL_LOCK:
            services.adapters.activate(name)
        first_load.append((time.perf_counter() - started) * 1000)
    switch = []
    for choice in order:
        started = time.perf_counter()
        with MODEL_LOCK:
            services.adapters.activate(choice)
        switch.append((time.perf_counter() - started) * 1000)
    prompt, _ = engine.build_prompt([{"role": "user", "content": "How does a bicycle gear work?"}], 32)
    greedy = GenerationParams(temperature=0.0, max_new_tokens=32)
    base_before = engine.generate(prompt, greedy)[0]

    def ttft(adapter: str | None) -> float:
        stats = GenerationStats()
        for _ in engine.stream(prompt, GenerationParams(temperature=0.0, max_new_tokens=1), adapter, stats=stats):
            pass
        return stats.first_token_seconds * 1000

    same = [ttft(None) for _ in range(5)]  # prompt cached: only the last token is decoded again
    after_switch = []
    for _ in range(5):
        ttft(names[0])
        after_switch.append(ttft(None))
    base_after = engine.generate(prompt, greedy)[0]
    adapted = engine.generate(prompt, greedy, names[0])[0]
    print(f"\nAdapter switching on {engine.name} ({engine.kind}, {engine.loaded.quant}), adapters {names}\n")
    print("| what | n | median ms | p90 ms |")
    print("|---|---|---|---|")
    print(f"| switch (llama_set_adapters_lora + prefix reset) | {len(switch)} | {statistics.median(switch):.3f} | "
          f"{percentile(switch, 0.9):.3f} |")
    print(f"| first token, same adapter as before (prefix cached) | 5 | {statistics.median(same):.0f} | "
          f"{percentile(same, 0.9):.0f} |")
    print(f"| first token right after a switch (prompt decoded again) | 5 | {statistics.median(after_switch):.0f} | "
          f"{percentile(after_switch, 0.9):.0f} |")
    print(f"\nfirst load of each adapter (GGUF LoRA, once per process): "
          f"{', '.join(f'{n} {t:.0f} ms' for n, t in zip(names, first_load, strict=True))}")
    print(f"greedy base answer identical after switching back: {base_before == base_after}; "
          f"adapter changes the answer: {adapted != base_before}; goal < 50 ms: "
          f"{'met' if statistics.median(switch) < 50 else 'NOT met'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--switches", type=int, default=60, help="switches timed on the resident path")
    parser.add_argument("--rebuild-switches", type=int, default=15, help="switches timed on the (slow) rebuild path")
    parser.add_argument("--data-dir", default="/tmp/bench-adapters", help="scratch data dir (no promoted default)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine", default="torch", choices=["torch", "llamacpp"])
    args = parser.parse_args()
    if args.engine == "llamacpp":
        return measure_llamacpp(args)

    import torch
    from peft import PeftModel

    from assistant.config import Settings
    from assistant.llm.engine import GENERATION_LOCK
    from assistant.services import Services

    torch.set_num_threads(args.threads)
    settings = Settings(data_dir=Path(args.data_dir), auto_index_knowledge=False, engine="torch")
    services = Services(settings)
    engine = services.llm
    names = [n for n in ("concise", "zh-tutor") if n in services.adapters.names()]
    if len(names) < 2:
        raise SystemExit("needs the shipped adapters concise and zh-tutor (make adapters)")
    ids = engine.tokenizer("Hello there", return_tensors="pt")
    if isinstance(engine.model, PeftModel):
        raise SystemExit("the model already carries adapters (is a default adapter promoted?); use a fresh data dir")

    def logits() -> torch.Tensor:
        with torch.no_grad():
            return engine.model(**ids).logits[0, -1].clone()

    order = [names[i % 2] if i % 3 else None for i in range(args.switches)]  # adapter, adapter, base, ...
    with GENERATION_LOCK:
        base_before = logits()
        # 1. Rebuild per switch, on the plain base model before any adapter is resident: wrap the base with
        #    PeftModel.from_pretrained for an adapter, unload() to get the bare base back for the next one.
        rebuild = []
        model, wrapped = engine.model, None
        for choice in order[: args.rebuild_switches]:
            started = time.perf_counter()
            if wrapped is not None:
                model, wrapped = wrapped.unload(), None
            if choice is not None:
                wrapped = PeftModel.from_pretrained(model, str(settings.adapters_dir / choice), adapter_name=choice)
            rebuild.append((time.perf_counter() - started) * 1000)
        if wrapped is not None:
            model = wrapped.unload()
        engine.model = model
        rebuilt_base_ok = torch.equal(base_before, logits())
        # 2. Resident adapters (ours): load each once, then switch with set_adapter / disabled adapter layers.
        first_load = []
        for name in names:
            started = time.perf_counter()
            services.adapters.activate(name)
            first_load.append((time.perf_counter() - started) * 1000)
        resident = []
        for choice in order:
            started = time.perf_counter()
            services.adapters.activate(choice)
            resident.append((time.perf_counter() - started) * 1000)
        services.adapters.activate(None)
        base_after = logits()
        services.adapters.activate(names[0])
        adapted = logits()
        services.adapters.activate(None)

    med_res, med_reb = statistics.median(resident), statistics.median(rebuild)
    print(f"\nAdapter switching on {engine.name} ({engine.loaded.quant}, {engine.loaded.device}), adapters {names}\n")
    print("| method | switches | median ms | p90 ms |")
    print("|---|---|---|---|")
    print(f"| resident adapters (peft set_adapter / disable layers) | {len(resident)} | {med_res:.2f} | "
          f"{percentile(resident, 0.9):.2f} |")
    print(f"| rebuild PeftModel per switch (text-generation-webui style) | {len(rebuild)} | {med_reb:.1f} | "
          f"{percentile(rebuild, 0.9):.1f} |")
    print(f"\nfirst load of each adapter (load_adapter, once per process): "
          f"{', '.join(f'{n} {t:.0f} ms' for n, t in zip(names, first_load, strict=True))}")
    print(f"speed-up: {med_reb / med_res:.0f}×; goal < 50 ms and ≥ 20×: "
          f"{'met' if med_res < 50 and med_reb / med_res >= 20 else 'NOT met'}")
    print(f"base logits identical after switching back: resident {torch.equal(base_before, base_after)}, "
          f"rebuild {rebuilt_base_ok}; adapter changes the logits: {not torch.allclose(base_before, adapted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
