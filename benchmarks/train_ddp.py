"""Wall time of an SFT job in 1 process vs N processes (DDP under `accelerate launch`), same steps, tiny model.

    python benchmarks/train_ddp.py [--steps 20] [--batch-size 2] [--processes 2]

Builds the tiny random Qwen2 of the tests (the packaged model's tokenizer, 2 layers of width 64) and runs the
`sft` job through the JobRunner as the app does. Reports the job's wall time (start to finish, including process
start-up, model load, evaluation and the adapter save) and the training loop's own seconds (the card's
`train_seconds`). With N processes one step trains N batches of `--batch-size` (batch size is per process).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def tiny_model(folder: Path, settings_cache: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from assistant.config import Settings
    from assistant.llm.loader import resolve_source

    _, source = resolve_source(Settings(data_dir=folder / "unused", model_cache_dir=settings_cache))
    tokenizer = AutoTokenizer.from_pretrained(source)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         tie_word_embeddings=True, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(folder / "tiny")
    tokenizer.save_pretrained(folder / "tiny")
    return folder / "tiny"


def run(root: Path, model: Path, cache: Path, processes: int, steps: int, batch_size: int) -> dict:
    from assistant.config import Settings
    from assistant.jobs import JobRunner

    data = root / f"chat-{processes}.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Question {i}?"},
                                                     {"role": "assistant", "content": "Short answer."}]}) + "\n"
                            for i in range(48)))
    settings = Settings(data_dir=root / f"data-{processes}", adapters_dir=root / f"adapters-{processes}",
                        model=str(model), quant="none", model_cache_dir=cache, auto_index_knowledge=False,
                        train_processes=processes)
    runner = JobRunner(settings)
    started = time.perf_counter()
    job_id = runner.start("sft", {"name": "bench", "data": str(data), "max_steps": steps, "batch_size": batch_size,
                                  "rank": 4, "behaviour_prompts": 1})
    info = runner.wait(job_id, timeout=1800, poll=0.2)
    wall = time.perf_counter() - started
    if info.status != "succeeded":
        raise SystemExit(f"{processes} process(es): {info.status}: {info.message}\n{runner.log_tail(job_id)}")
    metrics = info.result["metrics"]
    return {"processes": processes, "steps": metrics["steps"], "examples": metrics["steps"] * batch_size * processes,
            "job_wall_s": round(wall, 1), "train_s": metrics["train_seconds"]}


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    cache = Path(os.environ.get("ASSISTANT_MODEL_CACHE_DIR", Path.home() / ".cache/assistant/models"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = tiny_model(root, cache)
        for processes in (1, args.processes):
            print(json.dumps(run(root, model, cache, processes, args.steps, args.batch_size)), flush=True)


if __name__ == "__main__":
    main()
