"""Accuracy of each chain-of-thought mode on the 50 team-written problems, with the default model.

    python benchmarks/cot_eval.py [--modes direct,step-by-step,self-consistency] [--limit N] [--sc-limit 20]

Runs the same `ChatEngine.run` the chat uses (tools and knowledge off). direct and step-by-step decode greedily;
self-consistency samples `ASSISTANT_SELF_CONSISTENCY_PATHS` paths (default 5) at temperature 0.7 and votes.
Per-problem rows go to /tmp/cot_eval.jsonl (`--out`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")


def correct(answer: str, expected: str) -> bool:
    from assistant.prompts import extract_final, normalize_answer

    want = normalize_answer(expected)
    if want.replace(".", "").lstrip("-").isdigit():
        return extract_final(answer) == want
    return want in answer.lower()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modes", default="direct,step-by-step,self-consistency")
    parser.add_argument("--limit", type=int, default=0, help="first N problems (0 = all 50)")
    parser.add_argument("--sc-limit", type=int, default=20, help="problems for self-consistency (it costs 5×)")
    parser.add_argument("--start", type=int, default=0, help="skip the first N problems (to resume a cut run)")
    parser.add_argument("--out", default="/tmp/cot_eval.jsonl", help="per-problem results (JSONL)")
    args = parser.parse_args()

    from assistant.chat import TurnRequest
    from assistant.config import Settings
    from assistant.services import Services

    problems = [json.loads(x) for x in (REPO / "benchmarks/data/cot_problems.jsonl").read_text().splitlines() if x]
    problems = problems[: args.limit] if args.limit else problems
    problems = problems[args.start:]
    services = Services(Settings(data_dir=Path("/tmp/cot-eval-data"), auto_index_knowledge=False))
    engine = services.llm
    rows = []
    out = open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    for mode in args.modes.split(","):
        subset = problems[: max(0, args.sc_limit - args.start)] if mode == "self-consistency" else problems
        ok = tokens = 0
        started = time.perf_counter()
        for p in subset:
            result = services.chat.run(
                TurnRequest(
                    owner="cot-eval",
                    message=p["question"],
                    cot_mode=mode,
                    knowledge_mode="off",
                    tools_enabled=False,
                    record=False,
                    params={"temperature": 0.0, "max_new_tokens": 256 if mode == "direct" else 320},
                )
            )
            hit = correct(result.answer, p["answer"])
            ok += hit
            tokens += result.tokens
            out.write(
                json.dumps(
                    {
                        "mode": mode,
                        "id": p["id"],
                        "expected": p["answer"],
                        "answer": result.answer,
                        "votes": result.votes,
                        "correct": hit,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
            out.flush()  # partial results survive an interrupted run
        seconds = time.perf_counter() - started
        rows.append((mode, len(subset), ok, tokens / len(subset), seconds / len(subset)))
        print(f"{mode}: {ok}/{len(subset)}", file=sys.stderr, flush=True)
    out.close()
    print(f"\nChain-of-thought accuracy, {engine.name} ({engine.loaded.quant}, {engine.loaded.device})\n")
    print("| mode | problems | correct | accuracy | mean tokens | mean seconds |")
    print("|---|---|---|---|---|---|")
    for mode, n, ok, mean_tokens, mean_seconds in rows:
        print(f"| {mode} | {n} | {ok} | {ok / n:.0%} | {mean_tokens:.0f} | {mean_seconds:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
