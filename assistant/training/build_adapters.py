"""Rebuild the shipped adapters from our own data: `python -m assistant.training.build_adapters [NAME …]`.

concise  — short, direct answers (≤ 25 words) to English questions.
zh-tutor — answers in Chinese that explain step by step, then "答案：" or "总结：".
tools-client — the decision over a /v1 client's own tools as JSON (`{"tool": "none"}` or a call); its data comes
           from `python -m assistant.training.tool_data`, which renders the app's own decision prompts (ours and
           a client's).
tools    — the decision over the app's own tools, in two stages: `tools-client` continued on the top-up of
           `python -m assistant.training.tool_topup` (the key arguments it missed, half replayed examples), then
           on `tool_topup --named` (drawings that name a model family, questions about models; 60 % replayed).
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
    "tools-client": dict(description="Decides calls of a /v1 client's own tools as JSON (the decision step alone, "
                         "over the client's full tool schemas); the app's own tools use `tools`",
                         data="tools.train.jsonl", eval_data="tools.eval.jsonl", max_steps=625, learning_rate=1e-3,
                         max_length=256, behaviour_prompts=0),
    # One pass over the top-up (445 examples) at a lower rate, continued from `tools-client`: the app's own tools
    # gained 6-13 points of key arguments on every held-out set, a client's tools lost 4, so a client's tools keep
    # `tools-client` (docs/bench_tools.md, fifteenth and sixteenth sessions)
    # `then`: a second stage continued from the first (candidate 14): 98 steps, one pass over its 390 rows
    "tools": dict(description="Decides calls of the app's own tools as JSON (used only for the tool-decision step): "
                  "`tools-client` continued on a top-up of the key arguments it missed, then on drawings that name a "
                  "model family", data="tools.topup.jsonl", eval_data="tools.eval.jsonl", init_adapter="tools-client",
                  max_steps=111, learning_rate=3e-4, max_length=256, behaviour_prompts=0,
                  then=dict(data="tools.named.jsonl", max_steps=98, learning_rate=2e-4)),
}


def stages(name: str) -> list[dict]:
    """The SFT options of each training stage of `name`: one, or two where `then` continues the first."""
    options = {"behaviour_prompts": 8, "data": f"{name}.train.jsonl", "eval_data": f"{name}.eval.jsonl",
               **SHIPPED[name]}
    then = options.pop("then", None)
    return [options, {**options, "init_adapter": name, **then}] if then else [options]


def build(name: str, settings: Settings) -> dict:
    """Train every stage of `name` into `settings.adapters_dir`; returns the last stage's card."""
    card: dict = {}
    for number, options in enumerate(stages(name), 1):
        options = {**options, "data": str(DATA / options["data"]), "eval_data": str(DATA / options["eval_data"])}
        config = SFTConfig(name=name, rank=8, alpha=16, batch_size=4, seed=0, overwrite=True, **options)

        def progress(fraction: float, message: str = "", stage: int = number) -> None:
            print(f"[{name} stage {stage}] {fraction:5.1%} {message}", flush=True)

        card = train_sft(config, settings, progress=progress)
    return card


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
