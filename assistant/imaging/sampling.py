"""Turn checkpoints into pictures: conditional sampling, inpainting rows, PNG files and grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from assistant.imaging.datasets import one_hot
from assistant.imaging.engine import MODEL_KINDS, Checkpoint, call_sample, sample_options

GENERATIVE_KINDS = ("vae", "gan", "diffusion")  # the kinds that draw from a prompt

# Small images (16 px digits, 32 px shapes) are shown upscaled with nearest-neighbour (every pixel a crisp block,
# no invented detail) so a person can see them in the chat; the originals are kept beside them in `original/`.
MIN_PNG_SIDE = 128


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


def image_seeds(seed: int, n: int) -> list[int]:
    """Image i of a batch drawn with `seed` has seed `seed + i`: any one image can be redrawn or varied alone."""
    return [(int(seed) + i) % 2**63 for i in range(n)]


def _labels_and_noise(ckpt: Checkpoint, wanted: dict[str, int], seed: int, draws: int = 1
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's labels (random where `wanted` leaves an attribute open) and its noise, from its seed: the
    starting noise, or with `draws` > 1 that and the noise of each later sampling step (stochastic diffusion)."""
    gen = torch.Generator().manual_seed(seed)
    labels = fill_labels(ckpt.spec["attributes"], wanted, 1, gen)
    shape = MODEL_KINDS[ckpt.kind].noise_shape(ckpt.model)
    noise = torch.randn(1, *shape, generator=gen) if draws == 1 else torch.randn(1, draws, *shape, generator=gen)
    return labels, noise


@torch.no_grad()
def generate(ckpt: Checkpoint, wanted: dict[str, int] | list[dict[str, int]], n: int, seed: int = 0,
             like: int | None = None, variation: float = 0.3, **options) -> tuple[torch.Tensor, torch.Tensor]:
    """n images from a VAE, GAN or diffusion checkpoint: (images in [0, 1], labels used).

    `wanted` is one condition for every image or one per image (a compositional prompt). Image i comes from seed
    `seed + i` alone, so it can be reproduced. `like=<an image's seed>` draws "more like this": the same labels
    and starting noise as that image, mixed with fresh noise, z = sqrt(1 - v^2) z_like + v z_new, where v =
    `variation` (0 = the same image, 1 = unrelated); the mix keeps z a standard normal. `options` are the
    sampling controls (temperature; guidance and steps for diffusion) over the checkpoint's own defaults. With a
    stochastic sampler (diffusion, eta > 0) the noise of every step comes from the image's seed too.
    """
    if ckpt.kind not in GENERATIVE_KINDS:
        raise ValueError(f"{ckpt.name} is a {ckpt.kind} model: it fills in masked images (inpaint) but does not "
                         "draw from a prompt; use a vae-*, gan-* or diffusion-* model")
    if not 0.0 <= variation <= 1.0:
        raise ValueError("variation must be between 0 and 1")
    per_image = wanted if isinstance(wanted, list) else [wanted] * n
    if len(per_image) != n:
        raise ValueError(f"{len(per_image)} conditions for {n} images")
    options = sample_options(ckpt.hp, **options)
    draws = getattr(MODEL_KINDS[ckpt.kind], "noise_draws", lambda **_: 1)(**options)
    labels, noise = [], []
    for want, s in zip(per_image, image_seeds(seed, n), strict=True):
        lab, z = _labels_and_noise(ckpt, want, s, draws)
        if like is not None:
            lab, z_like = _labels_and_noise(ckpt, want, like, draws)
            z = (1 - variation**2) ** 0.5 * z_like + variation * z
        labels.append(lab)
        noise.append(z)
    labels_t, noise_t = torch.cat(labels), torch.cat(noise)
    images = call_sample(ckpt.kind, ckpt.model, one_hot(labels_t, ckpt.spec["attributes"]), None,
                         noise=noise_t, **options)
    return images.clamp(0, 1), labels_t


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


def save_images(images: torch.Tensor, out_dir: Path, prefix: str, keep_original: bool = True) -> list[str]:
    """One PNG per image, upscaled for display: <out_dir>/<prefix>-00.png …; the originals in <out_dir>/original/."""
    if keep_original:
        for i, img in enumerate(images):
            to_png(img, Path(out_dir) / "original" / f"{prefix}-{i:02d}.png", min_side=1)
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
