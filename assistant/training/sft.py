"""LoRA supervised fine-tuning: a chat JSONL in, a peft adapter folder with its card out.

One `SFTConfig` drives the CLI flags, the UI form and the background job alike. Loss is on the assistant's
tokens only; the adapter is written to a temp folder and renamed into `adapters/<name>` when complete.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from assistant.adapters import AdapterCard, save_adapter
from assistant.config import REPO_ROOT, Settings
from assistant.jobs import log_line
from assistant.storage import atomic_dir, check_name
from assistant.training import ddp
from assistant.training.chat_data import read_chat_jsonl

Progress = Callable[[float, str], None]
Metric = Callable[..., None]


@dataclass
class SFTConfig:
    name: str = field(metadata={"help": "adapter name: the folder created in adapters/"})
    data: str = field(metadata={"help": 'training JSONL, one {"messages": [...]} per line'})
    eval_data: str = field(default="", metadata={"help": "held-out JSONL (default: 10% of the training file)"})
    description: str = field(default="", metadata={"help": "what the adapter does, shown in listings"})
    rank: int = field(default=8, metadata={"help": "LoRA rank r"})
    alpha: int = field(default=16, metadata={"help": "LoRA alpha (scale = alpha / r)"})
    dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"],
                                      metadata={"help": "modules to adapt (the int8 CPU path keeps q_proj, v_proj)"})
    learning_rate: float = field(default=3e-4, metadata={"help": "AdamW learning rate"})
    epochs: int = field(default=2, metadata={"help": "passes over the data (ignored when max_steps > 0)"})
    max_steps: int = field(default=0, metadata={"help": "stop after this many steps (0 = use epochs)"})
    batch_size: int = field(default=4, metadata={"help": "examples per step"})
    max_length: int = field(default=256, metadata={"help": "tokens per example (longer ones are cut)"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    behaviour_prompts: int = field(default=8, metadata={"help": "held-out prompts generated before/after"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing adapter of this name"})
    init_adapter: str = field(default="", metadata={
        "help": "continue training this installed adapter (its rank and modules) instead of a fresh LoRA"})

    @classmethod
    def from_dict(cls, data: dict) -> SFTConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown SFT settings: {', '.join(sorted(unknown))}")
        return cls(**data)


def shown_path(path: str) -> str:
    """A path relative to the repository when it is inside it, else just the file name."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else resolved.name


def encode(tokenizer, messages: list[dict], max_length: int) -> dict | None:  # noqa: ANN001
    """Token ids with labels only on the final assistant reply (the prompt is masked with -100)."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    labels = [-100] * len(prompt_ids) + ids[len(prompt_ids):]
    ids, labels = ids[:max_length], labels[:max_length]
    if all(label == -100 for label in labels):
        return None  # the prompt alone fills max_length: nothing to learn
    return {"input_ids": ids, "labels": labels}


def collate(batch: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(b["input_ids"]) for b in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, b in enumerate(batch):
        n = len(b["input_ids"])
        ids[i, :n], labels[i, :n], mask[i, :n] = torch.tensor(b["input_ids"]), torch.tensor(b["labels"]), 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def load_base_for_training(settings: Settings):  # noqa: ANN201 - (model, tokenizer, method)
    """The frozen base in `settings.resolved_train_dtype()` (bf16 where the hardware computes in it, else fp32;
    the LoRA weights peft adds stay fp32); QLoRA (bitsandbytes 4-bit + k-bit preparation) when asked for on CUDA."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.llm.loader import bnb_config, resolve_source

    _, source = resolve_source(settings)
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = settings.resolved_device()
    quant = settings.resolved_quant()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))  # under `accelerate launch`: one GPU per process
    if device == "cuda" and quant in ("nf4", "bnb-int8"):
        from peft import prepare_model_for_kbit_training

        model = AutoModelForCausalLM.from_pretrained(str(source), quantization_config=bnb_config(quant, device),
                                                     device_map={"": local_rank})
        return prepare_model_for_kbit_training(model), tokenizer, "qlora-sft"
    dtype = getattr(torch, settings.resolved_train_dtype())
    model = AutoModelForCausalLM.from_pretrained(str(source), dtype=dtype)
    return model.to(f"cuda:{local_rank}" if device == "cuda" else device), tokenizer, "lora-sft"


