"""Rebuild the shipped image checkpoints: `python -m assistant.imaging.build_checkpoints [--only NAME]`.

Trains the evaluation classifiers first (every model on a dataset is judged by the same one), then each model
with its recipe below, writing `assistant/imaging/checkpoints/<name>/{model.pt,card.json}` atomically.
"""

from __future__ import annotations

import argparse
import shutil
import time

import torch

from assistant.imaging.classifier import classifier_for
from assistant.imaging.datasets import load_dataset
from assistant.imaging.engine import SHIPPED_DIR, TrainConfig, train

# name -> training recipe; chosen so each trains in under 3 minutes on 2 CPU cores (see docs/bench_images.md)
RECIPES: dict[str, TrainConfig] = {
    # a conditional prior p(z|c), sampled at temperature 1.2: its decoder uses few latents (docs/bench_images.md)
    "vae-digits": TrainConfig(model="vae", dataset="digits", epochs=30, batch_size=64,
                              hp={"cond_prior": True, "temperature": 1.2}),
    # mode-seeking term (MSGAN) against the collapse; sampled at temperature 0.8 (docs/bench_images.md)
    "gan-digits": TrainConfig(model="gan", dataset="digits", epochs=30, batch_size=32,
                              hp={"ms_weight": 1.0, "temperature": 0.8}),
    # the seed's one random 8x8 block per image; on digits it gave better probe features than 50 % patches
    "ssl-digits": TrainConfig(model="ssl", dataset="digits", epochs=30, batch_size=64, hp={"mask": "block"}),
    # small shapes blurred: the decoder could not even reconstruct them (63 %). With the KL weighted 0.1, an 8-d
    # latent and the condition at every decoder layer it reconstructs 84 %; samples come from a 10-component
    # mixture fitted to each condition's training codes after training (ex-post density, Ghosh et al. 2020), as
    # one Gaussian p(z|c) drew blobs between them: 81.5 % class accuracy, diversity 0.87 (docs/bench_images.md)
    "vae-shapes": TrainConfig(model="vae", dataset="shapes", epochs=30, batch_size=64,
                              hp={"cond_prior": True, "latent": 8, "kl_weight": 0.1, "cond_maps": True,
                                  "expost_components": 10, "temperature": 1.0}),
    # a stronger attribute term: with weight 1, 18 epochs drew the asked-for shape only 83 % of the time.
    # 24 epochs in bf16 where the CPU computes in it: 91.7 / 92.6 / 94.9 % over seeds 0-2 in 133-137 s (20 fp32
    # epochs: 93.6 / 88.9 / 93.4 % in 171-187 s); on a CPU without bf16 this takes ~215 s
    "gan-shapes": TrainConfig(model="gan", dataset="shapes", epochs=24, batch_size=32, precision="auto",
                              hp={"aux_weight": 2.0}),
    "ssl-shapes": TrainConfig(model="ssl", dataset="shapes", epochs=8, batch_size=64, hp={"mask": "block"}),
    # DDPM + classifier-free guidance, sampled with 25 DDIM steps (see assistant/imaging/diffusion.py); guided only
    # for t/T in [0.06, 0.7], at 1.75 (chosen on dev images): FD 21.8 -> 15.3 with the same weights
    "diffusion-digits": TrainConfig(model="diffusion", dataset="digits", epochs=40, batch_size=64,
                                    hp={"guidance": 1.75, "guidance_interval": [0.06, 0.7]}),
    # 2x2 pixel patches (4x fewer positions) to fit the CPU budget; bf16 autocast where the CPU computes in it
    # (AVX512-BF16/AMX), fp32 elsewhere. Min-SNR weighting (gamma 5): 97.5 % of shapes drawn as asked, FD 31 in 105
    # epochs (423 s); the plain loss gave 95.3 %, FD 49 in 110 epochs. The learning rate falling linearly over the
    # last 30 % of the steps: 98.2 %, FD 26.6 (EMA 0.999 on top: 28.7). Sampled stochastically (eta 1, DDPM's
    # noise at each step), 20 steps, guidance 2.5, chosen on train-split images: FD 26.6 -> 18.7 on the test split.
    # The condition scaling and shifting each block's features (AdaGN) instead of adding a bias: without guidance
    # FD 69 -> 24 on the dev images, so it needs less guidance (1.5, 30 steps, chosen there): FD 20.0 -> 14.9.
    # Guidance only for t/T in [0.06, 0.7] (Kynkäänniemi et al. 2024), so it can be stronger (4, chosen on the dev
    # images): FD 14.9 -> 10.3 with the same weights.
    "diffusion-shapes": TrainConfig(model="diffusion", dataset="shapes", epochs=105, batch_size=64, precision="auto",
                                    hp={"patch": 2, "scale_shift": True, "guidance": 4.0,
                                        "guidance_interval": [0.06, 0.7], "steps": 30, "eta": 1.0,
                                        "min_snr_gamma": 5.0, "lr_cooldown": 0.3}),
}


def build(names: list[str], out_dir=SHIPPED_DIR, device: str = "auto", retrain_classifiers: bool = True,  # noqa: ANN001
          settings=None) -> list[dict]:  # noqa: ANN001
    """Train the named recipes into out_dir; return their cards."""
    torch.set_num_threads(min(2, torch.get_num_threads()))  # a caller may have asked for 1 (a shared machine)
    datasets = sorted({RECIPES[n].dataset for n in names})
    for dataset in datasets:
        if retrain_classifiers and out_dir == SHIPPED_DIR:
            shutil.rmtree(SHIPPED_DIR / f"classifier-{dataset}", ignore_errors=True)
        started = time.monotonic()
        classifier_for(load_dataset(dataset), settings)
        print(f"classifier-{dataset}: ready in {time.monotonic() - started:.1f} s", flush=True)
    cards = []
    for name in names:
        cfg = TrainConfig(**{**RECIPES[name].__dict__, "name": name, "device": device, "resume": False})
        card = train(cfg, settings, out_dir=out_dir)
        print(f"{name}: {card['train_seconds']} s on {card['device']} · {card.get('metrics')}", flush=True)
        cards.append(card)
    return cards


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", choices=sorted(RECIPES), help="rebuild just this one (repeatable)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu",
                        help="cpu by default so the shipped numbers are the CPU ones")
    args = parser.parse_args(argv)
    build(args.only or list(RECIPES), device=args.device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
