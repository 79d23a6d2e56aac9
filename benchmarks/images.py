"""Train and evaluate every image recipe from scratch and print a Markdown table (metrics and train time).

    python benchmarks/images.py [--only gan-digits] [--device cpu|cuda|auto]

Checkpoints go to a temporary folder (the shipped ones are not touched); the evaluation classifiers are the
shipped ones, so the numbers are comparable with the checkpoint cards.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from assistant.imaging.build_checkpoints import RECIPES, build  # noqa: E402

COLUMNS = {
    "vae": ["neg_elbo", "bce_per_pixel", "frechet_distance", "class_accuracy"],
    "gan": ["frechet_distance", "frechet_real_train_vs_test", "class_accuracy"],
    "ssl": ["masked_mse_patches50", "masked_mse_block8", "probe_ssl_encoder", "probe_raw_pixels",
            "probe_untrained_encoder"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", choices=sorted(RECIPES))
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    names = args.only or list(RECIPES)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        cards = build(names, out_dir=Path(tmp), device=args.device, retrain_classifiers=False)
        total = time.monotonic() - started
    device = torch.cuda.get_device_name(0) if args.device != "cpu" and torch.cuda.is_available() else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    print(f"\ndevice: {device} · torch {torch.__version__} · wall time for all: {total:.0f} s\n")
    print("| model | epochs | train s | metrics |")
    print("|---|---|---|---|")
    for card in cards:
        metrics = card.get("metrics", {})
        shown = ", ".join(f"{k} {metrics[k]}" for k in COLUMNS[card["kind"]] if k in metrics)
        extra = ", ".join(f"{k} {v}" for k, v in metrics.items() if k.startswith("class_accuracy_"))
        print(f"| {card['name']} | {card['epochs']} | {card['train_seconds']} | {shown}"
              f"{' (' + extra + ')' if extra else ''} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