def base_dtype(model) -> str:  # noqa: ANN001
    """The frozen base's dtype as the cards record it ("bfloat16", "float32"); LoRA weights are fp32 either way."""
    return str(next(model.parameters()).dtype).removeprefix("torch.")


def continue_from(model, folder: Path, config: SFTConfig):  # noqa: ANN001, ANN201 - (base, …) -> PeftModel
    """The base with an installed adapter loaded trainable; the config takes the adapter's rank, alpha and
    modules, so the card describes what was trained."""
    from peft import PeftConfig, PeftModel

    if not (folder / "adapter_config.json").exists():
        raise FileNotFoundError(f"no installed adapter {folder.name!r} to continue training from")
    loaded = PeftConfig.from_pretrained(str(folder))
    config.rank, config.alpha = loaded.r, loaded.lora_alpha
    config.target_modules = sorted(loaded.target_modules)
    return PeftModel.from_pretrained(model, str(folder), is_trainable=True)


@torch.no_grad()
def eval_loss(model, batches: list[dict]) -> float:  # noqa: ANN001
    model.eval()
    total, count = 0.0, 0
    for batch in batches:
        batch = {k: v.to(model.device) for k, v in batch.items()}
        n = int((batch["labels"][:, 1:] != -100).sum())
        total += float(model(**batch).loss) * n
        count += n
    return total / max(count, 1)


def cjk_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    return sum("\u4e00" <= ch <= "\u9fff" for ch in letters) / len(letters) if letters else 0.0


@torch.no_grad()
def behaviour(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int = 48) -> dict:  # noqa: ANN001
    """Greedy replies to held-out prompts: mean length in words (CJK characters count as words) and CJK share."""
    model.eval()
    lengths, shares = [], []
    for messages in prompts:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
        reply = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        lengths.append(len(reply.split()) + sum("\u4e00" <= ch <= "\u9fff" for ch in reply))
        shares.append(cjk_share(reply))
    n = max(len(prompts), 1)
    return {"mean_words": round(sum(lengths) / n, 2), "cjk_share": round(sum(shares) / n, 3)}


