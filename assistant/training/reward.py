"""Reward model from votes: a logistic scoring head on the frozen base model's mean-pooled hidden states.

The seeds' RLHF pipeline is data collection -> reward model -> RL fine-tuning; this is the middle step. The head is
tiny (2 x hidden size + 1 parameters: the conversation's and the reply's mean states), so a few dozen votes train
it in seconds, and it scores any (prompt, reply).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from assistant.config import Settings
from assistant.storage import atomic_dir, check_name
from assistant.training.forward import last_hidden_state


@dataclass
class RewardConfig:
    name: str = field(default="reward", metadata={"help": "folder under <data>/reward_models/"})
    epochs: int = field(default=200, metadata={"help": "passes of the logistic head over the vote features"})
    learning_rate: float = field(default=0.05, metadata={"help": "Adam learning rate for the head"})
    weight_decay: float = field(default=1e-3, metadata={"help": "L2 penalty (small data: keep the head simple)"})
    holdout: float = field(default=0.2, metadata={"help": "share of votes held out for the accuracy on the card"})
    max_length: int = field(default=384, metadata={"help": "tokens of prompt + reply fed to the base model"})
    min_votes: int = field(default=8, metadata={"help": "refuse to train on fewer votes"})
    seed: int = field(default=0, metadata={"help": "random seed"})


FEATURES = "mean of the conversation's and of the reply's last hidden states"


def conversation_ids(tokenizer, prompt: list[dict], reply: str, max_length: int) -> tuple[list[int], int]:  # noqa: ANN001
    """Token ids of prompt + reply, the prompt fitted to `max_length` (`fit_messages`), and where the reply starts."""
    from assistant.training.fit import fit_messages

    messages = fit_messages(tokenizer, prompt, reply, max_length).messages
    head = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    text = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": reply}], tokenize=False)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]  # only a reply alone over the budget
    start = len(tokenizer(head, add_special_tokens=False)["input_ids"]) if text.startswith(head) else 0
    return ids, min(start, len(ids) - 1)


@torch.no_grad()
def features(model, tokenizer, conversations: list[tuple[list[dict], str]], max_length: int = 384) -> torch.Tensor:  # noqa: ANN001
    """Features per (prompt, reply) from the frozen base (adapters are disabled by the caller)."""
    out = []
    for prompt, reply in conversations:
        ids, start = conversation_ids(tokenizer, prompt, reply, max_length)
        out.append(pooled(last_hidden_state(model, input_ids=torch.tensor([ids], device=model.device)), start))
    return torch.stack(out)


def pooled(hidden: torch.Tensor, reply_start: int) -> torch.Tensor:
    """A conversation's features from its last hidden states (1 x n x d): their mean, then the reply's mean.

    The reply's own mean matters where the prompt is long: behind 300 tokens of retrieved sources, a citation is
    a small part of the whole conversation's mean (a grounded vote's reply is about a sixth of it)."""
    states = hidden[0].float()
    return torch.cat([states.mean(dim=0), states[reply_start:].mean(dim=0)]).cpu()


class RewardModel:
    """A trained head plus the statistics to standardise features; `score()` returns a logit (higher = better)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                 card: dict) -> None:
        self.weight, self.bias, self.mean, self.std, self.card = weight, bias, mean, std, card

    def score_features(self, feats: torch.Tensor) -> torch.Tensor:
        return ((feats - self.mean) / self.std) @ self.weight + self.bias

    @property
    def max_length(self) -> int:
        return self.card.get("max_length", 384)

    def score(self, model, tokenizer, prompt: list[dict], replies: list[str]) -> list[float]:  # noqa: ANN001
        return self.score_features(features(model, tokenizer, [(prompt, r) for r in replies],
                                            self.max_length)).tolist()

    @classmethod
    def load(cls, settings: Settings, name: str = "latest") -> RewardModel:
        root = settings.data_dir / "reward_models"
        if name == "latest":
            folders = sorted((p for p in root.glob("*") if (p / "head.pt").exists()), key=lambda p: p.stat().st_mtime)
            if not folders:
                raise FileNotFoundError("no reward model yet: train one first (python -m assistant train reward)")
            folder = folders[-1]
        else:
            folder = root / check_name(name, "reward model name")
            if not (folder / "head.pt").exists():
                raise FileNotFoundError(f"no reward model {name!r}")
        state = torch.load(folder / "head.pt", weights_only=True)
        card = json.loads((folder / "card.json").read_text())
        if card.get("features") != FEATURES:
            raise ValueError(f"reward model {folder.name!r} reads an older kind of features: train a new one "
                             "(python -m assistant train reward)")
        if card.get("base_model") != settings.model:
            raise ValueError(f"reward model {folder.name!r} was trained on {card.get('base_model')!r}, "
                             f"the base model is {settings.model!r}")
        return cls(state["weight"], state["bias"], state["mean"], state["std"], card)


