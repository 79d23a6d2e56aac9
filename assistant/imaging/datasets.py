"""Offline image datasets behind one interface: sklearn digits, procedurally drawn shapes, or a user's folder.

Every dataset is a set of float images in [0, 1] shaped (N, C, H, W) with integer labels shaped (N, A): one
column per attribute (digits: `digit`; shapes: `shape`, `colour`, `size`; folder: `class`). Conditional models
take one one-hot block per attribute, so a prompt can fix some attributes and leave the rest to chance.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
DATASETS = ("digits", "shapes", "folder")

SHAPES = ["circle", "square", "triangle", "star"]
COLOURS = {"red": (0.9, 0.15, 0.1), "green": (0.1, 0.75, 0.2), "blue": (0.15, 0.3, 0.95), "yellow": (0.95, 0.85, 0.1)}
SIZES = ["small", "large"]


class DatasetError(ValueError):
    """An unknown dataset name or unusable data (empty folder, unreadable files)."""


@dataclass
class ImageDataset:
    """Train/test images in [0, 1] (N, C, H, W) with per-attribute labels (N, A) and their value names."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    attributes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def size(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def class_names(self) -> list[str]:
        """Names of the first attribute's values (the digit, the shape, the folder's classes)."""
        return next(iter(self.attributes.values()))

    def spec(self) -> dict:
        """What a model needs to know about its data; stored in every checkpoint."""
        return {"dataset": self.name, "channels": self.channels, "size": self.size, "attributes": self.attributes}


def condition_dim(attributes: dict[str, list[str]]) -> int:
    return sum(len(values) for values in attributes.values())


def one_hot(labels: torch.Tensor, attributes: dict[str, list[str]]) -> torch.Tensor:
    """(N, A) integer labels -> (N, sum of attribute sizes) concatenated one-hots; -1 gives an all-zero block."""
    blocks = []
    for column, values in enumerate(attributes.values()):
        col = labels[:, column].long()
        block = torch.zeros(len(labels), len(values), device=labels.device)
        known = col >= 0
        block[known, col[known]] = 1.0
        blocks.append(block)
    return torch.cat(blocks, dim=1)


