"""Adapter swap latency: resident adapters (peft set_adapter, ours) vs rebuilding a PeftModel per switch.

    python benchmarks/adapters.py [--switches 40]

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--switches", type=int, default=40)
    args = parser.parse_args()

    import torch
    from peft import PeftModel

    from assistant.config import Settings
    from assistant.llm.engine import GENERATION_LOCK
    from assistant.services import Services

    settings = Settings(data_dir=Path("/tmp/bench-adapters"), auto_index_knowledge=False)
    services = Services(settings)
    engine = services.llm
    names = [n for n in ("concise", "zh-tutor") if n in services.adapters.names()]
    if len(names) < 2:
        raise SystemExit("needs the shipped adapters concise and zh-tutor (make adapters)")
    ids = engine.tokenizer("Hello there", return_tensors="pt")

    def logits() -> torch.Tensor:
        with torch.no_grad():
            return engine.model(**ids).logits[0, -1].clone()

    with GENERATION_LOCK:
        base_before = logits()
        for name in names:  # first use loads each adapter once
            services.adapters.activate(name)
        order = [names[i % 2] if i % 3 else None for i in range(args.switches)]
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

    base_model = engine.model.get_base_model() if isinstance(engine.model, PeftModel) else engine.model
    # The rebuild path needs a model without our resident adapters: unwrap a copy of the layers' state.
    rebuild = []
    model = base_model
    wrapped = None
    for choice in order:
        started = time.perf_counter()
        if wrapped is not None:
            model = wrapped.unload()  # back to the plain base (what a reload-per-switch UI has to do)
            wrapped = None
        if choice is not None:
            wrapped = PeftModel.from_pretrained(model, str(settings.adapters_dir / choice), adapter_name=choice)
        rebuild.append((time.perf_counter() - started) * 1000)
        if len(rebuild) >= 12:  # slow path: a dozen switches are enough for a stable median
            break

    med_res, med_reb = statistics.median(resident), statistics.median(rebuild)
    print(f"\nAdapter switching on {engine.name} ({engine.loaded.quant}, {engine.loaded.device}), adapters {names}\n")
    print("| method | switches | median ms | p90 ms |")
    print("|---|---|---|---|")
    print(f"| resident adapters (peft set_adapter / disable layers) | {len(resident)} | {med_res:.2f} | "
          f"{sorted(resident)[int(0.9 * len(resident)) - 1]:.2f} |")
    print(f"| rebuild PeftModel per switch (text-generation-webui style) | {len(rebuild)} | {med_reb:.1f} | "
          f"{sorted(rebuild)[int(0.9 * len(rebuild)) - 1]:.1f} |")
    print(f"\nspeed-up: {med_reb / med_res:.0f}×; base logits identical after switching back: "
          f"{torch.equal(base_before, base_after)}; adapter changes the logits: "
          f"{not torch.allclose(base_before, adapted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
