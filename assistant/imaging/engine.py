"""The one training loop for every image model, plus checkpoint files.

Device auto (CUDA only when present), bf16 autocast on CUDA, seeded shuffling and init, a resumable run state
saved atomically after every epoch, and the finished checkpoint written as one folder (model.pt + card.json)
through `atomic_dir`, so a cancelled or crashed run never replaces a good checkpoint.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from assistant.config import cpu_computes_bf16
from assistant.imaging import diffusion, gan, ssl, vae
from assistant.imaging.datasets import ImageDataset, load_dataset, one_hot
from assistant.storage import atomic_dir, atomic_write_bytes, check_name

MODEL_KINDS: dict[str, ModuleType] = {"vae": vae, "gan": gan, "ssl": ssl, "diffusion": diffusion}
SHIPPED_DIR = Path(__file__).resolve().parent / "checkpoints"


# Sampling controls a checkpoint's hp may set as its defaults, and a request may override. Each model kind's
# `sample` takes the ones it understands (GAN/VAE: temperature; diffusion: temperature, guidance, steps, eta and
# the guided steps' interval).
SAMPLE_OPTIONS = ("temperature", "guidance", "steps", "eta", "guidance_interval")


def sample_options(hp: dict, **overrides) -> dict:
    """The sampling controls for one call: the checkpoint's defaults, then any non-None override."""
    out = {k: hp[k] for k in SAMPLE_OPTIONS if k in hp}
    out.update({k: v for k, v in overrides.items() if k in SAMPLE_OPTIONS and v is not None})
    return out


def call_sample(kind: str, model: torch.nn.Module, cond: torch.Tensor, generator: torch.Generator | None = None,
                **options) -> torch.Tensor:
    """MODEL_KINDS[kind].sample with only the options that kind takes (a GAN has no guidance scale)."""
    import inspect

    sample = MODEL_KINDS[kind].sample
    accepted = inspect.signature(sample).parameters
    return sample(model, cond, generator=generator, **{k: v for k, v in options.items() if k in accepted})


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or not what it claims to be."""


@dataclass
class TrainConfig:
    """Everything one training run needs; the same fields drive the CLI, the UI form and the job."""

    model: str = "vae"  # vae | gan | ssl | diffusion
    dataset: str = "digits"  # digits | shapes | folder
    folder: str | None = None  # for dataset=folder: one sub-folder per class
    name: str | None = None  # checkpoint name; default "<model>-<dataset>"
    epochs: int = 20
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    # float32 | bfloat16 | auto (bf16 autocast where the hardware computes in it: CUDA, or CPUs with
    # AVX512-BF16/AMX, where a diffusion step measured 0.055 s against 0.089 s in fp32; fp32 elsewhere)
    precision: str = "float32"
    resume: bool = True  # continue an interrupted run of the same name
    evaluate: bool = True  # put test-split metrics on the card
    hp: dict = field(default_factory=dict)  # model hyper-parameters (lr, latent, width, mask, mask_ratio…)
    owner: str | None = None  # a user's own training, seen and sampled by that user alone; None: everyone's

    def checkpoint_name(self) -> str:
        if self.name:
            return check_name(self.name, "checkpoint name")
        suffix = Path(self.folder).name if self.dataset == "folder" and self.folder else self.dataset
        return check_name(f"{self.model}-{suffix}", "checkpoint name")


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA when asked for or on auto and actually available; CPU otherwise."""
    if preference == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if preference == "cuda":
        raise RuntimeError("device=cuda was asked for but no CUDA device is available")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Amp:
    """Mixed precision: on CUDA always (bf16 autocast; fp16 + grad scaling where bf16 is missing); on CPU bf16
    autocast when `precision` asks for it (`auto`: only where the CPU computes in bf16), else plain fp32."""

    def __init__(self, device: torch.device, precision: str = "float32") -> None:
        if precision not in ("float32", "bfloat16", "auto"):
            raise ValueError(f"precision must be float32, bfloat16 or auto, not {precision!r}")
        self.device = device
        if device.type == "cuda":
            self.enabled = True
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            self.enabled = precision == "bfloat16" or (precision == "auto" and cpu_computes_bf16())
            self.dtype = torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and self.dtype == torch.float16)

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()


# --- checkpoint files --------------------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    name: str
    kind: str
    model: torch.nn.Module
    spec: dict
    hp: dict
    card: dict
    path: Path


def user_checkpoints_dir(settings) -> Path:  # noqa: ANN001 - Settings
    return settings.images_dir / "checkpoints"


SHARED_ONLY = ""  # a viewer who sees only the checkpoints everyone shares (a page built before anyone logs in)


def visible_to(owner: str | None, viewer: str | None) -> bool:
    """A checkpoint a user trained is theirs alone (a probe sampled and evaluated another user's model and read
    their name in an error's list); `viewer` None is a trusted caller (CLI, jobs, an admin's shared training)."""
    return viewer is None or owner is None or owner == viewer


