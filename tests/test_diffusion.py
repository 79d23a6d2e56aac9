"""Issue 17: diversity metrics, the diffusion model, seeds and variations, upscaling, compositional prompts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from assistant.config import Settings
from assistant.imaging import diffusion, gan, vae
from assistant.imaging.datasets import ImageDataset, load_digits, one_hot
from assistant.imaging.engine import SHIPPED_DIR, Amp, TrainConfig, load_checkpoint, sample_options, train
from assistant.imaging.metrics import precision_recall, within_class_diversity
from assistant.imaging.prompting import PromptError, parse_composition
from tests.test_imaging import DIGITS, SHAPES

torch.set_num_threads(2)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", adapters_dir=tmp_path / "adapters")


# --- diversity and precision/recall --------------------------------------------------------------------------------
def test_diversity_is_zero_for_copies_and_about_one_for_real_data() -> None:
    from assistant.imaging.classifier import classifier_for, predict

    data = load_digits()
    clf = classifier_for(data)
    real, _ = predict(clf, data.x_test)
    other, _ = predict(clf, data.x_train[: len(data.x_test)])
    labels, other_labels = data.y_test, data.y_train[: len(data.x_test)]
    # one image per class, repeated: what a fully collapsed conditional generator draws
    firsts = torch.stack([real[(labels[:, 0] == k).nonzero()[0, 0]] for k in range(10)])
    copies = firsts[labels[:, 0]]
    assert within_class_diversity(copies, labels, real, labels) == 0.0
    assert 0.85 < within_class_diversity(other, other_labels, real, labels) < 1.15
    p_real, r_real = precision_recall(real, other, k=3)
    p_copy, r_copy = precision_recall(real, copies, k=3)
    assert p_real > 0.7 and r_real > 0.7
    assert r_copy < 0.1 < p_copy  # copies of real images are realistic but cover nothing


# --- the fixes to the GAN and the VAE --------------------------------------------------------------------------------
def test_mode_seeking_term_punishes_ignoring_the_noise() -> None:
    z_a, z_b = torch.randn(8, 32), torch.randn(8, 32)
    same = torch.rand(8, 1, 16, 16)
    assert gan.mode_seeking_loss(same, same, z_a, z_b) > 1e4
    assert gan.mode_seeking_loss(same, torch.rand(8, 1, 16, 16), z_a, z_b) < 10


def test_vae_conditional_prior_kl_matches_the_standard_one_at_zero() -> None:
    logits, x = torch.randn(4, 1, 16, 16), torch.rand(4, 1, 16, 16)
    mean, logvar = torch.randn(4, 16), torch.randn(4, 16) * 0.1
    zeros = torch.zeros(4, 16)
    standard = vae.negative_elbo(logits, x, mean, logvar)[2]
    assert torch.allclose(vae.negative_elbo(logits, x, mean, logvar, zeros, zeros)[2], standard)
    # and the KL to a prior centred on the posterior mean is smaller
    assert vae.negative_elbo(logits, x, mean, logvar, mean, zeros)[2] < standard
    spec = {"dataset": "digits", "channels": 1, "size": 16, "attributes": DIGITS}
    model = vae.build(spec, cond_prior=True).eval()
    out = vae.sample(model, one_hot(torch.zeros(3, 1, dtype=torch.long), DIGITS), temperature=0.0)
    assert torch.allclose(out[0], out[1])  # temperature 0: the prior's mean for that class


def test_vae_expost_mixture_is_fitted_per_condition_and_sampled(tmp_path) -> None:
    """Codes of each shape/colour/size combination get their own mixture; samples at temperature 0 decode one of its
    component means; a combination with too few images falls back to p(z|c); the mixture survives save/load."""
    from assistant.imaging.engine import save_checkpoint

    torch.manual_seed(0)
    spec = {"dataset": "shapes", "channels": 3, "size": 32, "attributes": SHAPES}
    model = vae.build(spec, latent=4, cond_prior=True, expost_components=2).eval()
    labels = torch.tensor([[0, 0, 0]] * 40 + [[2, 1, 1]] * 40 + [[3, 3, 0]] * 3)  # the last: too few for 2 parts
    x, cond = torch.rand(len(labels), 3, 32, 32), one_hot(labels, SHAPES)
    assert vae.after_training(model, x, cond, {}) == {"expost_conditions_fitted": 2}
    combos = model.combination(cond)
    assert combos[0] == 0 and combos[40] == 2 * 8 + 1 * 2 + 1 and model.expost_fitted.sum() == 2
    with torch.no_grad():
        codes = model.encode(x[:40], cond[:40])[0]
    means = model.expost_means[0]  # the two components sit among that condition's codes
    assert codes.min(0).values.le(means).all() and means.le(codes.max(0).values).all()

    seen, original = [], model.decode
    model.decode = lambda z, c: seen.append(z) or original(z, c)  # the z each row is decoded from
    vae.sample(model, cond[[0, 0, 80]], generator=torch.Generator().manual_seed(0), temperature=0.0)
    z = seen[0]
    assert any(torch.allclose(z[0], m) for m in means) and any(torch.allclose(z[1], m) for m in means)
    prior_mean, _ = model.prior_params(cond[[80]])
    assert torch.allclose(z[2], prior_mean[0])  # not fitted: the conditional prior's mean
    model.decode = original

    folder = save_checkpoint(tmp_path / "vae-x", "vae", model, spec, {"latent": 4, "cond_prior": True,
                                                                      "expost_components": 2}, {})
    loaded = load_checkpoint(folder).model
    assert torch.equal(loaded.expost_means, model.expost_means) and torch.equal(loaded.expost_fitted,
                                                                                model.expost_fitted)


# --- diffusion -------------------------------------------------------------------------------------------------------
def test_cosine_schedule_goes_from_data_to_noise() -> None:
    abar = diffusion.cosine_alpha_bar(1000)
    assert abar[0] > 0.999 and abar[-1] < 1e-3 and torch.all(abar[1:] <= abar[:-1])


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_the_true_target_gives_back_the_noise_and_the_image(prediction: str) -> None:
    spec = {"dataset": "digits", "channels": 1, "size": 16, "attributes": DIGITS}
    model = diffusion.build(spec, width=16, prediction=prediction)
    x0, eps = torch.rand(4, 1, 16, 16) * 2 - 1, torch.randn(4, 1, 16, 16)
    t = torch.tensor([10, 300, 700, 990])
    x_t = diffusion.q_sample(model, x0, t, eps)
    got_eps, got_x0 = diffusion.eps_and_x0(model, diffusion.target(model, x0, t, eps), x_t,
                                           model.alpha_bar[t][:, None, None, None])
    assert torch.allclose(got_eps, eps, atol=1e-3) and torch.allclose(got_x0, x0, atol=2e-2)


def test_scale_shift_conditioning_scales_features_and_leaves_the_additive_net_as_it_was() -> None:
    """With `scale_shift` each block's embedding layer gives a scale and a shift (twice the outputs); without it
    the block computes exactly what earlier checkpoints were trained with: norm(conv(x) + bias)."""
    torch.manual_seed(0)
    spec = {"dataset": "digits", "channels": 1, "size": 16, "attributes": DIGITS}
    plain, film = diffusion.build(spec, width=16), diffusion.build(spec, width=16, scale_shift=True)
    block, film_block = plain.net.mid, film.net.mid
    assert film_block.emb.out_features == 2 * block.emb.out_features
    x, emb = torch.randn(2, 32, 8, 8), torch.randn(2, block.emb.in_features)
    torch.nn.init.normal_(block.conv2.weight)
    h = block.conv1(torch.nn.functional.silu(block.norm1(x))) + block.emb(emb)[:, :, None, None]
    expected = block.skip(x) + block.conv2(torch.nn.functional.silu(block.norm2(h)))
    assert torch.allclose(block(x, emb), expected, atol=1e-5)
    # the condition now multiplies: doubling the scale's input moves the output, a shift alone could not rescale
    with torch.no_grad():
        film_block.emb.weight.zero_()
        film_block.emb.bias.zero_()
        film_block.emb.bias[:32] = 1.0  # scale + 1 = 2 on every channel, no shift
    torch.nn.init.normal_(film_block.conv2.weight)
    doubled = film_block.conv1(torch.nn.functional.silu(film_block.norm1(x)))
    expected = film_block.skip(x) + film_block.conv2(torch.nn.functional.silu(film_block.norm2(doubled) * 2))
    assert torch.allclose(film_block(x, emb), expected, atol=1e-5)


def test_diffusion_training_lowers_the_loss_and_moves_the_ema() -> None:
    torch.manual_seed(0)
    data = load_digits()
    model = diffusion.build(data.spec(), width=16)
    x, cond = data.x_train[:64], one_hot(data.y_train[:64], DIGITS)
    gen = torch.Generator().manual_seed(1)
    t = torch.randint(0, 1000, (64,), generator=gen)
    eps = torch.randn(64, 1, 16, 16, generator=gen)

    def fixed_loss() -> float:  # the same noise and steps before and after, so only the weights differ
        with torch.no_grad():
            x_t = diffusion.q_sample(model, x * 2 - 1, t, eps)
            wanted = diffusion.target(model, x * 2 - 1, t, eps)
            return torch.nn.functional.mse_loss(model.net(x_t, t, cond), wanted).item()

    before = fixed_loss()
    ema_before = [p.clone() for p in model.ema.parameters()]
    opts = diffusion.make_optimizers(model, {"lr": 2e-3})
    for _ in range(30):
        diffusion.train_step(model, x, cond, opts, Amp(torch.device("cpu")), {})
    assert fixed_loss() < 0.7 * before
    assert any(not torch.equal(a, b) for a, b in zip(ema_before, model.ema.parameters(), strict=True))


def test_min_snr_weighting_down_weights_the_nearly_clean_steps() -> None:
    data = load_digits()
    model = diffusion.build(data.spec(), width=16)
    x, cond = data.x_train[:64] * 2 - 1, one_hot(data.y_train[:64], DIGITS)
    losses = {}
    for gamma in (0.0, 5.0):
        torch.manual_seed(0)  # the same steps and noise for each weighting
        with torch.no_grad():
            losses[gamma] = diffusion.diffusion_loss(model, x, cond, gamma).item()
    torch.manual_seed(0)
    t = torch.randint(0, model.timesteps, (64,))
    eps = torch.randn_like(x)
    with torch.no_grad():
        error = ((model.net(diffusion.q_sample(model, x, t, eps), t, cond) - diffusion.target(model, x, t, eps)) ** 2
                 ).mean(dim=(1, 2, 3))
    snr = model.alpha_bar[t] / (1 - model.alpha_bar[t])
    assert losses[0.0] == pytest.approx(error.mean().item(), rel=1e-4)
    # v-prediction: each step's error weighted by min(SNR, 5) / (SNR + 1), below 1 everywhere
    assert losses[5.0] == pytest.approx((error * snr.clamp(max=5.0) / (snr + 1)).mean().item(), rel=1e-4)
    assert losses[5.0] < losses[0.0]


def test_condition_dropout_zeroes_whole_blocks() -> None:
    cond = one_hot(torch.tensor([[0, 1, 1]] * 2000), SHAPES)
    dropped = diffusion.drop_condition(cond, [4, 4, 2], 0.1, 0.1, torch.Generator().manual_seed(0))
    blocks = dropped.split([4, 4, 2], dim=1)
    assert all(set(b.sum(1).unique().tolist()) <= {0.0, 1.0} for b in blocks)  # a block is kept or zeroed whole
    all_zero = (dropped.sum(1) == 0).float().mean().item()
    assert 0.07 < all_zero < 0.14  # ~p_uncond (+ the rare case of every block dropped)


def test_ddim_sampling_shape_range_and_determinism() -> None:
    spec = {"dataset": "shapes", "channels": 3, "size": 32, "attributes": SHAPES}
    model = diffusion.build(spec, width=16).eval()
    cond = one_hot(torch.tensor([[0, 1, 1], [2, 0, 0]]), SHAPES)
    a = diffusion.sample(model, cond, torch.Generator().manual_seed(0), steps=5)
    b = diffusion.sample(model, cond, torch.Generator().manual_seed(0), steps=5)
    assert a.shape == (2, 3, 32, 32) and a.min() >= 0 and a.max() <= 1 and torch.equal(a, b)


@pytest.mark.skipif(not (SHIPPED_DIR / "diffusion-digits" / "model.pt").exists(), reason="not built yet")
def test_shipped_diffusion_draws_the_asked_digit() -> None:
    from assistant.imaging.classifier import classifier_for, predict

    ckpt = load_checkpoint("diffusion-digits")
    labels = torch.tensor([3, 7, 8]).repeat_interleave(8).unsqueeze(1)
    images = diffusion.sample(ckpt.model, one_hot(labels, DIGITS), torch.Generator().manual_seed(0),
                              guidance=ckpt.hp["guidance"])
    _, preds = predict(classifier_for(load_digits()), images)
    assert (preds == labels).float().mean() >= 0.9
    # and not one image per digit: the eight 7s differ from each other
    sevens = images[8:16].flatten(1)
    assert torch.cdist(sevens, sevens).sum() / (8 * 7) > 1.0


def test_diffusion_trains_through_the_engine(tmp_path: Path) -> None:
    full = load_digits()
    tiny = ImageDataset("digits", full.x_train[:128], full.y_train[:128], full.x_test[:50], full.y_test[:50],
                        full.attributes)
    card = train(TrainConfig(model="diffusion", epochs=2, batch_size=64, evaluate=False, name="d",
                             hp={"width": 16}), data=tiny, out_dir=tmp_path)
    ckpt = load_checkpoint(tmp_path / "d")
    assert ckpt.kind == "diffusion" and len(card["loss_history"]) == 2
    out = diffusion.sample(ckpt.model, one_hot(torch.tensor([[3]]), DIGITS), steps=3)
    assert out.shape == (1, 1, 16, 16)


def test_lr_cooldown_decays_the_rate_over_the_last_steps(tmp_path: Path) -> None:
    from assistant.imaging.engine import lr_factor

    assert [lr_factor(s, 8, 0.5) for s in range(8)] == [1, 1, 1, 1, 1, 0.75, 0.5, 0.25]
    assert lr_factor(7, 8, 0.0) == 1.0
    full = load_digits()
    tiny = ImageDataset("digits", full.x_train[:128], full.y_train[:128], full.x_test[:50], full.y_test[:50],
                        full.attributes)
    seen = {}

    def after_epoch(epoch: int, model) -> None:  # noqa: ANN001 - the run state holds the optimiser after each epoch
        state = tmp_path / ".runs" / "c.pt"
        if state.exists():
            seen[epoch - 1] = torch.load(state, weights_only=False)["opts"]["net"]["param_groups"][0]["lr"]

    # 128 images in batches of 64, 4 epochs: 8 steps, the last half cooling down (the rate is set before a step)
    train(TrainConfig(model="diffusion", epochs=4, batch_size=64, evaluate=False, name="c",
                      hp={"width": 16, "lr": 2e-3, "lr_cooldown": 0.5}), data=tiny, out_dir=tmp_path,
          on_epoch=after_epoch)
    assert seen[1] == pytest.approx(2e-3) and seen[3] == pytest.approx(2e-3 * 0.75)


def test_shipped_diffusion_draws_the_asked_shape_colour_and_size() -> None:
    from assistant.imaging.classifier import classifier_for, predict
    from assistant.imaging.datasets import load_shapes

    ckpt = load_checkpoint("diffusion-shapes")
    data = load_shapes()
    labels = data.y_test[:64]  # small and large shapes of every kind, as the test split mixes them
    images = diffusion.sample(ckpt.model, one_hot(labels, SHAPES), torch.Generator().manual_seed(0),
                              **sample_options(ckpt.hp))  # as the app samples it: eta 1, 30 steps, guidance 1.5
    _, preds = predict(classifier_for(data), images)
    assert (preds == labels).all(dim=1).float().mean() >= 0.85  # the card: 99.2 % of 1,000


def test_cpu_bf16_autocast_is_asked_for_not_assumed() -> None:
    """`precision` decides: float32 never autocasts on CPU, bfloat16 always, auto only where the CPU has bf16."""
    from assistant.config import cpu_computes_bf16

    cpu = torch.device("cpu")
    x = torch.randn(4, 8)
    layer = torch.nn.Linear(8, 8)
    for precision, expected in [("float32", torch.float32), ("bfloat16", torch.bfloat16),
                                ("auto", torch.bfloat16 if cpu_computes_bf16() else torch.float32)]:
        with Amp(cpu, precision).autocast():
            assert layer(x).dtype == expected, precision
    with pytest.raises(ValueError, match="precision"):
        Amp(cpu, "fp8")


def test_bf16_training_through_the_engine_records_its_precision(tmp_path: Path) -> None:
    full = load_digits()
    tiny = ImageDataset("digits", full.x_train[:128], full.y_train[:128], full.x_test[:50], full.y_test[:50],
                        full.attributes)
    card = train(TrainConfig(model="diffusion", epochs=2, batch_size=64, evaluate=False, name="b", precision="bfloat16",
                             hp={"width": 16}), data=tiny, out_dir=tmp_path)
    assert card["precision"] == "bfloat16" and card["loss_history"][1] < card["loss_history"][0]
    assert all(p.dtype == torch.float32 for p in load_checkpoint(tmp_path / "b").model.parameters())  # fp32 weights


# --- seeds, variations, display size ---------------------------------------------------------------------------------
def test_image_seeds_reproduce_single_images_and_like_makes_variations(settings: Settings) -> None:
    from assistant.imaging.sampling import generate

    ckpt = load_checkpoint("gan-digits")
    batch, _ = generate(ckpt, {"digit": 7}, 4, seed=10)
    alone, _ = generate(ckpt, {"digit": 7}, 1, seed=12)
    # Image i of a batch with seed s is the image of seed s + i: the same noise, so the same picture. Up to float
    # rounding: oneDNN picks other convolution kernels for other batch sizes (on AVX-512/AMX CPUs it does).
    assert torch.allclose(batch[2], alone[0], atol=1e-4)
    same, _ = generate(ckpt, {"digit": 7}, 3, seed=99, like=12, variation=0.0)
    assert all(torch.allclose(img, alone[0], atol=1e-4) for img in same)
    near, _ = generate(ckpt, {"digit": 7}, 3, seed=99, like=12, variation=0.3)
    far, _ = generate(ckpt, {"digit": 7}, 3, seed=99)
    assert (near - alone).abs().mean() < (far - alone).abs().mean()


def test_stochastic_sampling_is_reproducible_from_each_images_seed() -> None:
    """With eta > 0 every step adds noise; that noise comes from the image's seed, so image i of a batch is the
    image drawn alone with seed s + i, `like` with variation 0 gives it back, and eta changes the picture."""
    from assistant.imaging.engine import Checkpoint
    from assistant.imaging.sampling import generate

    spec = {"dataset": "shapes", "channels": 3, "size": 32, "attributes": SHAPES}
    torch.manual_seed(0)
    model = diffusion.build(spec, width=16).eval()
    for p in model.ema.parameters():  # a net that is not all zeros, so the sampler's noise shows
        p.data.normal_(0, 0.05)
    hp = {"width": 16, "steps": 6, "guidance": 2.0, "eta": 1.0}
    ckpt = Checkpoint("d", "diffusion", model, spec, hp, {}, Path("."))
    assert diffusion.noise_draws(**hp) == 6 and diffusion.noise_draws(steps=6, eta=0.0) == 1
    want = {"shape": 1}
    batch, _ = generate(ckpt, want, 3, seed=5)
    alone, _ = generate(ckpt, want, 1, seed=6)
    assert torch.allclose(batch[1], alone[0], atol=1e-4)
    again, _ = generate(ckpt, want, 2, seed=50, like=6, variation=0.0)
    assert all(torch.allclose(img, alone[0], atol=1e-4) for img in again)
    deterministic, _ = generate(ckpt, want, 1, seed=6, eta=0.0)  # the same x_T, no step noise
    assert not torch.allclose(deterministic[0], alone[0], atol=1e-3)


def test_guidance_interval_guides_only_the_steps_inside_it() -> None:
    """A checkpoint's `guidance_interval` reaches the sampler: outside it a step is unguided (w = 1)."""
    from assistant.imaging.engine import Checkpoint
    from assistant.imaging.sampling import generate

    assert diffusion.guidance_at(700, 1000, 4.0, (0.06, 0.7)) == 4.0
    assert diffusion.guidance_at(701, 1000, 4.0, (0.06, 0.7)) == 1.0
    assert diffusion.guidance_at(34, 1000, 4.0, (0.06, 0.7)) == 1.0
    spec = {"dataset": "shapes", "channels": 3, "size": 32, "attributes": SHAPES}
    torch.manual_seed(0)
    model = diffusion.build(spec, width=16).eval()
    for p in model.ema.parameters():  # a net whose conditional and unconditional outputs differ
        p.data.normal_(0, 0.05)

    def draw(**hp) -> torch.Tensor:
        ckpt = Checkpoint("d", "diffusion", model, spec, {"width": 16, "steps": 6, "eta": 0.0, **hp}, {}, Path("."))
        return generate(ckpt, {"shape": 1, "colour": 2}, 2, seed=3)[0]

    everywhere = draw(guidance=3.0)
    assert torch.equal(draw(guidance=3.0, guidance_interval=[0.0, 1.0]), everywhere)  # the default interval
    unguided = draw(guidance=1.0)
    assert torch.equal(draw(guidance=3.0, guidance_interval=[2.0, 3.0]), unguided)  # no step inside
    assert not torch.allclose(everywhere, unguided, atol=1e-3)
    middle = draw(guidance=3.0, guidance_interval=[0.3, 0.7])
    assert not torch.allclose(middle, everywhere, atol=1e-3) and not torch.allclose(middle, unguided, atol=1e-3)