def train_sft(config: SFTConfig, settings: Settings, progress: Progress | None = None,
              metric: Metric | None = None) -> dict:
    """Train, evaluate and write `adapters/<name>`; returns the card as a dict."""
    from peft import LoraConfig, get_peft_model

    progress = progress or (lambda fraction, message="": None)
    metric = metric or (lambda step, **values: None)
    check_name(config.name, "adapter name")
    target = settings.adapters_dir / config.name
    if target.exists() and not config.overwrite:
        raise FileExistsError(f"adapter {config.name!r} already exists; choose another name or set overwrite")
    train = read_chat_jsonl(config.data)
    held = read_chat_jsonl(config.eval_data).examples if config.eval_data else None
    random.Random(config.seed).shuffle(train.examples)
    if held is None:  # hold out 10% when no eval file is given
        cut = max(1, len(train.examples) // 10)
        held, train.examples = train.examples[:cut], train.examples[cut:]
    torch.manual_seed(config.seed)
    accelerator = ddp.accelerator(settings)  # None in one process; with N, rank 0 alone evaluates and saves
    rank, world = ddp.rank_and_world()
    main = rank == 0
    progress(0.02, "loading the base model")
    model, tokenizer, method = load_base_for_training(settings)
    if config.init_adapter:  # continued training (LLaMA-Factory's adapter_name_or_path): start from its weights
        model = continue_from(model, settings.adapters_dir / check_name(config.init_adapter, "adapter name"), config)
    else:
        lora = LoraConfig(task_type="CAUSAL_LM", r=config.rank, lora_alpha=config.alpha,
                          lora_dropout=config.dropout, target_modules=list(config.target_modules))
        model = get_peft_model(model, lora)
    encoded = [{**e, "index": i} for i, e in
               enumerate(encode(tokenizer, m, config.max_length) for m in train.examples) if e]
    held_encoded = [e for e in (encode(tokenizer, m, config.max_length) for m in held) if e]
    pad = tokenizer.pad_token_id
    held_batches = [collate(held_encoded[i:i + config.batch_size], pad)
                    for i in range(0, len(held_encoded), config.batch_size)]
    prompts = [m[:-1] for m in held[: config.behaviour_prompts]]
    progress(0.05, "measuring the base model on held-out data")
    if main:
        with model.disable_adapter():
            loss_before = eval_loss(model, held_batches)
            behaviour_before = behaviour(model, tokenizer, prompts)
    # batch_size is per process: one step of N processes covers N batches (ddp.epoch_batches)
    steps_per_epoch = math.ceil(len(encoded) / (config.batch_size * world))
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / max(total_steps, 1)))
    device = model.device
    trained = model  # what the forward pass runs through: the model itself, or its DDP wrapper
    if accelerator is not None:
        trained, optimizer = accelerator.prepare(model, optimizer)  # DDP: gradients averaged over the ranks
        device = accelerator.device
    order = random.Random(config.seed + 1)  # the same order on every rank; each takes its own slice
    started, step, last_loss = time.perf_counter(), 0, float("nan")
    model.train()
    while step < total_steps:
        order.shuffle(encoded)
        for chunk in ddp.epoch_batches(encoded, config.batch_size, rank, world):
            if step >= total_steps:
                break
            if world > 1 and step == 0:
                log_line(f"rank {rank}/{world}: step 1 trains on examples {[e['index'] for e in chunk]}")
            batch = {k: v.to(device) for k, v in collate(chunk, pad).items()}
            loss = trained(**batch).loss
            if accelerator is not None:
                accelerator.backward(loss)
            else:
                loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            # the mean over the ranks, as one process would see it on the whole global batch
            last_loss = float(accelerator.reduce(loss.detach(), "mean") if accelerator else loss.detach())
            metric(step, loss=last_loss)
            progress(0.1 + 0.75 * step / total_steps, f"step {step}/{total_steps}, loss {last_loss:.3f}")
    train_seconds = time.perf_counter() - started
    if world > 1:
        log_line(f"rank {rank}/{world}: trained {step} steps, LoRA weights sha256 {ddp.lora_digest(model)}")
        if not main:
            return {}
    progress(0.88, "measuring the adapter on held-out data")
    loss_after = eval_loss(model, held_batches)
    behaviour_after = behaviour(model, tokenizer, prompts)
    metric(step, eval_loss=loss_after)
    card = AdapterCard(
        name=config.name, base_model=settings.model, method=method, description=config.description,
        data=f"{Path(config.data).name}: {train.describe()}; held out: {len(held)} "
             f"({Path(config.eval_data).name if config.eval_data else '10% of the training file'})",
        hyperparameters={
            **{k: v for k, v in asdict(config).items() if k not in ("name", "description", "overwrite")},
            # a card travels with the adapter: no absolute paths of the machine it was trained on
            "data": shown_path(config.data),
            "eval_data": shown_path(config.eval_data) if config.eval_data else "",
            "base_dtype": base_dtype(model),
        },
        metrics={"eval_loss_before": round(loss_before, 4), "eval_loss_after": round(loss_after, 4),
                 "train_loss_last": round(last_loss, 4), "steps": step, "train_seconds": round(train_seconds, 1),
                 "processes": world,
                 "heldout_mean_words_before": behaviour_before["mean_words"],
                 "heldout_mean_words_after": behaviour_after["mean_words"],
                 "heldout_cjk_share_before": behaviour_before["cjk_share"],
                 "heldout_cjk_share_after": behaviour_after["cjk_share"],
                 "behaviour_prompts": len(prompts), "skipped_lines": train.skipped[:20]},
        target_modules=sorted(config.target_modules),
    )
    progress(0.95, "writing the adapter")
    with atomic_dir(target, overwrite=config.overwrite) as tmp:
        save_adapter(model, tmp, card)
    progress(1.0, f"adapter {config.name} written")
    return card.to_dict()


def run_job(config: dict, ctx) -> dict:  # noqa: ANN001 - JobContext
    """JobRunner entry point (kind "sft")."""
    from assistant.llm.select import require_local_model

    require_local_model(ctx.settings, "LoRA SFT training")
    processes = ddp.processes_for("sft", config, ctx.settings)
    if processes > 1:
        return ddp.run_launched(ctx, processes)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return train_sft(SFTConfig.from_dict(config), ctx.settings, progress=ctx.progress, metric=ctx.metric)
