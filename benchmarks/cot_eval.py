"""Accuracy of each chain-of-thought mode on the 50 team-written problems, with the default model.

    python benchmarks/cot_eval.py [--modes direct,step-by-step,self-consistency] [--limit N] [--sc-limit 20]

Runs the same `ChatEngine.run` the chat uses (tools and knowledge off) on the default engine (llama.cpp on CPU).
direct and step-by-step decode greedily; self-consistency samples `ASSISTANT_SELF_CONSISTENCY_PATHS` paths
(default 5) at temperature 0.7 and votes. A reply is correct when its final answer (`assistant.prompts.extract_final`:
the boxed answer, "the answer is X", the last number, or a reply of a few words) equals the expected one after
`normalize_answer` — the same function the self-consistency vote counts with. Per-problem rows go to
/tmp/cot_eval.jsonl (`--out`); `--rescore FILE` scores such a file again without generating.
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


def predicted(answer: str, reasoning: str, votes: list[dict]) -> str | None:
    """The reply's final answer exactly as the chat found it: the winning vote, else the parsed reply's final."""
    from assistant.prompts import reply_final

    return votes[0]["answer"] if votes else reply_final(answer, reasoning)


def correct(final: str | None, expected: str) -> bool:
    """Exact match after normalisation (numbers by value): never a substring of a longer answer."""
    from assistant.prompts import normalize_answer

    return final is not None and normalize_answer(final) == normalize_answer(expected)


def rescore(path: str) -> int:
    """Score the rows of an earlier run again (after a change to the normaliser), without generating."""
    rows = [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip()]
    by_mode: dict[str, list[bool]] = {}
    for row in rows:
        final = predicted(row["answer"], row.get("reasoning", ""), row.get("votes") or [])
        by_mode.setdefault(row["mode"], []).append(correct(final, row["expected"]))
    for mode, hits in by_mode.items():
        print(f"| {mode} | {len(hits)} | {sum(hits)} | {sum(hits) / len(hits):.0%} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modes", default="direct,step-by-step,self-consistency")
    parser.add_argument("--limit", type=int, default=0, help="first N problems (0 = all 50)")
    parser.add_argument("--sc-limit", type=int, default=20, help="problems for self-consistency (it costs 5×)")
    parser.add_argument("--start", type=int, default=0, help="skip the first N problems (to resume a cut run)")
    parser.add_argument("--out", default="/tmp/cot_eval.jsonl", help="per-problem results (JSONL)")
    parser.add_argument("--rescore", default="", help="score the rows of an earlier --out file again and stop")
    args = parser.parse_args()
    if args.rescore:
        return rescore(args.rescore)

    from assistant.chat import TurnRequest
    from assistant.config import Settings
    from assistant.services import Services

    problems = [json.loads(x) for x in (REPO / "benchmarks/data/cot_problems.jsonl").read_text().splitlines() if x]
    problems = problems[: args.limit] if args.limit else problems
    problems = problems[args.start:]
    services = Services(
        Settings(data_dir=Path("/tmp/cot-eval-data"), auto_index_knowledge=False, chat_rate_per_minute=0)
    )
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
            final = predicted(result.answer, result.reasoning, result.votes)
            hit = correct(final, p["answer"])
            ok += hit
            tokens += result.tokens
            out.write(
                json.dumps(
                    {
                        "mode": mode,
                        "id": p["id"],
                        "expected": p["answer"],
                        "answer": result.answer,
                        "reasoning": result.reasoning,
                        "final": final,
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
    print(f"\nChain-of-thought accuracy, {engine.name} ({engine.kind} engine, {engine.loaded.quant}, "
          f"{engine.loaded.device})\n")
    print("| mode | problems | correct | accuracy | mean tokens | mean seconds |")
    print("|---|---|---|---|---|---|")
    for mode, n, ok, mean_tokens, mean_seconds in rows:
        print(f"| {mode} | {n} | {ok} | {ok / n:.0%} | {mean_tokens:.0f} | {mean_seconds:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
