"""The image tools: plain functions with typed arguments returning JSON-able dicts (chat tools, UI and CLI share them).

Every picture is written as PNG under `settings.images_dir` (the UI may serve files from there).
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from pathlib import Path

import torch

from assistant.config import Settings, get_settings
from assistant.imaging.datasets import DATASETS, DatasetError, ImageDataset, load_dataset
from assistant.imaging.engine import (
    MODEL_KINDS,
    Checkpoint,
    TrainConfig,
    list_checkpoints,
    load_checkpoint,
    sample_options,
)
from assistant.imaging.prompting import Condition, guess_dataset, parse_composition
from assistant.imaging.sampling import GENERATIVE_KINDS, generate, image_seeds, inpaint_rows, save_grid, save_images
from assistant.imaging.ssl import masked_mse
from assistant.storage import check_name

MAX_EPOCHS = 500


def _out_dir(settings: Settings, what: str, model: str) -> Path:
    return settings.images_dir / what / f"{model}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def resolve_model_name(model: str, prompt: str | int | None = None, settings: Settings | None = None) -> str:
    """'auto' -> the best model for the dataset the prompt is about; 'gan'/'vae'/'diffusion' -> <kind>-<that
    dataset>; else the name itself. Best = the diffusion or GAN checkpoint whose card measured the higher class
    accuracy (a tie goes to diffusion: more varied samples); the GAN when no card says (docs/bench_images.md)."""
    model = (model or "auto").strip().lower()
    if model == "auto":
        dataset = guess_dataset(prompt)
        cards = {c["name"]: c for c in list_checkpoints(settings)}
        scored = [((cards[name].get("metrics") or {}).get("class_accuracy", -1.0), -rank, name)
                  for rank, name in enumerate((f"diffusion-{dataset}", f"gan-{dataset}")) if name in cards]
        return max(scored)[2] if scored else f"gan-{dataset}"
    if model in ("gan", "vae", "diffusion"):
        return f"{model}-{guess_dataset(prompt)}"
    if model == "ssl":
        return "ssl-digits"
    return check_name(model, "model name")


def dataset_of(ckpt: Checkpoint) -> ImageDataset:
    """Reload the dataset a checkpoint was trained on (its test split is what the metrics use)."""
    config = ckpt.card.get("config", {})
    name = config.get("dataset") or ckpt.spec["dataset"]
    return load_dataset(name, folder=config.get("folder"))


def generate_images(model: str = "auto", prompt_or_class: str | int | None = None, n: int | None = None,
                    seed: int | None = None, settings: Settings | None = None, out_dir: str | Path | None = None,
                    temperature: float | None = None, guidance: float | None = None, steps: int | None = None,
                    like: int | None = None, variation: float = 0.3, viewer: str | None = None) -> dict:
    """Draw images for a prompt ("digit 7", "two small red triangles and a large blue circle", "画一个数字3").

    A compositional prompt sets the batch itself (n is then ignored); otherwise n, else the prompt's count, else
    4. Image i has seed `seed + i`; `like=<that seed>` draws variations of that image ("more like this").
    temperature (all kinds), guidance and steps (diffusion) override the checkpoint's sampling defaults. `viewer`:
    the user asking (another user's own checkpoints are unknown to them); None for trusted callers.
    """
    settings = settings or get_settings()
    name = resolve_model_name(model, prompt_or_class, settings)
    ckpt = load_checkpoint(name, settings, viewer=viewer)
    if ckpt.kind not in GENERATIVE_KINDS:
        raise ValueError(f"{name} is a masked-SSL model: it fills in masked images (use inpaint), it does not draw "
                         "from a prompt; try diffusion-*, gan-* or vae-* (digits or shapes)")
    attrs = ckpt.spec["attributes"]
    composition = parse_composition(prompt_or_class, attrs)
    if composition.compositional:
        wanted: dict | list = composition.per_image()
        n = len(wanted)
    else:
        condition: Condition = composition.parts[0]
        wanted = condition.values
        n = composition.counts(n)[0]
    if n <= 0:
        raise ValueError("n must be at least 1")
    capped = n > settings.max_images
    n = min(n, settings.max_images)
    if isinstance(wanted, list):
        wanted = wanted[:n]
    seed = int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item())
    options = {"temperature": temperature, "guidance": guidance, "steps": steps}
    for key, low, high in (("temperature", 0.0, 3.0), ("guidance", 0.0, 20.0), ("steps", 1, 1000)):
        if options[key] is not None and not low <= float(options[key]) <= high:
            raise ValueError(f"{key} must be between {low} and {high}")
    started = time.perf_counter()
    images, labels = generate(ckpt, wanted, n, seed, like=like, variation=float(variation), **options)
    sample_ms = 1000 * (time.perf_counter() - started)
    folder = Path(out_dir) if out_dir else _out_dir(settings, "samples", name)
    files = save_images(images, folder, name)
    grid = save_grid(images, folder / "grid.png", nrow=min(8, n)) if n > 1 else files[0]
    used = sample_options(ckpt.hp, **options)
    if composition.compositional:
        cond_named: dict | list = [{"count": part.count or 1, **{a: attrs[a][i] for a, i in part.values.items()}}
                                   for part in composition.parts]
        what = composition.describe(attrs)
    else:
        cond_named = {attr: attrs[attr][idx] for attr, idx in condition.values.items()}
        what = condition.describe(attrs)
    seeds = image_seeds(seed, n)
    summary = (f"{n} image(s) from {name} for {what}" + (f" (capped at {settings.max_images})" if capped else "")
               + (f", like image seed {like} (variation {variation:g})" if like is not None else "")
               + f"; seed {seed} (image i has seed {seed}+i: pass like=<that seed> for more like it)")
    if composition.unknown:
        summary += f". Not understood, so ignored: {', '.join(repr(w) for w in composition.unknown)}"
    return {"model": name, "kind": ckpt.kind, "condition": cond_named, "prompt": prompt_or_class, "n": n,
            "seed": seed, "image_seeds": seeds, "labels": labels.tolist(), "files": files, "grid": grid,
            "originals": [str(Path(f).parent / "original" / Path(f).name) for f in files],
            "capped": capped, "sampling": used, "sample_ms": round(sample_ms, 1),
            "unknown_words": composition.unknown, "like": like, "summary": summary}


def train_image_model(model: str, dataset: str = "digits", epochs: int = 20, folder: str | None = None,
                      name: str | None = None, batch_size: int = 64, seed: int = 0, lr: float | None = None,
                      device: str = "auto", settings: Settings | None = None, owner: str = "local",
                      shared: bool = True) -> dict:
    """Start training in a background job (progress and live loss in the job); returns the job id at once.

    `shared=False` (a user who is not an admin) names the checkpoint after its owner as well (`vae-digits-bob`), so
    the training never replaces the model every other user samples from."""
    from assistant.jobs import JobRunner

    settings = settings or get_settings()
    kind = model.strip().lower()
    if "-" in kind and kind.split("-", 1)[0] in MODEL_KINDS:  # "vae-shapes" names kind and dataset at once
        kind, suffix = kind.split("-", 1)
        if suffix in DATASETS and suffix != "folder":
            dataset = suffix
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown image model {model!r}; choose one of: {', '.join(MODEL_KINDS)}")
    if dataset.startswith("folder:"):
        dataset, folder = "folder", dataset.split(":", 1)[1]
    if dataset not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
    if dataset == "folder":
        load_dataset("folder", folder=folder)  # fail now, not in the job, on an empty or unreadable folder
    epochs = int(epochs)
    if not 1 <= epochs <= MAX_EPOCHS:
        raise ValueError(f"epochs must be between 1 and {MAX_EPOCHS}")
    if not shared and not name:
        name = f"{TrainConfig(model=kind, dataset=dataset, folder=folder).checkpoint_name()}-{owner_suffix(owner)}"
    cfg = TrainConfig(model=kind, dataset=dataset, folder=folder, name=name, epochs=epochs,
                      batch_size=max(1, int(batch_size)), seed=int(seed), device=device,
                      hp={"lr": float(lr)} if lr else {}, owner=None if shared else owner)
    checkpoint = cfg.checkpoint_name()
    job_id = JobRunner(settings).start("image_train", cfg.__dict__, lock_key=f"image:{checkpoint}", owner=owner)
    return {"job_id": job_id, "name": checkpoint, "model": kind, "dataset": dataset, "epochs": epochs,
            "checkpoint_dir": str(settings.images_dir / "checkpoints" / checkpoint)}


def owner_suffix(owner: str) -> str:
    """The account name where it is a plain lowercase name ("bob"), else its slug and a hash ("bob-1f3a9c" for
    "Bob" or "bob."), so two accounts never share a checkpoint name and one's training never replaces another's."""
    account = owner.split(":", 1)[-1]
    slug = re.sub(r"[^a-z0-9]+", "-", account.lower()).strip("-")[:24] or "user"
    return slug if slug == account else f"{slug}-{hashlib.sha256(owner.encode()).hexdigest()[:6]}"


def _load_image(path: str | Path, channels: int, size: int) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
            array = torch.tensor(list(img.getdata()), dtype=torch.float32) / 255.0
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {str(path)!r}: {type(exc).__name__}") from exc
    return array.view(size, size, channels).permute(2, 0, 1).unsqueeze(0)


def inpaint(image: str | Path | None = None, mask_ratio: float = 0.25, model: str = "ssl-digits", seed: int = 0,
            mask: str = "patches", n: int = 8, settings: Settings | None = None, viewer: str | None = None) -> dict:
    """Hide patches of an image (or of n test images) and fill them with a masked-SSL model.

    Writes a 3-row grid (original / masked / filled) and one PNG per filled image.
    """
    settings = settings or get_settings()
    name = resolve_model_name(model)
    ckpt = load_checkpoint(name, settings, viewer=viewer)
    if ckpt.kind != "ssl":
        raise ValueError(f"{name} is a {ckpt.kind} model; inpainting needs a masked-SSL model (ssl-digits, ssl-shapes)")
    if image is not None:
        x = _load_image(image, ckpt.spec["channels"], ckpt.spec["size"])
    else:
        n = max(1, min(int(n), settings.max_images))
        x = dataset_of(ckpt).x_test[:n]
    original, masked, filled, hidden = inpaint_rows(ckpt, x, float(mask_ratio), seed, mask)
    mse = masked_mse(filled, original, hidden).item()
    folder = _out_dir(settings, "inpaint", name)
    grid = save_grid(torch.cat([original, masked, filled]), folder / "rows.png", nrow=len(x))
    files = save_images(filled, folder, "filled")
    return {"model": name, "mask_ratio": mask_ratio, "mask": mask, "grid": grid, "files": [grid, *files],
            "hidden_pixel_mse": round(mse, 5),
            "summary": f"inpainted {len(x)} image(s) with {name}, {mask_ratio:.0%} hidden; rows: original, masked, "
                       f"filled (hidden-pixel MSE {mse:.4f})"}


def evaluate_image_model(model: str, recompute: bool = False, settings: Settings | None = None,
                         viewer: str | None = None) -> dict:
    """The model's test-split metrics (from its card, or recomputed) plus freshly drawn evaluation grids."""
    from assistant.imaging.metrics import evaluate_model

    settings = settings or get_settings()
    name = resolve_model_name(model)
    ckpt = load_checkpoint(name, settings, viewer=viewer)
    metrics = ckpt.card.get("metrics")
    data = None
    if recompute or not metrics:
        data = dataset_of(ckpt)
        metrics = evaluate_model(ckpt.kind, ckpt.model, data, settings=settings, **sample_options(ckpt.hp))
    folder = _out_dir(settings, "eval", name)
    files = []
    if ckpt.kind in GENERATIVE_KINDS:
        attrs = ckpt.spec["attributes"]
        first = next(iter(attrs))
        rows = [generate(ckpt, {first: k}, 8, seed=k)[0] for k in range(min(len(attrs[first]), 10))]
        files.append(save_grid(torch.cat(rows), folder / "samples.png", nrow=8))
        if ckpt.kind == "vae":
            from assistant.imaging.datasets import one_hot
            from assistant.imaging.vae import reconstruct

            data = data or dataset_of(ckpt)
            x, y = data.x_test[:8], data.y_test[:8]
            recon = reconstruct(ckpt.model, x, one_hot(y, attrs))
            files.append(save_grid(torch.cat([x, recon]), folder / "reconstructions.png", nrow=8))
    else:
        files.append(inpaint(model=name, mask_ratio=0.5, settings=settings)["grid"])
    return {"model": name, "kind": ckpt.kind, "dataset": ckpt.spec["dataset"], "metrics": metrics,
            "train_seconds": ckpt.card.get("train_seconds"), "device": ckpt.card.get("device"), "files": files}


def list_image_models(settings: Settings | None = None, viewer: str | None = None) -> list[dict]:
    """Every usable checkpoint `viewer` may see: name, kind, dataset, shipped or user-trained, metrics."""
    settings = settings or get_settings()
    return [{k: card.get(k) for k in ("name", "kind", "dataset", "shipped", "metrics", "train_seconds", "path")}
            for card in list_checkpoints(settings, viewer)]
