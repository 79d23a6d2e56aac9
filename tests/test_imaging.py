"""Image models: data, training lowers the loss, sampling, conditional class check, checkpoints, prompts, tools."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from assistant.config import Settings
from assistant.imaging import engine, gan, ssl, vae
from assistant.imaging.classifier import predict, train_classifier
from assistant.imaging.datasets import DatasetError, ImageDataset, draw_shapes, load_dataset, load_digits, one_hot
from assistant.imaging.engine import CheckpointError, TrainConfig, load_checkpoint, pick_device, train
from assistant.imaging.prompting import PromptError, parse_prompt

torch.set_num_threads(2)
DIGITS = {"digit": [str(d) for d in range(10)]}
SHAPES = {"shape": ["circle", "square", "triangle", "star"], "colour": ["red", "green", "blue", "yellow"],
          "size": ["small", "large"]}


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", adapters_dir=tmp_path / "adapters")


@pytest.fixture(scope="module")
def tiny_digits() -> ImageDataset:
    """512 train / 200 test digits: enough for a model to learn something in seconds."""
    full = load_digits()
    return ImageDataset("digits", full.x_train[:512], full.y_train[:512], full.x_test[:200], full.y_test[:200],
                        full.attributes)


# --- data ---------------------------------------------------------------------------------------------------------
def test_datasets_shapes_ranges_and_determinism(tmp_path: Path) -> None:
    digits = load_digits()
    assert digits.x_train.shape[1:] == (1, 16, 16) and len(digits.x_train) + len(digits.x_test) == 1797
    assert digits.x_train.min() >= 0.0 and digits.x_train.max() <= 1.0
    assert digits.class_names == [str(d) for d in range(10)]
    a, la = draw_shapes(16, seed=3)
    b, lb = draw_shapes(16, seed=3)
    assert torch.equal(a, b) and torch.equal(la, lb) and a.shape == (16, 3, 32, 32)
    # the drawn colour is the labelled one: the labelled channel dominates the shape's pixels
    for img, (_, colour, _) in zip(a, la, strict=True):
        if colour == 0:  # red
            assert img[0].sum() > img[1].sum() and img[0].sum() > img[2].sum()
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("mnist")


def test_folder_dataset_and_bad_folders(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    for cls, value in (("cats", 30), ("dogs", 220)):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((20, 24, 3), value + i, dtype=np.uint8)).save(root / cls / f"{i}.png")
    data = load_dataset(f"folder:{root}")
    assert data.attributes == {"class": ["cats", "dogs"]} and data.x_train.shape[1:] == (3, 32, 32)
    assert len(data.x_train) + len(data.x_test) == 10
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images"):
        load_dataset("folder", folder=tmp_path / "empty")
    (root / "dogs" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="unreadable"):
        load_dataset("folder", folder=root)


# --- each model learns --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["vae", "ssl"])
def test_training_lowers_the_loss(kind: str, tiny_digits: ImageDataset, tmp_path: Path) -> None:
    cfg = TrainConfig(model=kind, epochs=4, batch_size=32, evaluate=False, name=f"{kind}-t")
    card = train(cfg, data=tiny_digits, out_dir=tmp_path)
    history = card["loss_history"]
    assert history[-1] < 0.8 * history[0], history
    assert (tmp_path / f"{kind}-t" / "model.pt").exists() and (tmp_path / f"{kind}-t" / "card.json").exists()


def test_finetuning_an_encoder_on_few_labels_learns_the_digit(tiny_digits: ImageDataset) -> None:
    from assistant.imaging import ssl
    from assistant.imaging.metrics import finetune_accuracy

    torch.manual_seed(0)
    encoder = ssl.build(tiny_digits.spec())
    untuned = finetune_accuracy(encoder, tiny_digits, labels=300, epochs=0)
    tuned = finetune_accuracy(encoder, tiny_digits, labels=300, epochs=10)
    assert untuned < 0.3 < 0.6 < tuned, (untuned, tuned)
    # a copy was tuned: the encoder passed in is unchanged
    assert finetune_accuracy(encoder, tiny_digits, labels=300, epochs=0) == untuned


def test_gan_learns_the_conditioning(tiny_digits: ImageDataset, tmp_path: Path) -> None:
    """The generator's loss against a fixed, untrained D falls; and conditional samples beat chance (10 %)."""
    torch.manual_seed(0)
    cond = one_hot(tiny_digits.y_train[:64], DIGITS)
    card = train(TrainConfig(model="gan", epochs=8, batch_size=32, evaluate=False, name="g"), data=tiny_digits,
                 out_dir=tmp_path)
    model = load_checkpoint(tmp_path / "g").model
    # the auxiliary attribute head of D must have learned the digits, and G must follow the condition
    clf = train_classifier(tiny_digits, epochs=4)
    labels = torch.arange(10).repeat(20).unsqueeze(1)
    images = gan.sample(model, one_hot(labels, DIGITS), torch.Generator().manual_seed(1))
    _, preds = predict(clf, images)
    accuracy = (preds[:, 0] == labels[:, 0]).float().mean().item()
    assert accuracy > 0.3, accuracy
    assert len(card["loss_history"]) == 8 and cond.shape == (64, 10)


