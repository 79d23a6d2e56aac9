"""The evaluation classifier: one small CNN per dataset, trained once on its train split, reused for every model.

Its penultimate 128-d features give the Fréchet distance (an FID analogue for our small datasets: Inception
was trained on photos and cannot be downloaded here), and its per-attribute heads check whether a conditional
sample shows what was asked for. It is saved beside the checkpoints as `classifier-<dataset>/` so every model
on a dataset is judged by the same network.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from assistant.imaging.datasets import ImageDataset


class EvalClassifier(nn.Module):
    """(conv, BN, ReLU, pool) x2, conv -> 128-d features -> one linear head per attribute."""

    def __init__(self, channels: int, attributes: dict[str, list[str]], width: int = 32) -> None:
        super().__init__()
        self.attributes = attributes
        # pooled early: this runs on 2 CPU cores, and our datasets need little resolution to classify
        self.features = nn.Sequential(
            nn.Conv2d(channels, width // 2, 3, padding=1), nn.BatchNorm2d(width // 2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width // 2, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(2 * width * 16, 128), nn.ReLU(),
        )
        self.heads = nn.ModuleList(nn.Linear(128, len(values)) for values in attributes.values())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.features(x)
        return [head(h) for head in self.heads]


def train_classifier(data: ImageDataset, epochs: int | None = None, seed: int = 0, batch_size: int = 64
                     ) -> EvalClassifier:
    """Cross-entropy summed over attributes; light shift augmentation so generated images are judged fairly."""
    torch.manual_seed(seed)
    epochs = epochs or max(6, min(30, 24_000 // max(1, len(data.x_train))))  # ~24k images seen: 16 epochs of digits
    model = EvalClassifier(data.channels, data.attributes)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    n = len(data.x_train)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            x, y = data.x_train[idx], data.y_train[idx]
            dx, dy = torch.randint(-1, 2, (2,), generator=gen).tolist()
            x = torch.roll(x, shifts=(dx, dy), dims=(2, 3))
            loss = sum(F.cross_entropy(logits, y[:, a]) for a, logits in enumerate(model(x)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def predict(model: EvalClassifier, x: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, 128), predicted labels (N, A))."""
    feats, preds = [], []
    for i in range(0, len(x), batch):
        chunk = x[i:i + batch].float()
        h = model.features(chunk)
        feats.append(h)
        preds.append(torch.stack([head(h).argmax(1) for head in model.heads], dim=1))
    return torch.cat(feats), torch.cat(preds)


@torch.no_grad()
def test_accuracy(model: EvalClassifier, data: ImageDataset) -> dict[str, float]:
    _, preds = predict(model, data.x_test)
    return {attr: round((preds[:, a] == data.y_test[:, a]).float().mean().item(), 4)
            for a, attr in enumerate(data.attributes)}


def classifier_for(data: ImageDataset, settings=None) -> EvalClassifier:  # noqa: ANN001
    """Load this dataset's evaluation classifier (shipped or user-trained), training and saving it if missing."""
    from assistant.imaging.engine import SHIPPED_DIR, save_checkpoint, user_checkpoints_dir

    name = f"classifier-{data.name}"
    places = [SHIPPED_DIR] + ([user_checkpoints_dir(settings)] if settings is not None else [])
    for place in places:
        path = place / name / "model.pt"
        if path.exists():
            try:
                blob = torch.load(path, map_location="cpu", weights_only=True)
                if blob["spec"]["attributes"] == data.attributes and blob["spec"]["size"] == data.size:
                    model = EvalClassifier(data.channels, data.attributes)
                    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                                           for k, v in blob["state_dict"].items()})
                    return model.eval()
            except Exception:  # noqa: BLE001 - a broken cache is rebuilt below
                pass
    started = time.monotonic()
    with torch.enable_grad():  # callers may be inside no_grad
        model = train_classifier(data)
    card = {"name": name, "kind": "classifier", "dataset": data.name, "test_accuracy": test_accuracy(model, data),
            "train_seconds": round(time.monotonic() - started, 1)}
    target = user_checkpoints_dir(settings) if settings is not None else Path(SHIPPED_DIR)
    save_checkpoint(target / name, "classifier", model, data.spec(), {}, card)
    return model
