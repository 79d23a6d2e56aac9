"""Train and evaluate every image recipe from scratch and print a Markdown table (metrics and train time).

    python benchmarks/images.py [--only gan-digits] [--device cpu|cuda|auto]
    python benchmarks/images.py --shipped     # re-measure the shipped checkpoints without retraining

Checkpoints go to a temporary folder (the shipped ones are not touched); the evaluation classifiers are the
shipped ones, so the numbers are comparable with the checkpoint cards. The load average is printed before and
after: on a shared machine, times scale with it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from assistant.imaging.build_checkpoints import RECIPES, build  # noqa: E402

COLUMNS = {
    "vae": ["neg_elbo", "bce_per_pixel"],
    "gan": [],
    "diffusion": [],
    "ssl": ["masked_mse_patches50", "masked_mse_block8", "probe_ssl_encoder", "probe_raw_pixels",
            "probe_untrained_encoder"],
}
GENERATIVE = ("vae", "gan", "diffusion")


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def chat_latency_ms(name: str, out_dir: Path | None, n: int = 4) -> float:
    """Wall time for one chat-sized request (n images, one call) from a checkpoint, after one warm-up call."""
    from assistant.imaging.engine import load_checkpoint
    from assistant.imaging.sampling import generate

    ckpt = load_checkpoint(out_dir / name if out_dir else name)
    first = next(iter(ckpt.spec["attributes"]))
    generate(ckpt, {first: 0}, 1, seed=0)
    started = time.perf_counter()
    generate(ckpt, {first: 1}, n, seed=1)
    return 1000 * (time.perf_counter() - started)


def shipped_cards(names: list[str]) -> list[dict]:
    """Recompute the metrics of the shipped checkpoints (their cards keep the training time)."""
    from assistant.imaging.datasets import load_dataset
    from assistant.imaging.engine import load_checkpoint, sample_options
    from assistant.imaging.metrics import evaluate_model

    cards = []
    for name in names:
        ckpt = load_checkpoint(name)
        data = load_dataset(ckpt.spec["dataset"])
        metrics = evaluate_model(ckpt.kind, ckpt.model, data, **sample_options(ckpt.hp))
        cards.append({**ckpt.card, "name": name, "kind": ckpt.kind, "metrics": metrics})
    return cards


def row(card: dict, latency: float | None) -> str:
    m = card.get("metrics", {})

    def get(key: str, scale: float = 1.0, fmt: str = "{:.3g}") -> str:
        return fmt.format(m[key] * scale) if key in m else "–"

    per_attr = ", ".join(f"{k.removeprefix('class_accuracy_')} {v:.1%}" for k, v in m.items()
                         if k.startswith("class_accuracy_"))
    extra = ", ".join(f"{k} {m[k]}" for k in COLUMNS[card["kind"]] if k in m)
    if card["kind"] not in GENERATIVE:
        return f"| {card['name']} | {card['epochs']} | {card['train_seconds']} | – | – | – | – | – | – | {extra} |"
    acc = get("class_accuracy", 100, "{:.1f} %") + (f" ({per_attr})" if per_attr else "")
    return (f"| {card['name']} | {card['epochs']} | {card['train_seconds']} | {acc} | "
            f"{get('diversity', fmt='{:.2f}')} | {get('precision', fmt='{:.2f}')} / {get('recall', fmt='{:.2f}')} | "
            f"{get('frechet_distance', fmt='{:.1f}')} ({get('frechet_real_train_vs_test', fmt='{:.1f}')}) | "
            f"{get('sample_ms_per_image', fmt='{:.2f}')} | {latency:.0f} | {extra} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", choices=sorted(RECIPES))
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    parser.add_argument("--shipped", action="store_true", help="evaluate the shipped checkpoints, do not train")
    parser.add_argument("--threads", type=int, default=2,
                        help="CPU threads (1 is much faster when other jobs share the two cores)")
    args = parser.parse_args()
    names = args.only or list(RECIPES)
    torch.set_num_threads(args.threads)
    before = load()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = None if args.shipped else Path(tmp)
        cards = shipped_cards(names) if args.shipped else build(names, out_dir=out_dir, device=args.device,
                                                                 retrain_classifiers=False)
        latency = {c["name"]: chat_latency_ms(c["name"], out_dir) for c in cards if c["kind"] in GENERATIVE}
    total = time.monotonic() - started
    device = torch.cuda.get_device_name(0) if args.device != "cpu" and torch.cuda.is_available() else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    print(f"\ndevice: {device} · torch {torch.__version__} · wall time for all: {total:.0f} s · "
          f"{before} before, {load()} after\n")
    print("| model | epochs | train s | class acc | diversity | precision / recall | FD (floor) | "
          "sample ms/img (batch 1000) | 4 images ms | other |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for card in cards:
        print(row(card, latency.get(card["name"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