def ranking_accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float | None:
    """ROC AUC: the share of (👍, 👎) pairs the scores put in the right order (ties count half); None without both.

    What the gate uses a reward model for is ranking two replies, and votes are lopsided (a user mostly votes 👎), so
    plain accuracy is judged against the majority baseline while this is judged against 0.5.
    """
    up, down = scores[labels > 0.5], scores[labels <= 0.5]
    if not len(up) or not len(down):
        return None
    diff = up[:, None] - down[None, :]
    return float(((diff > 0).float() + 0.5 * (diff == 0).float()).mean())


def train_reward(config: RewardConfig, settings: Settings, rows: list[dict], progress=None) -> dict:  # noqa: ANN001
    """Fit the head on the votes (rows from FeedbackStore.training_rows()) and write it atomically."""
    from assistant.training.sft import base_dtype, load_base_for_training

    progress = progress or (lambda fraction, message="": None)
    check_name(config.name, "reward model name")
    usable = [r for r in rows if r.get("prompt") and r.get("reply")]
    if len(usable) < config.min_votes:
        raise ValueError(f"a reward model needs at least {config.min_votes} votes; the store has {len(usable)}")
    labels = torch.tensor([1.0 if r["value"] > 0 else 0.0 for r in usable])
    if labels.min() == labels.max():
        raise ValueError("a reward model needs both 👍 and 👎 votes")
    progress(0.05, "loading the base model")
    model, tokenizer, _ = load_base_for_training(settings)
    model.eval()
    texts = [(r["prompt"], r.get("completion") or r["reply"]) for r in usable]
    feats = []
    for i in range(0, len(texts), 8):
        feats.append(features(model, tokenizer, texts[i:i + 8], config.max_length))
        progress(0.1 + 0.7 * min(1.0, (i + 8) / len(texts)), f"encoding votes {min(i + 8, len(texts))}/{len(texts)}")
    feats = torch.cat(feats)
    order = list(range(len(usable)))
    random.Random(config.seed).shuffle(order)
    n_hold = max(1, int(len(order) * config.holdout))
    hold, train = order[:n_hold], order[n_hold:]
    mean, std = feats[train].mean(0), feats[train].std(0) + 1e-5
    x = (feats - mean) / std
    torch.manual_seed(config.seed)
    weight = torch.zeros(x.shape[1], requires_grad=True)
    bias = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=config.learning_rate, weight_decay=config.weight_decay)
    started = time.perf_counter()
    for _ in range(config.epochs):
        logits = x[train] @ weight + bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels[train])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = float(((x[hold] @ weight + bias > 0).float() == labels[hold]).float().mean())
        auc = ranking_accuracy(x[hold] @ weight + bias, labels[hold])
        train_accuracy = float(((x[train] @ weight + bias > 0).float() == labels[train]).float().mean())
    majority = float(max(labels[hold].mean(), 1 - labels[hold].mean()))
    card = {"name": config.name, "base_model": settings.model, "kind": "logistic head on mean-pooled hidden states",
            "features": FEATURES,
            "votes": len(usable), "train_votes": len(train), "heldout_votes": len(hold),
            "heldout_accuracy": round(accuracy, 3), "heldout_majority_baseline": round(majority, 3),
            "heldout_auc": None if auc is None else round(auc, 3),
            "train_accuracy": round(train_accuracy, 3), "final_loss": round(float(loss.detach()), 4),
            "fit_seconds": round(time.perf_counter() - started, 2), "max_length": config.max_length,
            # the dtype the features were computed in; the gate reads them through the RLHF job's base, which
            # `resolved_train_dtype` loads in the same one
            "base_dtype": base_dtype(model),
            "config": asdict(config), "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    target = settings.data_dir / "reward_models" / config.name
    with atomic_dir(target, overwrite=True) as tmp:
        torch.save({"weight": weight.detach(), "bias": bias.detach(), "mean": mean, "std": std}, tmp / "head.pt")
        (Path(tmp) / "card.json").write_text(json.dumps(card, indent=2))
    ranked = "" if auc is None else f", AUC {auc:.2f} (the gate needs {settings.gate_min_reward_auc})"
    progress(1.0, f"reward model {config.name}: held-out accuracy {accuracy:.0%} "
                  f"(always 👎/👍: {majority:.0%}){ranked}")
    return card


def run_job(config: dict, ctx) -> dict:  # noqa: ANN001 - JobContext
    """JobRunner entry point (kind "reward")."""
    from assistant.llm.select import require_local_model

    require_local_model(ctx.settings, "reward-model training")
    from assistant.services import Services

    rows = Services(ctx.settings).feedback.training_rows()
    return train_reward(RewardConfig(**config), ctx.settings, rows, progress=ctx.progress)
