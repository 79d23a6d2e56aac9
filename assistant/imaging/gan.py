"""Conditional DCGAN: a generator against a binary real/fake discriminator, trained in alternation.

The discriminator is conditional by projection (Miyato & Koyama 2018): D(x, c) = w.h(x) + <E c, h(x)>, still one
real/fake logit. Both nets use the non-saturating loss of Goodfellow et al. (2014): D minimises
BCE(D(x), 1) + BCE(D(G(z)), 0); G minimises BCE(D(G(z)), 1). While one net steps, the other is frozen.
An auxiliary attribute head on D's features (AC-GAN, Odena et al. 2017; weight `aux_weight`, 0 turns it off)
learns the attributes of real images and tells G when its image shows the wrong one: projection alone learned
colour and size but not shape on the shapes data within a CPU-minute budget.

Conditional GANs tend to ignore z (the condition explains most of the image, so G collapses towards one image per
condition: feature-space diversity 0.77 of real data on digits). The mode-seeking term of MSGAN (Mao et al. 2019,
eq. 3; weight `ms_weight`, 0 turns it off) makes G pay for mapping two noises under one condition to similar
images: it minimises 1 / (mean|G(z1,c) - G(z2,c)| / mean|z1 - z2|).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DEFAULTS = {"latent": 32, "width": 32, "lr": 5e-4, "aux_weight": 1.0, "ms_weight": 0.0}


class Generator(nn.Module):
    """z + condition -> 4x4 feature map -> (transposed conv, BN, ReLU) x k -> tanh image of the dataset's size."""

    def __init__(self, channels: int, size: int, cond_dim: int, latent: int, width: int) -> None:
        super().__init__()
        ups = max(1, (size // 4).bit_length() - 1)  # 16 -> 2 upsamplings, 32 -> 3
        ch = width * 2 ** (ups - 1)
        self.latent = latent
        self.project = nn.Sequential(nn.Linear(latent + cond_dim, ch * 16), nn.BatchNorm1d(ch * 16), nn.ReLU(),
                                     nn.Unflatten(1, (ch, 4, 4)))
        layers: list[nn.Module] = []
        for _ in range(ups - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(torch.cat([z, cond], dim=1)))


class Discriminator(nn.Module):
    """Image -> (strided conv, LeakyReLU) x k -> features h; logit = w.h + <E c, h> (projection)."""

    def __init__(self, channels: int, size: int, cond_dim: int, width: int) -> None:
        super().__init__()
        self.aux = nn.Linear(128, cond_dim)  # attribute logits, one block per attribute
        downs = max(1, (size // 4).bit_length() - 1)
        layers: list[nn.Module] = []
        ch_in, ch = channels, width
        for i in range(downs):
            layers += [nn.Conv2d(ch_in, ch, 4, 2, 1), nn.LeakyReLU(0.2)]
            if i > 0:
                layers.insert(-1, nn.BatchNorm2d(ch))
            ch_in, ch = ch, ch * 2
        layers += [nn.Flatten(), nn.Linear(ch_in * 16, 128), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.real_fake = nn.Linear(128, 1)
        self.embed = nn.Linear(cond_dim, 128, bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(real/fake logit, attribute logits)."""
        h = self.features(x)
        return (self.real_fake(h) + (self.embed(cond) * h).sum(dim=1, keepdim=True)).squeeze(1), self.aux(h)


class ConditionalGAN(nn.Module):
    def __init__(self, channels: int, size: int, cond_dim: int, latent: int = 32, width: int = 32,
                 blocks: list[int] | None = None) -> None:
        super().__init__()
        self.latent = latent
        self.blocks = blocks or [cond_dim]  # sizes of the one-hot blocks in the condition
        self.generator = Generator(channels, size, cond_dim, latent, width)
        self.discriminator = Discriminator(channels, size, cond_dim, width)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE: real -> 1, fake -> 0."""
    return (F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits.float()))
            + F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits.float())))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating: G wants D to call its images real."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits.float()))


def attribute_loss(logits: torch.Tensor, cond: torch.Tensor, blocks: list[int]) -> torch.Tensor:
    """Cross-entropy of each attribute block of the auxiliary head against the one-hot condition."""
    parts = zip(logits.float().split(blocks, dim=1), cond.split(blocks, dim=1), strict=True)
    return sum(F.cross_entropy(lg, target.argmax(1)) for lg, target in parts)


def mode_seeking_loss(fake_a: torch.Tensor, fake_b: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor,
                      eps: float = 1e-5) -> torch.Tensor:
    """MSGAN: the reciprocal of image distance over noise distance, for pairs drawn under the same condition."""
    ratio = (fake_a.float() - fake_b.float()).abs().mean() / (z_a - z_b).abs().mean()
    return 1 / (ratio + eps)


def build(spec: dict, **hp) -> ConditionalGAN:
    from assistant.imaging.datasets import condition_dim

    hp = {**DEFAULTS, **hp}
    blocks = [len(values) for values in spec["attributes"].values()]
    model = ConditionalGAN(spec["channels"], spec["size"], condition_dim(spec["attributes"]), hp["latent"],
                           hp["width"], blocks)
    # channels-last convolutions train ~15 % faster on the CPU (oneDNN's preferred layout) and are no slower on CUDA
    return model.to(memory_format=torch.channels_last)


def make_optimizers(model: ConditionalGAN, hp: dict) -> dict[str, torch.optim.Optimizer]:
    lr = hp.get("lr", DEFAULTS["lr"])
    return {"generator": torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.999)),
            "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))}


def train_step(model: ConditionalGAN, x: torch.Tensor, cond: torch.Tensor, opts: dict, amp,  # noqa: ANN001
               hp: dict | None = None) -> dict[str, float]:
    """One discriminator step (G frozen), then one generator step (D frozen), on the same conditions.

    G draws the batch once: D's step reads it detached, and G's step backpropagates through the same images (G is
    unchanged in between, so a second forward would give the same ones). On the CPU that forward was ~1/8 of a step.
    """
    hp = {**DEFAULTS, **(hp or {})}
    aux, ms = float(hp["aux_weight"]), float(hp["ms_weight"])
    real = (x * 2 - 1).contiguous(memory_format=torch.channels_last)  # the generator's tanh range; see `build`
    z = torch.randn(len(x), model.latent, device=x.device)
    with amp.autocast():
        fake = model.generator(z, cond)
        real_logit, real_attr = model.discriminator(real, cond)
        fake_logit, _ = model.discriminator(fake.detach(), cond)
        d_loss = discriminator_loss(real_logit, fake_logit)
        if aux:  # D learns attributes from real images only
            d_loss = d_loss + aux * attribute_loss(real_attr, cond, model.blocks)
    amp.step(d_loss, opts["discriminator"])
    model.discriminator.requires_grad_(False)
    with amp.autocast():
        fake_logit, fake_attr = model.discriminator(fake, cond)
        g_loss = generator_loss(fake_logit)
        if aux:
            g_loss = g_loss + aux * attribute_loss(fake_attr, cond, model.blocks)
        if ms:  # a second noise for the first half of the batch, same conditions
            half = max(1, len(x) // 2)
            z_b = torch.randn(half, model.latent, device=x.device)
            g_loss = g_loss + ms * mode_seeking_loss(fake[:half], model.generator(z_b, cond[:half]), z[:half], z_b)
    amp.step(g_loss, opts["generator"])
    model.discriminator.requires_grad_(True)
    return {"loss": g_loss.item() + d_loss.item(), "d_loss": d_loss.item(), "g_loss": g_loss.item()}


def noise_shape(model: ConditionalGAN) -> tuple[int, ...]:
    return (model.latent,)


@torch.no_grad()
def sample(model: ConditionalGAN, cond: torch.Tensor, generator: torch.Generator | None = None,
           temperature: float = 1.0, noise: torch.Tensor | None = None) -> torch.Tensor:
    """One forward pass of G per image: images in [0, 1].

    `temperature` scales z ~ N(0, I): below 1 is the truncation trick (more typical, less varied images), above 1
    more varied and less faithful. `noise` gives z itself (variations of an earlier image).
    """
    z = noise if noise is not None else torch.randn(len(cond), model.latent, generator=generator)
    return (model.generator(z.to(cond.device) * temperature, cond) + 1) / 2