def test_gan_step_draws_the_batch_once_and_updates_both_nets() -> None:
    """G runs forward once per step (D's step reads its images detached, G's step reuses them), both nets move, and
    G's update equals the one from a fresh forward of the same noise (the reuse changes no gradient)."""
    spec = {"dataset": "shapes", "channels": 3, "size": 32, "attributes": SHAPES}
    torch.manual_seed(0)
    model = gan.build(spec)
    twin = gan.build(spec)
    twin.load_state_dict(model.state_dict())
    x = torch.rand(8, 3, 32, 32)
    cond = one_hot(torch.zeros(8, 3, dtype=torch.long), SHAPES)
    amp = engine.Amp(torch.device("cpu"), "float32")
    calls = []
    model.generator.register_forward_hook(lambda *_: calls.append(1))
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    torch.manual_seed(1)
    gan.train_step(model, x, cond, gan.make_optimizers(model, gan.DEFAULTS), amp)
    assert len(calls) == 1
    assert all(not torch.equal(a, p) for a, p in zip(g_before, model.generator.parameters(), strict=True))
    assert any(not torch.equal(a, p) for a, p in zip(d_before, model.discriminator.parameters(), strict=True))
    # the reference: D's step as in the code, then G's step from a second forward of the same noise
    torch.manual_seed(1)
    z = torch.randn(8, twin.latent)
    opts = gan.make_optimizers(twin, gan.DEFAULTS)
    with torch.no_grad():
        fake = twin.generator(z, cond)
    real_logit, real_attr = twin.discriminator(x * 2 - 1, cond)
    fake_logit, _ = twin.discriminator(fake, cond)
    d_loss = gan.discriminator_loss(real_logit, fake_logit) + gan.attribute_loss(real_attr, cond, twin.blocks)
    amp.step(d_loss, opts["discriminator"])
    twin.discriminator.requires_grad_(False)
    fake_logit, fake_attr = twin.discriminator(twin.generator(z, cond), cond)
    amp.step(gan.generator_loss(fake_logit) + gan.attribute_loss(fake_attr, cond, twin.blocks), opts["generator"])
    for ours, ref in zip(model.generator.parameters(), twin.generator.parameters(), strict=True):
        assert torch.allclose(ours, ref, atol=1e-6)


def test_sampling_shapes_and_ranges() -> None:
    spec_d = {"dataset": "digits", "channels": 1, "size": 16, "attributes": DIGITS}
    spec_s = {"dataset": "shapes", "channels": 3, "size": 32, "attributes": SHAPES}
    for spec in (spec_d, spec_s):
        labels = torch.zeros(5, len(spec["attributes"]), dtype=torch.long)
        cond = one_hot(labels, spec["attributes"])
        for module in (vae, gan):
            model = module.build(spec).eval()
            out = module.sample(model, cond, torch.Generator().manual_seed(0))
            assert out.shape == (5, spec["channels"], spec["size"], spec["size"])
            assert out.min() >= 0.0 and out.max() <= 1.0
        model = ssl.build(spec).eval()
        x = torch.rand(5, spec["channels"], spec["size"], spec["size"])
        mask = ssl.random_patch_mask(5, spec["size"], model.patch, 0.5)
        filled = ssl.inpaint(model, x, mask)
        assert filled.shape == x.shape and torch.equal(filled * (1 - mask), x * (1 - mask))
        assert torch.allclose(mask.mean(dim=(1, 2, 3)), torch.full((5,), 0.5))
        block = ssl.random_block_mask(5, spec["size"], 8)
        assert torch.all(block.sum(dim=(1, 2, 3)) == 64)


