"""Conditional VAE: encode to mean and log-variance, sample with the reparameterisation trick, decode.

Loss is the negative ELBO (Kingma & Welling 2014, eq. 10): per-image summed binary cross-entropy of the
reconstruction plus KL(q(z|x,c) || N(0, I)) = -1/2 * sum(1 + logvar - mu^2 - exp(logvar)). The condition c
(one-hot attributes) is fed to both encoder and decoder; an all-zero c is not used, unconditional sampling
draws c from the training labels instead.

With `cond_prior` the prior is conditional too, p(z|c) = N(mu(c), diag sigma(c)^2) (as in Sohn et al. 2015's
CVAE), and the KL is taken against it. Why: the encoder sees the image, so z learns the shape as well as c does;
sampling z from N(0, I) then draws a random shape whatever c asks for (vae-shapes drew the asked shape 37 % of
the time). Sampling from p(z|c) keeps z and c consistent.

With `expost_components` K > 0, samples come from an ex-post density instead (Ghosh et al. 2020, "From Variational
to Deterministic Autoencoders"): after training, a K-component full-covariance Gaussian mixture is fitted to the
encoded training images of each condition (each combination of attribute values), and z is drawn from it. Why: on
shapes, a single Gaussian p(z|c) covers regions the decoder never saw (small shapes anywhere in the image), which
decode to blobs; the mixture follows where the data's codes really are (docs/bench_images.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# lr as in the seed; kl_weight is beta of a beta-VAE (Higgins et al. 2017): below 1 the posterior may keep more about
# the image (where a small shape is) than the KL would pay for at 1
DEFAULTS = {"latent": 16, "width": 32, "lr": 2e-3, "cond_prior": False, "cond_maps": False, "kl_weight": 1.0,
            "expost_components": 0}


class ConditionalVAE(nn.Module):
    def __init__(self, channels: int, size: int, cond_dim: int, latent: int = 16, width: int = 32,
                 cond_prior: bool = False, cond_maps: bool = False, attribute_sizes: tuple[int, ...] = (),
                 expost_components: int = 0) -> None:
        super().__init__()
        # the ex-post mixture per condition (filled by `fit_expost` after training); buffers, so they are saved
        self.attribute_sizes = tuple(attribute_sizes) or (cond_dim,)
        self.expost_components = expost_components
        if expost_components:
            combos, k = math.prod(self.attribute_sizes), expost_components
            self.register_buffer("expost_means", torch.zeros(combos, k, latent))
            self.register_buffer("expost_chol", torch.eye(latent).expand(combos, k, latent, latent).clone())
            self.register_buffer("expost_weights", torch.full((combos, k), 1.0 / k))
            self.register_buffer("expost_fitted", torch.zeros(combos, dtype=torch.bool))
        # p(z|c): mean and log-variance from the condition; None means the standard normal prior
        self.prior = nn.Linear(cond_dim, 2 * latent) if cond_prior else None
        self.latent, self.cond_dim, self.size = latent, cond_dim, size
        self.feat = size // 4
        flat = 2 * width * self.feat * self.feat
        self.encoder = nn.Sequential(  # (C + cond maps) x S x S -> 2w x S/4 x S/4
            nn.Conv2d(channels + cond_dim, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.fc_mean = nn.Linear(flat, latent)
        self.fc_logvar = nn.Linear(flat, latent)
        self.fc_decode = nn.Linear(latent + cond_dim, flat)
        # With `cond_maps` the condition is also given to every decoder layer as constant feature maps (as the
        # encoder gets it): through the first linear layer alone, the shape was lost to blur at the larger scales.
        # (Without it the decoder keeps its original layout, so that earlier checkpoints load.)
        self.cond_maps = cond_maps
        if cond_maps:
            self.decoder = nn.ModuleList([
                nn.Sequential(nn.ReLU(), nn.Unflatten(1, (2 * width, self.feat, self.feat))),
                nn.Sequential(nn.ConvTranspose2d(2 * width + cond_dim, width, 4, 2, 1), nn.BatchNorm2d(width),
                              nn.ReLU()),
                nn.ConvTranspose2d(width + cond_dim, channels, 4, 2, 1),  # logits; sigmoid gives pixels
            ])
        else:
            self.decoder = nn.Sequential(
                nn.ReLU(), nn.Unflatten(1, (2 * width, self.feat, self.feat)),
                nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
                nn.ConvTranspose2d(width, channels, 4, 2, 1),  # logits; sigmoid gives pixels
            )

    def encode(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, c): the mean and log-variance of a diagonal Gaussian."""
        maps = cond[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        h = self.encoder(torch.cat([x, maps], dim=1))
        return self.fc_mean(h), self.fc_logvar(h)

    def decode_logits(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.fc_decode(torch.cat([z, cond], dim=1))
        if not self.cond_maps:
            return self.decoder(h)
        h = self.decoder[0](h)
        for layer in self.decoder[1:]:
            h = layer(torch.cat([h, cond[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])], dim=1))
        return h

    def decode(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """p(x | z, c): pixel probabilities in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z, cond))

    def prior_params(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z | c): (0, 0) for the standard normal prior, else the learned conditional mean and log-variance."""
        if self.prior is None:
            zeros = torch.zeros(len(cond), self.latent, device=cond.device)
            return zeros, zeros
        return self.prior(cond).chunk(2, dim=1)

    def combination(self, cond: torch.Tensor) -> torch.Tensor:
        """Index of each row's combination of attribute values (mixed radix over the one-hot blocks)."""
        index = torch.zeros(len(cond), dtype=torch.long, device=cond.device)
        for block, size in zip(cond.split(list(self.attribute_sizes), dim=1), self.attribute_sizes, strict=True):
            index = index * size + block.argmax(dim=1)
        return index

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, logvar = self.encode(x, cond)
        z = reparameterize(mean, logvar)
        return self.decode_logits(z, cond), mean, logvar


def reparameterize(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mean + sigma * eps: a sample that gradients can flow through."""
    return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


def negative_elbo(logits: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
                  prior_mean: torch.Tensor | None = None, prior_logvar: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, reconstruction, KL), each summed over pixels/latents and averaged over the batch.

    KL(N(m, v) || N(m_p, v_p)) = 1/2 sum(log v_p - log v + (v + (m - m_p)^2) / v_p - 1); with m_p = 0, v_p = 1
    it is the seed's -1/2 sum(1 + log v - m^2 - v).
    """
    recon = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="sum") / len(x)
    if prior_mean is None or prior_logvar is None:
        kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp()) / len(x)
    else:
        kl = 0.5 * torch.sum(prior_logvar - logvar + (logvar.exp() + (mean - prior_mean).pow(2))
                             / prior_logvar.exp() - 1) / len(x)
    return recon + kl, recon, kl


def build(spec: dict, **hp) -> ConditionalVAE:
    from assistant.imaging.datasets import condition_dim

    hp = {**DEFAULTS, **hp}
    return ConditionalVAE(spec["channels"], spec["size"], condition_dim(spec["attributes"]), hp["latent"], hp["width"],
                          bool(hp["cond_prior"]), bool(hp["cond_maps"]),
                          tuple(len(values) for values in spec["attributes"].values()), int(hp["expost_components"]))


@torch.no_grad()
def fit_expost(model: ConditionalVAE, x: torch.Tensor, cond: torch.Tensor, seed: int = 0) -> int:
    """Fit the per-condition mixture to the posterior means of the training images; returns conditions fitted."""
    from sklearn.mixture import GaussianMixture

    model.eval()
    means = torch.cat([model.encode(x[i:i + 512], cond[i:i + 512])[0] for i in range(0, len(x), 512)]).float().cpu()
    combos = model.combination(cond).cpu()
    k = model.expost_components
    fitted = 0
    for combo in combos.unique().tolist():
        codes = means[combos == combo].numpy()
        if len(codes) < 2 * k:  # too few images of this condition for K components: its samples use p(z|c)
            continue
        gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(codes)
        model.expost_means[combo] = torch.as_tensor(gmm.means_, dtype=torch.float32)
        model.expost_chol[combo] = torch.linalg.cholesky(torch.as_tensor(gmm.covariances_, dtype=torch.float32))
        model.expost_weights[combo] = torch.as_tensor(gmm.weights_, dtype=torch.float32)
        model.expost_fitted[combo] = True
        fitted += 1
    return fitted


def after_training(model: ConditionalVAE, x: torch.Tensor, cond: torch.Tensor, hp: dict, seed: int = 0) -> dict:
    """The engine's hook once the epochs are done: the ex-post mixture, when the recipe asks for one."""
    if not model.expost_components:
        return {}
    return {"expost_conditions_fitted": fit_expost(model, x, cond, seed)}


def make_optimizers(model: ConditionalVAE, hp: dict) -> dict[str, torch.optim.Optimizer]:
    return {"vae": torch.optim.Adam(model.parameters(), lr=hp.get("lr", DEFAULTS["lr"]))}


def train_step(model: ConditionalVAE, x: torch.Tensor, cond: torch.Tensor, opts: dict, amp,  # noqa: ANN001
               hp: dict | None = None) -> dict[str, float]:
    """One gradient step on the negative ELBO."""
    with amp.autocast():
        logits, mean, logvar = model(x, cond)
    _, recon, kl = negative_elbo(logits, x, mean, logvar, *model.prior_params(cond))
    loss = recon + (hp or {}).get("kl_weight", DEFAULTS["kl_weight"]) * kl  # weight 1: the negative ELBO
    amp.step(loss, opts["vae"])
    return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}