def test_upscaled_png_keeps_the_pixels_and_the_original(settings: Settings, tmp_path: Path) -> None:
    from assistant.imaging.sampling import save_images

    images = torch.rand(2, 1, 16, 16)
    files = save_images(images, tmp_path, "x")
    big = np.asarray(Image.open(files[0]))
    small = np.asarray(Image.open(tmp_path / "original" / "x-00.png"))
    assert big.shape == (128, 128) and small.shape == (16, 16)
    assert np.array_equal(big[::8, ::8], small)  # nearest-neighbour: every block is one original pixel
    assert np.array_equal(small, (images[0, 0].numpy() * 255).round().astype(np.uint8))


# --- compositional prompts -------------------------------------------------------------------------------------------
def test_compositional_prompt_gives_a_batch_with_those_attributes() -> None:
    comp = parse_composition("two small red triangles and a large fluffy blue circle", SHAPES)
    assert comp.per_image() == [{"shape": 2, "colour": 0, "size": 0}] * 2 + [{"shape": 0, "colour": 2, "size": 1}]
    assert comp.unknown == ["fluffy"]
    assert parse_composition("a small, red triangle", SHAPES).per_image() == [{"shape": 2, "colour": 0, "size": 0}]
    assert parse_composition("两个红色的三角形和一个蓝色的圆", SHAPES).per_image() == (
        [{"shape": 2, "colour": 0}] * 2 + [{"shape": 0, "colour": 2}])
    assert parse_composition("two 3s and a 7", DIGITS).per_image() == [{"digit": 3}] * 2 + [{"digit": 7}]
    single = parse_composition("draw five 7s", DIGITS)
    assert not single.compositional and single.parts[0].count == 5 and single.unknown == []
    with pytest.raises(PromptError, match="purple"):
        parse_composition("a red circle and a purple star", SHAPES)
    # joined by "along with" / "as well as" (no word left over as unknown); 颗 is a measure word ("六颗星星")
    along = parse_composition("two red stars along with a blue circle", SHAPES)
    assert along.per_image() == [{"shape": 3, "colour": 0}] * 2 + [{"shape": 0, "colour": 2}] and not along.unknown
    assert parse_composition("a blue circle as well as 2 green stars", SHAPES).per_image() == (
        [{"shape": 0, "colour": 2}] + [{"shape": 3, "colour": 1}] * 2)
    assert parse_composition("六颗蓝色的星星", SHAPES).parts[0].count == 6