# --- digits ------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def load_digits(size: int = 16, seed: int = 0) -> ImageDataset:
    """scikit-learn's bundled 8x8 digits (1,797), upscaled bilinearly to `size` so the conv nets have room."""
    from sklearn.datasets import load_digits as sk_digits

    data = sk_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.tensor(data.target, dtype=torch.long).unsqueeze(1)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    test = order[: len(x) // 5]  # a fixed 20 % test split
    train = order[len(x) // 5:]
    return ImageDataset("digits", x[train], y[train], x[test], y[test], {"digit": [str(d) for d in range(10)]})


# --- shapes ------------------------------------------------------------------------------------------------------
def _shape_mask(kind: str, xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Boolean mask of one shape of radius `r` centred at (cx, cy), rotated by `angle`, on the grid (xs, ys)."""
    dx, dy = xs - cx, ys - cy
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy
    if kind == "circle":
        return u * u + v * v <= r * r
    if kind == "square":
        half = r * 0.8
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    theta = np.arctan2(v, u)
    rho = np.hypot(u, v)
    if kind == "triangle":
        # distance to the edges of a regular triangle (apothem r/2) in polar form
        sector = np.mod(theta + np.pi / 2, 2 * np.pi / 3) - np.pi / 3
        return rho * np.cos(sector) <= r * 0.5
    # star: five points, radius alternating between r and 0.45 r
    phase = np.mod(theta + np.pi / 2, 2 * np.pi / 5) / (2 * np.pi / 5)
    edge = 0.45 * r + (r - 0.45 * r) * np.abs(2 * phase - 1) ** 1.5
    return rho <= edge


def draw_shapes(n: int, seed: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw `n` labelled shapes deterministically from `seed`: images (n, 3, size, size), labels (n, 3)."""
    rng = np.random.default_rng(seed)
    sup = 2  # draw at 2x and average down: cheap antialiasing
    grid = (np.arange(size * sup) + 0.5) / sup
    xs, ys = np.meshgrid(grid, grid)
    colours = np.array(list(COLOURS.values()), dtype=np.float32)
    images = np.zeros((n, 3, size, size), dtype=np.float32)
    labels = np.stack([rng.integers(0, len(SHAPES), n), rng.integers(0, len(COLOURS), n),
                       rng.integers(0, len(SIZES), n)], axis=1)
    for i, (shape, colour, big) in enumerate(labels):
        r = size * (rng.uniform(0.32, 0.40) if big else rng.uniform(0.14, 0.20))
        margin = r + 1
        cx, cy = rng.uniform(margin, size - margin, 2)
        angle = rng.uniform(-0.3, 0.3)  # a little rotation, never enough to confuse square and diamond
        mask = _shape_mask(SHAPES[shape], xs, ys, cx, cy, r, angle).astype(np.float32)
        mask = mask.reshape(size, sup, size, sup).mean(axis=(1, 3))
        shade = colours[colour] * rng.uniform(0.85, 1.0)
        images[i] = mask[None] * shade[:, None, None]
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


@functools.lru_cache(maxsize=2)
def load_shapes(n_train: int = 6000, n_test: int = 1000, seed: int = 0, size: int = 32) -> ImageDataset:
    """Our own procedural dataset: 4 shapes x 4 colours x 2 sizes on black, 32x32, reproducible from `seed`."""
    x_train, y_train = draw_shapes(n_train, seed, size)
    x_test, y_test = draw_shapes(n_test, seed + 10_000, size)
    attributes = {"shape": list(SHAPES), "colour": list(COLOURS), "size": list(SIZES)}
    return ImageDataset("shapes", x_train, y_train, x_test, y_test, attributes)


# --- a user's folder ---------------------------------------------------------------------------------------------
def load_folder(root: str | Path, size: int = 32, test_fraction: float = 0.2, seed: int = 0,
                max_per_class: int = 5000) -> ImageDataset:
    """Images in `root/<class>/*.png|jpg…`, resized to size x size RGB; unreadable files are reported, not skipped."""
    from PIL import Image, UnidentifiedImageError

    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"image folder {str(root)!r} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = {c: sorted(f for f in (root / c).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)[:max_per_class]
             for c in classes}
    classes = [c for c in classes if files[c]]
    if not classes:
        raise DatasetError(f"no images in {str(root)!r}: expected one sub-folder per class holding "
                           f"{', '.join(sorted(IMAGE_SUFFIXES))} files")
    images, labels, bad = [], [], []
    for label, name in enumerate(classes):
        for path in files[name]:
            try:
                with Image.open(path) as img:
                    img = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
                    images.append(np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0)
                    labels.append(label)
            except (UnidentifiedImageError, OSError) as exc:
                bad.append(f"{path.relative_to(root)} ({type(exc).__name__})")
    if bad:
        shown = "; ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise DatasetError(f"{len(bad)} unreadable image file(s) in {str(root)!r}: {shown}; remove or fix them")
    x = torch.from_numpy(np.stack(images))
    y = torch.tensor(labels, dtype=torch.long).unsqueeze(1)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(len(x) * test_fraction)) if len(x) > 1 else 0
    test, train = order[:n_test], order[n_test:]
    return ImageDataset(f"folder-{root.name}", x[train], y[train], x[test], y[test], {"class": classes})


def load_dataset(name: str, folder: str | Path | None = None, **kwargs) -> ImageDataset:
    """`digits`, `shapes`, or `folder` (with `folder=PATH`; also accepted as `folder:PATH`)."""
    if name.startswith("folder:"):
        name, folder = "folder", name.split(":", 1)[1]
    if name == "digits":
        return load_digits(**kwargs)
    if name == "shapes":
        return load_shapes(**kwargs)
    if name == "folder":
        if not folder:
            raise DatasetError("the folder dataset needs a path: one sub-folder per class")
        return load_folder(folder, **kwargs)
    raise DatasetError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)} (folder needs a path)")