def test_vae_condition_maps_reach_every_decoder_layer_and_old_layout_stays() -> None:
    spec = {"dataset": "shapes", "channels": 3, "size": 32, "attributes": SHAPES}
    model = vae.build(spec, cond_maps=True).eval()
    z = torch.zeros(2, model.latent)
    cond = one_hot(torch.tensor([[0, 0, 0], [3, 0, 0]]), SHAPES)
    with torch.no_grad():
        model.fc_decode.weight[:, model.latent:] = 0  # the condition can no longer enter through the first layer
        out = model.decode(z, cond)
    assert not torch.allclose(out[0], out[1])  # ...and still changes the image: the maps carry it
    # without the option, the decoder keeps the layout the shipped checkpoints were saved with
    plain = vae.build(spec)
    assert "decoder.2.weight" in plain.state_dict() and "decoder.1.0.weight" in model.state_dict()


# --- engine -------------------------------------------------------------------------------------------------------
def test_engine_picks_cuda_only_when_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto").type == "cpu"
    with pytest.raises(RuntimeError, match="no CUDA"):
        pick_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda"
    assert pick_device("cpu").type == "cpu"


def test_cancelled_run_keeps_old_checkpoint_and_resumes(tiny_digits: ImageDataset, tmp_path: Path) -> None:
    cfg = TrainConfig(model="vae", epochs=2, batch_size=64, evaluate=False, name="v")
    train(cfg, data=tiny_digits, out_dir=tmp_path)
    before = (tmp_path / "v" / "model.pt").read_bytes()

    class Stop(Exception):
        pass

    def stop_in_epoch_3(fraction: float, message: str) -> None:
        if message.startswith("epoch 3/"):
            raise Stop

    cfg4 = TrainConfig(model="vae", epochs=4, batch_size=64, evaluate=False, name="v")
    with pytest.raises(Stop):
        train(cfg4, data=tiny_digits, out_dir=tmp_path, progress=stop_in_epoch_3)
    assert (tmp_path / "v" / "model.pt").read_bytes() == before  # the finished checkpoint is untouched
    assert (tmp_path / ".runs" / "v.pt").exists()
    seen: list[str] = []
    card = train(cfg4, data=tiny_digits, out_dir=tmp_path, progress=lambda f, m: seen.append(m))
    assert seen[0].startswith("epoch 3/4")  # resumed after the two finished epochs
    assert len(card["loss_history"]) == 4 and not (tmp_path / ".runs" / "v.pt").exists()


def test_corrupt_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "bad")
    with pytest.raises(CheckpointError, match="no image model named"):
        load_checkpoint("gan-nothing")


# --- prompts ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("prompt", "digit", "count"), [
    ("digit 7", 7, None), ("the digit seven", 7, None), ("画一个数字3", 3, 1), ("draw five 7s", 7, 5),
    ("画三个7", 7, 3), ("3 sevens", 7, 3), (4, 4, None)])
def test_digit_prompts(prompt: str | int, digit: int, count: int | None) -> None:
    cond = parse_prompt(prompt, DIGITS)
    assert cond.values == {"digit": digit} and cond.count == count


def test_shape_prompts_and_refusals() -> None:
    assert parse_prompt("a small red triangle", SHAPES).values == {"shape": 2, "colour": 0, "size": 0}
    assert parse_prompt("两个黄色的星星", SHAPES).values == {"shape": 3, "colour": 3}
    assert parse_prompt(None, SHAPES).values == {}
    for prompt, attrs, needle in (("a purple circle", SHAPES, "purple"), ("a cat", DIGITS, "cat"),
                                  ("digit 12", DIGITS, "single digit"), ("hello", SHAPES, "nothing")):
        with pytest.raises(PromptError, match=needle):
            parse_prompt(prompt, attrs)


