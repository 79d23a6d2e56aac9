"""The `image_train` job: runs the shared engine, reports loss per step and refreshes a sample grid per epoch."""

from __future__ import annotations

import time
from dataclasses import fields

import torch

from assistant.imaging.engine import TrainConfig, train


def preview_grid(kind: str, model: torch.nn.Module, spec: dict, path, x_test: torch.Tensor | None = None) -> str:  # noqa: ANN001
    """One row per class of the first attribute (VAE/GAN), or original/masked/filled rows (SSL)."""
    from assistant.imaging import ssl
    from assistant.imaging.datasets import one_hot
    from assistant.imaging.engine import call_sample
    from assistant.imaging.sampling import fill_labels, save_grid

    gen = torch.Generator().manual_seed(0)
    device = next(model.parameters()).device
    with torch.no_grad():
        if kind == "ssl":
            x = x_test[:8].to(device)
            mask = ssl.make_mask(model, len(x), "patches", 0.5, gen).to(device)
            images = torch.cat([x, x * (1 - mask) + 0.5 * mask, ssl.inpaint(model, x, mask)])
            return save_grid(images.float().cpu(), path, nrow=len(x))
        first, values = next(iter(spec["attributes"].items()))
        rows = min(len(values), 10)
        labels = torch.cat([fill_labels(spec["attributes"], {first: k}, 8, gen) for k in range(rows)])
        # a quick preview: a diffusion model samples with 10 DDIM steps here instead of its 25
        images = call_sample(kind, model, one_hot(labels, spec["attributes"]).to(device), gen, steps=10)
        return save_grid(images.float().cpu(), path, nrow=8)


def train_job(config: dict, ctx) -> dict:  # noqa: ANN001 - JobContext
    """Job entry point (JOB_KINDS["image_train"]): config holds TrainConfig fields."""
    from assistant.imaging.datasets import load_dataset
    from assistant.imaging.engine import user_checkpoints_dir
    from assistant.storage import clean_stale_temps

    known = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in config.items() if k in known})
    # A run killed while writing its checkpoint leaves a hidden temp folder (or, killed mid-swap, the previous
    # checkpoint under a hidden name): tidy that first, so the previous checkpoint is back before training.
    clean_stale_temps(user_checkpoints_dir(ctx.settings))
    data = load_dataset(cfg.dataset, folder=cfg.folder)
    grid_path = ctx.dir / "samples.png"
    last = [0.0]

    def on_epoch(epoch: int, model: torch.nn.Module) -> None:
        # refresh the preview at most every 2 s (cheap on digits, but a grid per epoch adds up on shapes)
        if time.monotonic() - last[0] > 2.0 or epoch == cfg.epochs:
            preview_grid(cfg.model, model, data.spec(), grid_path, data.x_test)
            last[0] = time.monotonic()
        ctx.log(f"epoch {epoch}/{cfg.epochs}")

    ctx.log(f"training {cfg.model} on {data.name}: {len(data.x_train)} train / {len(data.x_test)} test images")
    card = train(cfg, ctx.settings, data=data, progress=ctx.progress, metric=ctx.metric, on_epoch=on_epoch)
    ctx.progress(1.0, f"done: {card['name']} in {card['train_seconds']} s", force=True)
    return {"name": card["name"], "path": card["path"], "metrics": card.get("metrics", {}),
            "train_seconds": card["train_seconds"], "device": card["device"], "samples": str(grid_path)}
