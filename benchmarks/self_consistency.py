"""Self-consistency paths one after another vs side by side in one batched generate(), on the default model.

    python benchmarks/self_consistency.py [--paths 5] [--tokens 128] [--repeats 2] [--threads 2]

Both sample the same number of reasoning paths for the same step-by-step prompt (temperature 0.7, seeded) through
`LLMEngine.stream` (before) and `LLMEngine.stream_many` (now). Reported: wall time for the whole set of paths and
generated tokens per second summed over the paths.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")
QUESTION = "A baker makes 12 trays of 24 cookies and sells 150 of them. How many cookies are left?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from assistant.config import Settings
    from assistant.llm.engine import GenerationParams, GenerationStats
    from assistant.prompts import assistant_prefix, system_prompt
    from assistant.services import Services

    torch.set_num_threads(args.threads)
    services = Services(
        Settings(data_dir=Path("/tmp/bench-sc"), auto_index_knowledge=False, chat_rate_per_minute=0)
    )
    engine = services.llm
    messages = [{"role": "system", "content": system_prompt(services.settings.system_prompt, "step-by-step", "")},
                {"role": "user", "content": QUESTION}]
    prompt, _ = engine.build_prompt(messages, args.tokens, prefix=assistant_prefix("step-by-step"))
    params = GenerationParams(temperature=0.7, max_new_tokens=args.tokens, seed=0)
    engine.generate(prompt, GenerationParams(temperature=0.0, max_new_tokens=4))  # warm-up

    rows = {"one after another (stream × N)": [], "side by side (stream_many)": []}
    for _ in range(args.repeats):
        started, tokens = time.perf_counter(), 0
        for _path in range(args.paths):
            stats = GenerationStats()
            for _piece in engine.stream(prompt, params, stats=stats):
                pass
            tokens += stats.tokens
        rows["one after another (stream × N)"].append((time.perf_counter() - started, tokens))
        stats = GenerationStats()
        started = time.perf_counter()
        for _texts in engine.stream_many(prompt, params, args.paths, stats=stats):
            pass
        rows["side by side (stream_many)"].append((time.perf_counter() - started, stats.tokens))

    print(f"\nSelf-consistency, {args.paths} paths of at most {args.tokens} tokens, {engine.name} "
          f"({engine.loaded.quant}, {engine.loaded.device}), {args.threads} threads, {args.repeats} repeats\n")
    print("| method | wall s (median) | generated tokens (median) | tokens/s summed over paths |")
    print("|---|---|---|---|")
    for name, runs in rows.items():
        seconds = statistics.median(r[0] for r in runs)
        tokens = statistics.median(r[1] for r in runs)
        print(f"| {name} | {seconds:.1f} | {tokens:.0f} | {tokens / seconds:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