# --- tools --------------------------------------------------------------------------------------------------------
def test_generate_images_with_shipped_checkpoint(settings: Settings, tmp_path: Path) -> None:
    from assistant.imaging.service import generate_images

    out = generate_images("gan-digits", "draw five 7s", None, seed=1, settings=settings)
    assert out["n"] == 5 and out["condition"] == {"digit": "7"} and len(out["files"]) == 5
    with Image.open(out["files"][0]) as img:
        assert min(img.size) >= 16
    assert (engine.SHIPPED_DIR / "classifier-digits" / "model.pt").exists()  # the shared judge ships too
    with pytest.raises(ValueError, match="at least 1"):
        generate_images("gan-digits", "7", 0, settings=settings)
    assert generate_images("gan-digits", "7", 10_000, seed=0, settings=settings)["n"] == settings.max_images
    with pytest.raises(PromptError, match="cannot draw"):
        generate_images("gan-shapes", "a purple hexagon", 2, settings=settings)
    with pytest.raises(ValueError, match="inpaint"):
        generate_images("ssl-digits", "7", 2, settings=settings)
    if (engine.SHIPPED_DIR / "diffusion-digits" / "model.pt").exists():  # auto prefers diffusion when shipped
        out = generate_images("auto", "digit 3", 2, seed=0, settings=settings, steps=5)
        assert out["model"] == "diffusion-digits" and out["sampling"]["steps"] == 5 and len(out["files"]) == 2


def test_cli_sample_writes_one_png_per_image(settings: Settings, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.imaging import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["images", "sample", "--prompt", "digit 7", "--n", "3", "--out",
                              str(tmp_path / "out"), "--json", "--model", "gan-digits"])
    assert cli.run(args, settings) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["condition"] == {"digit": "7"} and payload["model"] == "gan-digits"
    shown = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_file())
    assert shown == sorted(Path(f).name for f in payload["files"])  # one upscaled PNG per image, no grid
    assert sorted(p.name for p in (tmp_path / "out" / "original").iterdir()) == shown  # and each original
    assert len(payload["files"]) == 3


def test_inpaint_and_evaluate_tools(settings: Settings) -> None:
    from assistant.imaging.service import evaluate_image_model, inpaint

    out = inpaint(None, 0.25, "ssl-digits", settings=settings)
    assert Path(out["grid"]).exists() and 0.0 < out["hidden_pixel_mse"] < 0.1
    report = evaluate_image_model("vae-digits", settings=settings)
    assert report["metrics"]["neg_elbo"] > 0 and all(Path(f).exists() for f in report["files"])


@pytest.mark.slow
def test_train_job_runs_and_refuses_a_duplicate(settings: Settings) -> None:
    from assistant.imaging.service import train_image_model
    from assistant.jobs import JobError, JobRunner

    out = train_image_model("vae", "digits", 1, name="vae-job", settings=settings)
    with pytest.raises(JobError, match="already"):
        train_image_model("vae", "digits", 1, name="vae-job", settings=settings)
    info = JobRunner(settings).wait(out["job_id"], timeout=120)
    assert info.status == "succeeded", JobRunner(settings).log_tail(out["job_id"])
    assert load_checkpoint("vae-job", settings).kind == "vae"
    assert JobRunner(settings).metrics(out["job_id"])  # the live loss plot has points


