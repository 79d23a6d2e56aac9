"""Evaluation numbers for the checkpoint cards and the benchmark: ELBO, Fréchet distance, class accuracy, probes."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from assistant.imaging.datasets import ImageDataset, one_hot


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) between two feature sets (as in FID).

    Tr (S_a S_b)^1/2 = Tr (A^1/2 S_b A^1/2)^1/2 with A = S_a: symmetric, so eigh is stable even for the
    rank-deficient covariances that dead ReLU features give.
    """
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.cov(a, rowvar=False) + eps * np.eye(a.shape[1])
    cov_b = np.cov(b, rowvar=False) + eps * np.eye(b.shape[1])
    vals, vecs = np.linalg.eigh(cov_a)
    root_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


@torch.no_grad()
def negative_elbo_on(model: nn.Module, data: ImageDataset, seed: int = 0) -> dict[str, float]:
    """Mean negative ELBO per test image (nats), its reconstruction and KL parts, and per-pixel BCE."""
    from assistant.imaging.vae import negative_elbo

    torch.manual_seed(seed)
    cond = one_hot(data.y_test, data.attributes)
    logits, mean, logvar = model(data.x_test, cond)
    loss, recon, kl = negative_elbo(logits, data.x_test, mean, logvar)
    pixels = data.x_test[0].numel()
    return {"neg_elbo": round(loss.item(), 3), "recon_bce": round(recon.item(), 3), "kl": round(kl.item(), 3),
            "bce_per_pixel": round(recon.item() / pixels, 5)}


@torch.no_grad()
def sample_quality(kind: str, model: nn.Module, data: ImageDataset, settings=None, seed: int = 0,  # noqa: ANN001
                   n: int = 1000) -> dict[str, float]:
    """Fréchet distance to the test split and class accuracy of conditional samples, by the eval classifier."""
    from assistant.imaging.classifier import classifier_for, predict
    from assistant.imaging.engine import MODEL_KINDS

    clf = classifier_for(data, settings)
    gen = torch.Generator().manual_seed(seed)
    # ask for the same attribute mix as the test split, repeated up to n
    reps = -(-n // len(data.y_test))
    labels = data.y_test.repeat(reps, 1)[:n]
    images = MODEL_KINDS[kind].sample(model, one_hot(labels, data.attributes), generator=gen)
    fake_feats, fake_pred = predict(clf, images)
    real_feats, real_pred = predict(clf, data.x_test)
    train_feats, _ = predict(clf, data.x_train[: len(data.x_test)])
    hits = fake_pred == labels
    out = {
        "frechet_distance": round(frechet_distance(fake_feats.numpy(), real_feats.numpy()), 3),
        "frechet_real_train_vs_test": round(frechet_distance(train_feats.numpy(), real_feats.numpy()), 3),
        "class_accuracy": round(hits.all(dim=1).float().mean().item(), 4),
        "classifier_test_accuracy": round((real_pred == data.y_test).all(dim=1).float().mean().item(), 4),
    }
    if len(data.attributes) > 1:
        for a, attr in enumerate(data.attributes):
            out[f"class_accuracy_{attr}"] = round(hits[:, a].float().mean().item(), 4)
    return out


def linear_probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                          seed: int = 0) -> float:
    """Logistic regression on standardised frozen features: test accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=0.1, random_state=seed))
    probe.fit(train_x, train_y)
    return float(probe.score(test_x, test_y))


@torch.no_grad()
def ssl_metrics(model: nn.Module, data: ImageDataset, seed: int = 0, probe_train: int = 3000) -> dict[str, float]:
    """Hidden-pixel MSE (patches at 50 %, and one 8x8 block) and linear-probe accuracy vs two baselines.

    The probe predicts the first attribute (digit, shape, folder class) from the train split and is scored on the
    test split; baselines are raw pixels and the same encoder with its random initial weights.
    """
    from assistant.imaging import ssl

    gen = torch.Generator().manual_seed(seed)
    x = data.x_test
    out = {}
    for label, mask in (("masked_mse_patches50", ssl.random_patch_mask(len(x), model.size, model.patch, 0.5, gen)),
                        ("masked_mse_block8", ssl.random_block_mask(len(x), model.size, 8, gen))):
        out[label] = round(ssl.masked_mse(model(x, mask), x, mask).item(), 5)
    xtr, ytr = data.x_train[:probe_train], data.y_train[:probe_train, 0].numpy()
    yte = data.y_test[:, 0].numpy()
    torch.manual_seed(seed)
    untrained = type(model)(model.channels, model.size, model.encoder[0].out_channels, model.patch).eval()

    def probe(features: callable) -> float:
        return round(linear_probe_accuracy(features(xtr).numpy(), ytr, features(x).numpy(), yte, seed), 4)

    out["probe_ssl_encoder"] = probe(lambda t: ssl.encode_features(model, t))
    out["probe_raw_pixels"] = probe(lambda t: t.flatten(1))
    out["probe_untrained_encoder"] = probe(lambda t: ssl.encode_features(untrained, t))
    return out


def evaluate_model(kind: str, model: nn.Module, data: ImageDataset, settings=None, seed: int = 0) -> dict:  # noqa: ANN001
    """The card's metrics for one model on its dataset's test split."""
    model = model.eval().cpu()
    if kind == "ssl":
        return ssl_metrics(model, data, seed)
    out = sample_quality(kind, model, data, settings, seed)
    if kind == "vae":
        out.update(negative_elbo_on(model, data, seed))
    return out