def _owner(folder: Path) -> str | None:
    try:
        return json.loads((folder / "card.json").read_text()).get("owner")
    except (OSError, ValueError):
        return None


def find_checkpoint(name: str, settings=None, viewer: str | None = None) -> Path:  # noqa: ANN001
    """A user-trained checkpoint of that name first, else the shipped one; only those `viewer` may see."""
    check_name(name, "model name")
    places = ([user_checkpoints_dir(settings)] if settings is not None else []) + [SHIPPED_DIR]
    for place in places:
        if (place / name / "model.pt").exists() and visible_to(_owner(place / name), viewer):
            return place / name
    known = sorted(card["name"] for card in list_checkpoints(settings, viewer))
    raise CheckpointError(f"no image model named {name!r}; available: {', '.join(known) or 'none'}")


def list_checkpoints(settings=None, viewer: str | None = None) -> list[dict]:  # noqa: ANN001
    """Cards of every usable checkpoint `viewer` may see (user ones shadow shipped ones of the same name)."""
    seen: dict[str, dict] = {}
    places = [SHIPPED_DIR] + ([user_checkpoints_dir(settings)] if settings is not None else [])
    for place in places:
        if not place.exists():
            continue
        for folder in sorted(place.iterdir()):
            if folder.name.startswith(("classifier-", ".")) or not (folder / "model.pt").exists():
                continue
            try:
                card = json.loads((folder / "card.json").read_text())
            except (OSError, ValueError):
                card = {}
            if not visible_to(card.get("owner"), viewer):
                continue
            seen[folder.name] = {"name": folder.name, "path": str(folder),
                                 "shipped": place == SHIPPED_DIR, **card}
    return list(seen.values())


