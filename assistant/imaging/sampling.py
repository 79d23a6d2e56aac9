"""Turn checkpoints into pictures: conditional sampling, inpainting rows, PNG files and grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from assistant.imaging.datasets import one_hot
from assistant.imaging.engine import MODEL_KINDS, Checkpoint

MIN_PNG_SIDE = 64  # small datasets (16 px digits) are upscaled with nearest-neighbour so a person can see them


def fill_labels(attributes: dict[str, list[str]], wanted: dict[str, int], n: int,
                generator: torch.Generator) -> torch.Tensor:
    """(n, A) labels: the asked-for value where given, a random value per image where not."""
    columns = []
    for attr, values in attributes.items():
        if attr in wanted:
            columns.append(torch.full((n,), int(wanted[attr]), dtype=torch.long))
        else:
            columns.append(torch.randint(0, len(values), (n,), generator=generator))
    return torch.stack(columns, dim=1)


@torch.no_grad()
def generate(ckpt: Checkpoint, wanted: dict[str, int], n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n images from a VAE or GAN checkpoint under the wanted attributes: (images in [0, 1], labels used)."""
    if ckpt.kind not in ("vae", "gan"):
        raise ValueError(f"{ckpt.name} is a {ckpt.kind} model: it fills in masked images (inpaint) but does not "
                         "draw from a prompt; use a vae-* or gan-* model")
    gen = torch.Generator().manual_seed(seed)
    labels = fill_labels(ckpt.spec["attributes"], wanted, n, gen)
    images = MODEL_KINDS[ckpt.kind].sample(ckpt.model, one_hot(labels, ckpt.spec["attributes"]), generator=gen)
    return images.clamp(0, 1), labels


def to_png(image: torch.Tensor, path: Path, min_side: int = MIN_PNG_SIDE) -> Path:
    """Write one (C, H, W) image in [0, 1] as PNG, upscaled by an integer factor to at least `min_side`."""
    from PIL import Image

    array = (image.clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    mode = "L" if array.shape[0] == 1 else "RGB"
    pil = Image.fromarray(array[0] if mode == "L" else array.transpose(1, 2, 0), mode)
    factor = max(1, -(-min_side // pil.width))
    if factor > 1:
        pil = pil.resize((pil.width * factor, pil.height * factor), Image.Resampling.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pil.save(tmp, format="PNG")
    tmp.replace(path)  # a reader (the UI) never sees half a PNG
    return path


def save_images(images: torch.Tensor, out_dir: Path, prefix: str) -> list[str]:
    """One PNG per image: <out_dir>/<prefix>-00.png …"""
    return [str(to_png(img, Path(out_dir) / f"{prefix}-{i:02d}.png")) for i, img in enumerate(images)]


def make_grid(images: torch.Tensor, nrow: int = 8, pad: int = 1) -> torch.Tensor:
    """(N, C, H, W) -> one (C, H', W') grid image with `pad` pixels of grey between tiles."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    grid = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), 0.5)
    for i, img in enumerate(images):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = img
    return grid


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8, min_side: int = 256) -> str:
    return str(to_png(make_grid(images.cpu(), nrow), Path(path), min_side))


@torch.no_grad()
def inpaint_rows(ckpt: Checkpoint, images: torch.Tensor, mask_ratio: float, seed: int = 0,
                 mask: str = "patches") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(original, masked, filled, hidden mask) for a masked-SSL checkpoint: the seed's three-row figure."""
    from assistant.imaging import ssl

    if ckpt.kind != "ssl":
        raise ValueError(f"{ckpt.name} is a {ckpt.kind} model; inpainting needs a masked-SSL model (ssl-*)")
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError("mask_ratio must be between 0 and 1 (exclusive)")
    gen = torch.Generator().manual_seed(seed)
    hidden = ssl.make_mask(ckpt.model, len(images), mask, mask_ratio, gen)
    filled = ssl.inpaint(ckpt.model, images, hidden)
    masked = images * (1 - hidden) + 0.5 * hidden  # grey where hidden, so the holes are visible
    return images, masked, filled, hidden