def test_a_users_own_image_model_is_theirs_alone(settings) -> None:
    """A hostile probe: alice sampled and evaluated bob's `vae-digits-bob` and read its name in a 404's list; and
    "Bob", "bob." and "bob" would all have trained into `vae-digits-bob`."""
    from assistant.imaging.engine import CheckpointError
    from assistant.imaging.service import (
        evaluate_image_model,
        generate_images,
        list_image_models,
        owner_suffix,
        train_image_model,
    )
    from assistant.jobs import JobRunner

    out = train_image_model("vae", "digits", 1, settings=settings, owner="user:hal", shared=False)
    assert out["name"] == "vae-digits-hal"
    info = JobRunner(settings).wait(out["job_id"], timeout=180)
    assert info.status == "succeeded", JobRunner(settings).log_tail(out["job_id"])
    assert "vae-digits-hal" in {m["name"] for m in list_image_models(settings, "user:hal")}
    others = {m["name"] for m in list_image_models(settings, "user:jo")}
    assert "vae-digits-hal" not in others and "vae-digits" in others
    assert generate_images("vae-digits-hal", "digit 3", n=2, settings=settings, viewer="user:hal")["files"]
    for use in (lambda: generate_images("vae-digits-hal", "digit 3", n=2, settings=settings, viewer="user:jo"),
                lambda: evaluate_image_model("vae-digits-hal", settings=settings, viewer="user:jo")):
        with pytest.raises(CheckpointError) as refused:
            use()
        assert "hal" not in str(refused.value).replace("'vae-digits-hal'", "")  # named once: what was asked
    suffixes = {owner_suffix(f"user:{name}") for name in ("bob", "Bob", "bob.", "BOB")}
    assert len(suffixes) == 4 and "bob" in suffixes


def test_a_users_training_never_replaces_the_checkpoint_everyone_samples_from(services) -> None:
    """With accounts, a plain user's "train a vae on digits" writes `vae-digits-<name>`; an admin's replaces the
    shared `vae-digits`, and the chat tool asks the account's role for that."""
    from types import SimpleNamespace

    from assistant.tools.builtins import CURRENT_TURN
    from assistant.users import UserStore

    users = UserStore(services.db)
    users.add("hal", "a-long-password", "user")
    users.add("ida", "a-long-password", "admin")
    assert (services.role("user:hal"), services.role("user:ida"), services.role("local")) == ("user", "admin", "user")
    tool = services.tools.registry.tools["train_image_model"]
    started = []
    for owner in ("user:hal", "user:ida"):
        token = CURRENT_TURN.set(SimpleNamespace(owner=owner, conversation_id=None))
        try:
            started.append(tool.func("vae", "digits", 1))
        finally:
            CURRENT_TURN.reset(token)
        services.jobs.cancel(started[-1]["job_id"])
        services.jobs.wait(started[-1]["job_id"], timeout=60)
    assert [s["name"] for s in started] == ["vae-digits-hal", "vae-digits"]


def test_the_chat_inpaint_tool_uses_only_the_callers_own_or_shared_masked_models(services) -> None:
    """A second hostile probe: bob's chat inpainted with alice's private `ssl-digits-alice`, and a wrong name listed
    every user's private models; the Images tab refused both. The tool now passes the turn's owner, and its grammar
    offers only the masked models that owner may use."""
    from types import SimpleNamespace

    from assistant.imaging.engine import SHIPPED_DIR, user_checkpoints_dir
    from assistant.tools.builtins import CURRENT_TURN

    # hal's own masked model, as his training writes it (the weights and a card naming him; training itself is
    # tested above): here the shipped weights, so that the test needs no training run
    own = user_checkpoints_dir(services.settings) / "ssl-digits-hal"
    shutil.copytree(SHIPPED_DIR / "ssl-digits", own)
    card = json.loads((own / "card.json").read_text())
    (own / "card.json").write_text(json.dumps({**card, "name": "ssl-digits-hal", "owner": "user:hal"}))
    assert "ssl-digits-hal" in services.tools.live_choices("user:hal")["inpaint_image"]["model"]
    offered = services.tools.live_choices("user:jo")["inpaint_image"]["model"]
    assert "ssl-digits-hal" not in offered and "ssl-digits" in offered
    tool = services.tools.registry.tools["inpaint_image"]

    def inpaint(owner: str, model: str) -> dict:
        token = CURRENT_TURN.set(SimpleNamespace(owner=owner, conversation_id=None))
        try:
            return tool.func(model, 0.5)
        finally:
            CURRENT_TURN.reset(token)

    assert inpaint("user:hal", "ssl-digits-hal")["images"]
    for model in ("ssl-digits-hal", "ssl-zzz"):
        with pytest.raises(CheckpointError) as refused:
            inpaint("user:jo", model)
        assert "ssl-digits-hal" not in str(refused.value).replace(f"'{model}'", ""), refused.value