def save_checkpoint(folder: Path, kind: str, model: torch.nn.Module, spec: dict, hp: dict, card: dict,
                    half: bool = False) -> Path:
    """Write model.pt + card.json into a temp folder, then rename it over `folder` in one step."""
    state = {k: (v.half() if half and v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    with atomic_dir(folder, overwrite=True) as tmp:
        torch.save({"format": 1, "kind": kind, "spec": spec, "hp": hp, "state_dict": state}, tmp / "model.pt")
        (tmp / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False, default=str))
    return folder


def load_checkpoint(name_or_path: str | Path, settings=None, device: str = "cpu",  # noqa: ANN001
                    viewer: str | None = None) -> Checkpoint:
    """Load a checkpoint by model name (user first, then shipped; one `viewer` may see) or folder path; clear error
    if it is broken."""
    path = Path(name_or_path)
    folder = path if path.is_dir() else find_checkpoint(str(name_or_path), settings, viewer)
    try:
        blob = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        kind, spec, hp = blob["kind"], blob["spec"], blob["hp"]
        model = MODEL_KINDS[kind].build(spec, **hp)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
    except Exception as exc:  # noqa: BLE001 - any failure here means the file is not a usable checkpoint
        raise CheckpointError(f"checkpoint {str(folder)!r} is corrupt or incompatible ({type(exc).__name__}: "
                              f"{str(exc)[:200]}); retrain it or rebuild the shipped ones with "
                              "`python -m assistant.imaging.build_checkpoints`") from exc
    try:
        card = json.loads((folder / "card.json").read_text())
    except (OSError, ValueError):
        card = {}
    model.to(device).eval()
    return Checkpoint(folder.name, kind, model, spec, hp, card, folder)


# --- training ----------------------------------------------------------------------------------------------------
def _save_run_state(path: Path, payload: dict) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def lr_factor(step: int, total: int, cooldown: float) -> float:
    """hp `lr_cooldown` = c: the learning rate stays until the last c of the steps, then falls linearly towards 0.

    A constant rate leaves the weights bouncing around the minimum; a short decay at the end settles them (the
    warmup-stable-decay schedule), which the EMA alone does not.
    """
    if cooldown <= 0:
        return 1.0
    start = total * (1 - min(cooldown, 1.0))
    return 1.0 if step < start else max(0.0, (total - step) / max(total - start, 1))


def set_learning_rates(opts: dict[str, torch.optim.Optimizer], base_lrs: dict[str, list[float]], factor: float
                       ) -> None:
    for key, opt in opts.items():
        for group, base in zip(opt.param_groups, base_lrs[key], strict=True):
            group["lr"] = base * factor


def train(cfg: TrainConfig, settings=None, data: ImageDataset | None = None,  # noqa: ANN001, C901
          progress: Callable[[float, str], None] | None = None,
          metric: Callable[..., None] | None = None,
          on_epoch: Callable[[int, torch.nn.Module], None] | None = None,
          out_dir: Path | None = None) -> dict:
    """Train `cfg.model` on `cfg.dataset`; write the checkpoint folder; return its card.

    `progress(fraction, message)` may raise (a cancelled job): the last epoch's run state stays for `resume`.
    """
    if cfg.model not in MODEL_KINDS:
        raise ValueError(f"unknown image model {cfg.model!r}; choose one of: {', '.join(MODEL_KINDS)}")
    if cfg.epochs <= 0 or cfg.batch_size <= 0:
        raise ValueError("epochs and batch_size must be positive")
    module = MODEL_KINDS[cfg.model]
    name = cfg.checkpoint_name()
    base = out_dir or user_checkpoints_dir(settings)
    final_dir, state_path = base / name, base / ".runs" / f"{name}.pt"
    data = data or load_dataset(cfg.dataset, folder=cfg.folder)
    if len(data.x_train) == 0:
        raise ValueError(f"dataset {data.name!r} has no training images")
    device = pick_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))  # this machine class: 2 cores
    seed_everything(cfg.seed)
    spec = data.spec()
    hp = {**{k: v for k, v in module.DEFAULTS.items()}, **cfg.hp}
    model = module.build(spec, **hp).to(device)
    opts = module.make_optimizers(model, hp)
    # before a resumed run's optimiser state (which holds the cooled-down rate) replaces them
    base_lrs = {key: [group["lr"] for group in opt.param_groups] for key, opt in opts.items()}
    amp = Amp(device, cfg.precision)
    start_epoch, step, elapsed = 0, 0, 0.0
    history: list[float] = []
    if cfg.resume and state_path.exists():
        try:
            state = torch.load(state_path, map_location="cpu", weights_only=False)
            if state["kind"] == cfg.model and state["spec"] == spec and state["epoch"] < cfg.epochs:
                model.load_state_dict(state["model"])
                for key, opt in opts.items():
                    opt.load_state_dict(state["opts"][key])
                torch.set_rng_state(state["rng"])
                start_epoch, step, elapsed, history = state["epoch"], state["step"], state["elapsed"], state["history"]
        except Exception:  # noqa: BLE001 - a broken run state only means starting over
            start_epoch = 0
    x_train = data.x_train.to(device)
    cond_train = one_hot(data.y_train, data.attributes).to(device)
    n = len(x_train)
    batches = max(1, n // cfg.batch_size) if n >= cfg.batch_size else 1
    total = cfg.epochs * batches
    started = time.monotonic() - elapsed
    cooldown = float(hp.get("lr_cooldown", 0.0))
    model.train()
    for epoch in range(start_epoch, cfg.epochs):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)).to(device)
        epoch_losses = []
        for b in range(batches):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            if cooldown > 0:
                set_learning_rates(opts, base_lrs, lr_factor(step, total, cooldown))
            losses = module.train_step(model, x_train[idx], cond_train[idx], opts, amp, hp)
            epoch_losses.append(losses["loss"])
            step += 1
            if metric:
                metric(step, **losses)
            if progress:
                progress(step / total, f"epoch {epoch + 1}/{cfg.epochs} · loss {losses['loss']:.4f}")
        history.append(float(np.mean(epoch_losses)))
        if on_epoch:
            model.eval()
            on_epoch(epoch + 1, model)
            model.train()
        _save_run_state(state_path, {
            "kind": cfg.model, "spec": spec, "epoch": epoch + 1, "step": step,
            "elapsed": time.monotonic() - started, "history": history, "rng": torch.get_rng_state(),
            "model": model.state_dict(), "opts": {k: o.state_dict() for k, o in opts.items()},
        })
    model.eval()
    finish = getattr(module, "after_training", None)  # e.g. the VAE's ex-post mixture over the training codes
    finished = finish(model, x_train, cond_train, hp, cfg.seed) if finish else {}
    train_seconds = time.monotonic() - started
    card = {
        "name": name, "kind": cfg.model, "dataset": data.name, "attributes": data.attributes,
        "image_size": data.size, "channels": data.channels, "epochs": cfg.epochs, "seed": cfg.seed,
        "hp": hp, "device": str(device), "train_seconds": round(train_seconds, 1),
        "train_images": n, "precision": "bfloat16" if amp.enabled and amp.dtype == torch.bfloat16 else
        ("float16" if amp.enabled else "float32"), "loss_history": [round(v, 5) for v in history],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {k: v for k, v in asdict(cfg).items() if k != "hp"}, "owner": cfg.owner, **finished,
    }
    if cfg.evaluate:
        from assistant.imaging.metrics import evaluate_model

        card["metrics"] = evaluate_model(cfg.model, model.cpu(), data, settings=settings, seed=cfg.seed,
                                         **sample_options(hp))
        card["sampling"] = sample_options(hp)
    save_checkpoint(final_dir, cfg.model, model.cpu(), spec, hp, card)
    state_path.unlink(missing_ok=True)  # the run is complete; a later run starts fresh
    card["path"] = str(final_dir)
    return card