def noise_shape(model: ConditionalVAE) -> tuple[int, ...]:
    return (model.latent,)


@torch.no_grad()
def sample(model: ConditionalVAE, cond: torch.Tensor, generator: torch.Generator | None = None,
           temperature: float = 1.0, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Decode z ~ p(z|c) (or the ex-post mixture, where fitted) with its spread scaled by `temperature`: images in
    [0, 1] (`noise` gives the N(0, I) draw)."""
    eps = (noise if noise is not None else torch.randn(len(cond), model.latent, generator=generator)).to(cond.device)
    prior_mean, prior_logvar = model.prior_params(cond)
    z = prior_mean + (0.5 * prior_logvar).exp() * eps * temperature
    if model.expost_components:
        combo = model.combination(cond)
        component = torch.multinomial(model.expost_weights[combo].cpu(), 1, generator=generator).squeeze(1)
        component = component.to(cond.device)
        mixture = model.expost_means[combo, component] + temperature * (
            model.expost_chol[combo, component] @ eps.unsqueeze(-1)).squeeze(-1)
        z = torch.where(model.expost_fitted[combo].unsqueeze(1), mixture, z)
    return model.decode(z, cond)


@torch.no_grad()
def reconstruct(model: ConditionalVAE, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """Decode the posterior mean: the model's reconstruction of x."""
    mean, _ = model.encode(x, cond)
    return model.decode(mean, cond)
