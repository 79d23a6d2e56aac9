"""Masked image modelling: hide patches of an image, train a conv autoencoder to fill them in (MSE).

Two ways to mask: the seed's one random 8x8 block per image, and MAE-style (He et al. 2022) random patches
at a given ratio. The loss is the mean squared error on the hidden pixels only (as in MAE), so the model is
rewarded for inferring what it cannot see. The encoder's feature map is what the linear probe evaluates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DEFAULTS = {"width": 32, "lr": 1e-3, "mask": "patches", "mask_ratio": 0.5, "patch": 0}  # lr as in the seed


class MaskedAutoencoder(nn.Module):
    """Encoder sees the visible pixels plus the mask as an extra channel; decoder predicts every pixel."""

    def __init__(self, channels: int, size: int, width: int = 32, patch: int = 0) -> None:
        super().__init__()
        self.channels, self.size = channels, size
        self.patch = patch or max(2, size // 4)  # 16 px -> 4 px patches, 32 px -> 8 px (the seed's 8x8)
        self.encoder = nn.Sequential(
            nn.Conv2d(channels + 1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 2, stride=2), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 2, stride=2), nn.Sigmoid(),
        )

    def forward_encoder(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(torch.cat([x * (1 - mask), mask], dim=1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.forward_encoder(x, mask))


def random_block_mask(n: int, size: int, block: int = 8, generator: torch.Generator | None = None) -> torch.Tensor:
    """The seed's mask: one random block x block square per image; (n, 1, size, size), 1 = hidden."""
    block = min(block, size)
    mask = torch.zeros(n, 1, size, size)
    corners = torch.randint(0, size - block + 1, (n, 2), generator=generator)
    for i, (top, left) in enumerate(corners.tolist()):
        mask[i, :, top:top + block, left:left + block] = 1.0
    return mask


def random_patch_mask(n: int, size: int, patch: int, ratio: float, generator: torch.Generator | None = None
                      ) -> torch.Tensor:
    """MAE-style: hide round(ratio * patches) randomly chosen patch x patch tiles per image."""
    grid = size // patch
    count = grid * grid
    hidden = min(count - 1, max(1, round(ratio * count)))
    order = torch.rand(n, count, generator=generator).argsort(dim=1)
    tiles = torch.zeros(n, count)
    tiles.scatter_(1, order[:, :hidden], 1.0)
    mask = tiles.view(n, 1, grid, grid)
    return F.interpolate(mask, scale_factor=patch, mode="nearest")


def make_mask(model: MaskedAutoencoder, n: int, kind: str, ratio: float,
              generator: torch.Generator | None = None) -> torch.Tensor:
    if kind == "block":
        return random_block_mask(n, model.size, 8, generator)
    if kind == "patches":
        return random_patch_mask(n, model.size, model.patch, ratio, generator)
    raise ValueError(f"unknown mask kind {kind!r}; use 'patches' or 'block'")


def masked_mse(pred: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over hidden pixels only."""
    mask = mask.expand_as(x)
    return ((pred.float() - x.float()) ** 2 * mask).sum() / mask.sum().clamp_min(1.0)


def build(spec: dict, **hp) -> MaskedAutoencoder:
    hp = {**DEFAULTS, **hp}
    return MaskedAutoencoder(spec["channels"], spec["size"], hp["width"], hp["patch"])


def make_optimizers(model: MaskedAutoencoder, hp: dict) -> dict[str, torch.optim.Optimizer]:
    return {"mae": torch.optim.Adam(model.parameters(), lr=hp.get("lr", DEFAULTS["lr"]))}


def train_step(model: MaskedAutoencoder, x: torch.Tensor, cond: torch.Tensor, opts: dict, amp,  # noqa: ANN001
               hp: dict | None = None) -> dict[str, float]:
    """Mask a batch (block or patches, per the config), fill it, step on the hidden-pixel MSE."""
    hp = {**DEFAULTS, **(hp or {})}
    mask = make_mask(model, len(x), hp["mask"], hp["mask_ratio"]).to(x.device)
    with amp.autocast():
        pred = model(x, mask)
    loss = masked_mse(pred, x, mask)
    amp.step(loss, opts["mae"])
    return {"loss": loss.item()}


@torch.no_grad()
def inpaint(model: MaskedAutoencoder, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Keep the visible pixels, take the model's prediction where hidden."""
    return x * (1 - mask) + model(x, mask) * mask


@torch.no_grad()
def encode_features(model: MaskedAutoencoder, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Encoder features of whole (unmasked) images, pooled to 4x4 and flattened: the linear probe's input."""
    out = []
    for i in range(0, len(x), batch):
        chunk = x[i:i + batch]
        h = model.forward_encoder(chunk, torch.zeros_like(chunk[:, :1]))
        out.append(F.adaptive_avg_pool2d(h, 4).flatten(1).cpu())
    return torch.cat(out)
