"""Rebuild the shipped adapters from our own data: `python -m assistant.training.build_adapters [NAME …]`.

concise  — short, direct answers (≤ 25 words) to English questions.
zh-tutor — answers in Chinese that explain step by step, then "答案：" or "总结：".
tools    — the tool decision as JSON (`{"tool": "none"}` or a call); its data comes from
           `python -m assistant.training.tool_data`, which renders the app's own decision prompt.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from assistant.config import Settings
from assistant.training.sft import SFTConfig, train_sft

DATA = Path(__file__).resolve().parent / "data"
SHIPPED = {
    # Step counts are sized to train on two CPU cores in minutes; a GPU can afford more epochs.
    "concise": dict(description="Short, direct answers (at most ~25 words), no preamble.", max_steps=40,
                    learning_rate=5e-4, max_length=160, behaviour_prompts=6),
    "zh-tutor": dict(description="Answers in Chinese, explaining step by step, ending with 答案/总结.", epochs=2,
                     learning_rate=5e-4, max_length=224),
    # Examples are 100-250 tokens (the compact decision prompt with up to 3 earlier turns, or the full prompt over a
    # /v1 client's 1-3 tools; the JSON answer); the held-out generation metrics (reply length, CJK share) mean
    # nothing for JSON decisions, so none are run. 625 steps = one pass over the 2,500 examples at batch 4 on a bf16
    # base; 45 steps left 13 % false calls, 200 and 300 steps missed rarer kinds.
    "tools": dict(description="Decides tool calls as JSON (used only for the tool-decision step)", max_steps=625,
                  learning_rate=1e-3, max_length=256, behaviour_prompts=0),
}


def build(name: str, settings: Settings) -> dict:
    options = {"behaviour_prompts": 8, **SHIPPED[name]}
    config = SFTConfig(name=name, data=str(DATA / f"{name}.train.jsonl"), eval_data=str(DATA / f"{name}.eval.jsonl"),
                       rank=8, alpha=16, batch_size=4, seed=0, overwrite=True, **options)

    def progress(fraction: float, message: str = "") -> None:
        print(f"[{name}] {fraction:5.1%} {message}", flush=True)

    return train_sft(config, settings, progress=progress)


def main(names: list[str]) -> int:
    torch.set_num_threads(2)
    settings = Settings()
    for name in names or list(SHIPPED):
        started = time.perf_counter()
        card = build(name, settings)
        print(json.dumps({"adapter": name, "seconds": round(time.perf_counter() - started, 1),
                          "metrics": card["metrics"]}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
