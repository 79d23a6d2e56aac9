"""Evaluation numbers for the checkpoint cards and the benchmark: ELBO, Fréchet distance, class accuracy, probes,
within-class diversity and precision/recall of the samples (all in the evaluation classifier's feature space)."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from assistant.imaging.datasets import ImageDataset, one_hot

PR_K = 3  # neighbours for the precision/recall radii (Kynkäänniemi et al. use k=3)


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


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact Euclidean distances (the matmul shortcut leaves ~1e-4 where two features are equal)."""
    return torch.cdist(a.double(), b.double(), compute_mode="donot_use_mm_for_euclid_dist")


def mean_pairwise_distance(feats: torch.Tensor) -> float:
    """Mean Euclidean distance over all distinct pairs of rows (0 for fewer than two rows)."""
    if len(feats) < 2:
        return 0.0
    return float(_distances(feats, feats).sum() / (len(feats) * (len(feats) - 1)))


def within_class_diversity(fake: torch.Tensor, fake_labels: torch.Tensor, real: torch.Tensor,
                           real_labels: torch.Tensor) -> float:
    """Samples' spread within each asked-for condition over real images' spread in the same condition.

    For every label combination (every attribute fixed) present in both sets, the mean pairwise feature distance of
    the samples is divided by that of the real images; the ratios are averaged, weighted by the number of samples.
    1 means as varied as real data; 0 means every sample of a condition is the same image (mode collapse).
    """
    ratios, weights = [], []
    for key in torch.unique(real_labels, dim=0):
        f = fake[(fake_labels == key).all(dim=1)]
        r = real[(real_labels == key).all(dim=1)]
        if len(f) < 2 or len(r) < 2:
            continue
        spread = mean_pairwise_distance(r)
        if spread > 0:
            ratios.append(mean_pairwise_distance(f) / spread)
            weights.append(len(f))
    return float(np.average(ratios, weights=weights)) if ratios else float("nan")


def _knn_radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row."""
    return _distances(feats, feats).kthvalue(k + 1, dim=1).values  # +1: the row itself is at distance 0


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls in feature space.

    Precision: share of samples inside the real manifold (the union of balls around each real feature with the
    radius to its k-th nearest real neighbour): are the samples realistic? Recall: share of real features inside
    the samples' manifold: does the model cover the variety of the real data?
    """
    def inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
        return float((_distances(points, centres) <= radii[None, :]).any(dim=1).float().mean())

    return inside(fake, real, _knn_radii(real, k)), inside(real, fake, _knn_radii(fake, k))


@torch.no_grad()
def negative_elbo_on(model: nn.Module, data: ImageDataset, seed: int = 0) -> dict[str, float]:
    """Mean negative ELBO per test image (nats), its reconstruction and KL parts, and per-pixel BCE."""
    from assistant.imaging.vae import negative_elbo

    torch.manual_seed(seed)
    cond = one_hot(data.y_test, data.attributes)
    logits, mean, logvar = model(data.x_test, cond)
    loss, recon, kl = negative_elbo(logits, data.x_test, mean, logvar, *model.prior_params(cond))
    pixels = data.x_test[0].numel()
    return {"neg_elbo": round(loss.item(), 3), "recon_bce": round(recon.item(), 3), "kl": round(kl.item(), 3),
            "bce_per_pixel": round(recon.item() / pixels, 5)}


