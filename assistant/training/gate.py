"""The evaluation gate: compare a candidate adapter with the current one before it may become the default.

Numbers (all on held-out prompts, greedy decoding): reward-model score of each and the candidate's win rate,
mean KL of the candidate to the base model on its own replies, reply length, and a regression check on a subset
of the chain-of-thought problems (direct mode).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch

from assistant.config import REPO_ROOT, Settings
from assistant.prompts import extract_final, normalize_answer

HELDOUT_PROMPTS = REPO_ROOT / "assistant/training/data/feedback_prompts.jsonl"
COT_PROBLEMS = REPO_ROOT / "benchmarks/data/cot_problems.jsonl"


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def heldout_prompts(vote_rows: list[dict], n: int) -> list[list[dict]]:
    """The last n prompts of the shipped held-out list (never voted on), else the latest voted prompts."""
    shipped = [[{"role": "user", "content": r["prompt"]}] for r in _jsonl(HELDOUT_PROMPTS)[-n:]]
    if shipped:
        return shipped
    seen, out = set(), []
    for row in reversed(vote_rows):
        key = json.dumps(row.get("prompt"), ensure_ascii=False)
        if row.get("prompt") and key not in seen:
            seen.add(key)
            out.append(row["prompt"])
    return out[:n]


@torch.no_grad()
def _reply(model, tokenizer, prompt: list[dict], max_new_tokens: int = 64) -> tuple[str, torch.Tensor, int]:  # noqa: ANN001
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
    out = model.generate(**ids, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
    length = ids["input_ids"].shape[1]
    return tokenizer.decode(out[0, length:], skip_special_tokens=True), out, length


def evaluate_candidate(model, tokenizer, settings: Settings, vote_rows: list[dict], current: str | None,  # noqa: ANN001
                       n: int = 8, progress=None) -> dict:  # noqa: ANN001
    """`model` is a PeftModel whose active adapter is the candidate; `current` is an adapter name or None (base)."""
    from assistant.adapters import AdapterRegistry
    from assistant.training.rlhf import token_logprobs

    progress = progress or (lambda fraction, message="": None)
    model.eval()
    candidate_name = model.active_adapter
    if current:
        model.load_adapter(str(AdapterRegistry(settings).folder(current)), adapter_name="gate-current")

    @contextlib.contextmanager
    def as_current():
        if current:
            model.set_adapter("gate-current")
            try:
                yield
            finally:
                model.set_adapter(candidate_name)
        else:
            with model.disable_adapter():
                yield

    try:
        from assistant.training.reward import RewardModel

        reward_model = RewardModel.load(settings)
    except (FileNotFoundError, ValueError):
        reward_model = None
    prompts = heldout_prompts(vote_rows, n)
    rows = []
    for i, prompt in enumerate(prompts):
        new_reply, sequence, length = _reply(model, tokenizer, prompt)
        with torch.no_grad():
            logp_new = token_logprobs(model, sequence, length)
            with model.disable_adapter():
                logp_base = token_logprobs(model, sequence, length)
        with as_current():
            old_reply, _, _ = _reply(model, tokenizer, prompt)
        row = {"prompt": prompt[-1]["content"], "candidate": new_reply, "current": old_reply,
               "kl_to_base": float((logp_new - logp_base).mean()) if logp_new.numel() else 0.0}
        if reward_model is not None:
            with model.disable_adapter():
                row["reward_candidate"], row["reward_current"] = reward_model.score(model, tokenizer, prompt,
                                                                                    [new_reply, old_reply])
        rows.append(row)
        progress((i + 1) / (len(prompts) + 5), f"held-out prompt {i + 1}/{len(prompts)}")
    problems = _jsonl(COT_PROBLEMS)[:5]
    correct = {"candidate": 0, "current": 0}
    for problem in problems:
        prompt = [{"role": "user", "content": problem["question"] + " Answer with the number or word only."}]
        if extract_final(_reply(model, tokenizer, prompt, 32)[0]) == normalize_answer(str(problem["answer"])):
            correct["candidate"] += 1
        with as_current():
            if extract_final(_reply(model, tokenizer, prompt, 32)[0]) == normalize_answer(str(problem["answer"])):
                correct["current"] += 1
    if current:
        model.delete_adapter("gate-current")
    words = {k: round(sum(len(r[k].split()) for r in rows) / max(len(rows), 1), 1) for k in ("candidate", "current")}
    result = {"current": current or "base", "prompts": len(rows), "mean_words": words,
              "kl_to_base": round(sum(r["kl_to_base"] for r in rows) / max(len(rows), 1), 4),
              "cot_subset_correct": {**correct, "of": len(problems)},
              "knowledge_regression": "not run in the job (needs the index); see docs/benchmarks.md",
              "examples": rows[:3]}
    if reward_model is not None and rows:
        result["reward_mean"] = {
            "candidate": round(sum(r["reward_candidate"] for r in rows) / len(rows), 3),
            "current": round(sum(r["reward_current"] for r in rows) / len(rows), 3)}
        result["win_rate"] = round(sum(r["reward_candidate"] > r["reward_current"] for r in rows) / len(rows), 3)
    return result