def test_a_coloured_digit_is_drawn_as_that_digit_and_the_colour_named_back() -> None:
    """Digits have no colour: "blue digit 3" must reach the digit model (not shapes) and say "blue" is unknown."""
    from assistant.imaging.prompting import guess_dataset

    assert guess_dataset("blue digit 3") == guess_dataset("蓝色数字3") == "digits"
    assert guess_dataset("3 blue circles") == guess_dataset("blue") == guess_dataset("三个蓝色的圆") == "shapes"
    # a numeral with a colour and no shape is the digit (a browser try drew four blue shapes for "blue 3")
    assert guess_dataset("blue 3") == guess_dataset("蓝色的3") == guess_dataset("a red 7s") == "digits"
    # and so is a digit said as a plural word (test10: the model's "blue nines" drew blue shapes); "ones" is a pronoun
    assert guess_dataset("blue nines") == guess_dataset("two red sevens") == "digits"
    assert guess_dataset("three red ones") == guess_dataset("two blue stars and three nines") == "shapes"
    assert parse_composition("blue nines", DIGITS).per_image() == [{"digit": 9}]
    comp = parse_composition("blue digit 3", DIGITS)
    assert comp.per_image() == [{"digit": 3}] and comp.unknown == ["blue"]


def test_generate_images_compositional_names_unknown_words(settings: Settings) -> None:
    from assistant.imaging.service import generate_images

    out = generate_images("gan-shapes", "two small red triangles and a sparkly large blue circle", seed=3,
                          settings=settings)
    assert out["n"] == 3 and out["labels"] == [[2, 0, 0], [2, 0, 0], [0, 2, 1]]
    assert out["unknown_words"] == ["sparkly"] and "sparkly" in out["summary"]
    assert out["image_seeds"] == [3, 4, 5] and all(Path(f).exists() for f in out["originals"])
    with Image.open(out["files"][0]) as img:
        assert min(img.size) >= 128