@torch.no_grad()
def sample_quality(kind: str, model: nn.Module, data: ImageDataset, settings=None, seed: int = 0,  # noqa: ANN001
                   n: int = 1000, **sample_options) -> dict[str, float]:
    """Fréchet distance to the test split, class accuracy, diversity and precision/recall of conditional samples.

    `sample_options` go to the model kind's `sample` (temperature, guidance, steps); its defaults otherwise.
    """
    from assistant.imaging.classifier import classifier_for, predict
    from assistant.imaging.engine import call_sample

    clf = classifier_for(data, settings)
    gen = torch.Generator().manual_seed(seed)
    # ask for the same attribute mix as the test split, repeated up to n
    reps = -(-n // len(data.y_test))
    labels = data.y_test.repeat(reps, 1)[:n]
    started = time.perf_counter()
    images = call_sample(kind, model, one_hot(labels, data.attributes), gen, **sample_options)
    sample_ms = 1000 * (time.perf_counter() - started) / n
    fake_feats, fake_pred = predict(clf, images)
    real_feats, real_pred = predict(clf, data.x_test)
    train_feats, _ = predict(clf, data.x_train[: len(data.x_test)])
    hits = fake_pred == labels
    out = {
        "frechet_distance": round(frechet_distance(fake_feats.numpy(), real_feats.numpy()), 3),
        "frechet_real_train_vs_test": round(frechet_distance(train_feats.numpy(), real_feats.numpy()), 3),
        "class_accuracy": round(hits.all(dim=1).float().mean().item(), 4),
        "classifier_test_accuracy": round((real_pred == data.y_test).all(dim=1).float().mean().item(), 4),
        "diversity": round(within_class_diversity(fake_feats, labels, real_feats, data.y_test), 3),
        # the floor for diversity: real train images against real test images, same conditions
        "diversity_real_train_vs_test": round(within_class_diversity(
            train_feats, data.y_train[: len(data.x_test)], real_feats, data.y_test), 3),
    }
    # equal counts: the first len(test) samples ask for exactly the test split's labels
    m = min(len(real_feats), len(fake_feats))
    precision, recall = precision_recall(real_feats[:m], fake_feats[:m], k=PR_K)
    out["precision"], out["recall"] = round(precision, 4), round(recall, 4)
    out["sample_ms_per_image"] = round(sample_ms, 3)  # batched (n at once) on this process's threads
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


def finetune_accuracy(model: nn.Module, data: ImageDataset, labels: int = 200, epochs: int = 30, seed: int = 0
                      ) -> float:
    """Fine-tune a copy of the encoder plus a linear head on `labels` labelled train images; test accuracy.

    MAE's own yardstick (He et al. 2022 report fine-tuning beside the linear probe): what pre-training is for is a
    better starting point when labels are few, which a frozen linear probe on random conv features does not show.
    """
    import copy

    torch.manual_seed(seed)
    encoder = copy.deepcopy(model).train()
    classes = len(next(iter(data.attributes.values())))
    head = nn.Linear(encoder.encoder[-3].out_channels * 16, classes)
    params = list(encoder.encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    pick = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(seed))[:labels]
    x, y = data.x_train[pick], data.y_train[pick, 0]

    def logits(images: torch.Tensor) -> torch.Tensor:
        h = encoder.forward_encoder(images, torch.zeros_like(images[:, :1]))
        return head(nn.functional.adaptive_avg_pool2d(h, 4).flatten(1))

    gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 32):
            idx = order[i:i + 32]
            loss = nn.functional.cross_entropy(logits(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    encoder.eval()
    with torch.no_grad():
        predicted = torch.cat([logits(data.x_test[i:i + 512]).argmax(1) for i in range(0, len(data.x_test), 512)])
    return float((predicted == data.y_test[:, 0]).float().mean())


@torch.no_grad()
def ssl_metrics(model: nn.Module, data: ImageDataset, seed: int = 0, probe_train: int = 3000) -> dict[str, float]:
    """Hidden-pixel MSE (patches at 50 %, and one 8x8 block), linear-probe accuracy vs two baselines, and accuracy
    after fine-tuning on 300 labels vs the untrained encoder.

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
    with torch.enable_grad():  # the fine-tuned comparison: 300 labels, 20 epochs, same seed for both encoders
        out["finetune300_ssl_encoder"] = round(finetune_accuracy(model, data, 300, 20, seed), 4)
        out["finetune300_untrained_encoder"] = round(finetune_accuracy(untrained, data, 300, 20, seed), 4)
    return out


def evaluate_model(kind: str, model: nn.Module, data: ImageDataset, settings=None, seed: int = 0,  # noqa: ANN001
                   **sample_options) -> dict:
    """The card's metrics for one model on its dataset's test split."""
    model = model.eval().cpu()
    if kind == "ssl":
        return ssl_metrics(model, data, seed)
    out = sample_quality(kind, model, data, settings, seed, **sample_options)
    if kind == "vae":
        out.update(negative_elbo_on(model, data, seed))
    return out
