"""Does the feedback loop learn? A simulated user with a checkable preference votes, the RLHF job retrains.

    python benchmarks/feedback_loop.py [--prompts 100] [--method kto] [--steps 30]

The simulated user likes replies under 40 words and dislikes longer ones. It chats through `ChatEngine.run`
(two replies per prompt: the answer and a Regenerate) and votes through `FeedbackStore.vote`, the same calls the
UI's Send, Regenerate and 👍/👎 make. Then the real RLHF job runs (a JobRunner subprocess) and the share of held-out
replies that meet the preference is compared for the old and the new adapter.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")
PROMPTS = REPO / "assistant/training/data/feedback_prompts.jsonl"
LIMIT_WORDS = 40


def words(text: str) -> int:
    return len(text.split())


def held_out_replies(services, prompts: list[str], adapter: str | None, max_new_tokens: int) -> list[str]:
    from assistant.chat import TurnRequest

    return [services.chat.run(TurnRequest(owner="bench-eval", message=p, adapter=adapter or "none",
                                          knowledge_mode="off", tools_enabled=False, record=False,
                                          params={"temperature": 0.0, "max_new_tokens": max_new_tokens})).answer
            for p in prompts]


def summarize(replies: list[str]) -> dict:
    counts = [words(r) for r in replies]
    return {"share_under_40": sum(c < LIMIT_WORDS for c in counts) / len(counts),
            "mean_words": statistics.mean(counts), "median_words": statistics.median(counts)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=100, help="voted prompts (two replies, two votes each)")
    parser.add_argument("--heldout", type=int, default=20)
    parser.add_argument("--method", default="kto", choices=["kto", "dpo"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--max-new-tokens", type=int, default=80)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--learning-rate", type=float, default=None, help="RLHF learning rate (default: the job's)")
    parser.add_argument("--reuse-votes", action="store_true",
                        help="skip the voting when --data-dir already holds votes (re-run only the job)")
    args = parser.parse_args()

    from assistant.chat import TurnRequest
    from assistant.config import Settings
    from assistant.services import Services

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="feedback-loop-"))
    settings = Settings(data_dir=data_dir, adapters_dir=data_dir / "adapters", auto_index_knowledge=False)
    services = Services(settings)
    all_prompts = [json.loads(line)["prompt"] for line in PROMPTS.read_text().splitlines() if line.strip()]
    heldout = all_prompts[-args.heldout:]
    train = all_prompts[: args.prompts]

    started = time.perf_counter()
    if args.reuse_votes and services.feedback.stats()["total"]:
        train = []  # the votes are already in the store
    for i, prompt in enumerate(train, 1):
        options = dict(owner="sim-user", knowledge_mode="off", tools_enabled=False,
                       params={"temperature": 0.9, "max_new_tokens": args.max_new_tokens})
        first = services.chat.run(TurnRequest(message=prompt, **options))
        second = services.chat.run(TurnRequest(message="", conversation_id=first.conversation_id, regenerate=True,
                                               **options))
        for reply in (first, second):
            services.feedback.vote("sim-user", reply.message_id, words(reply.answer) < LIMIT_WORDS)
        if i % 10 == 0:
            print(f"voted on {i}/{len(train)} prompts ({time.perf_counter() - started:.0f} s)", flush=True)
    voting_seconds = time.perf_counter() - started
    stats = services.feedback.stats()
    print(f"votes: {stats['total']} ({stats['up']} up, {stats['down']} down) in {voting_seconds:.0f} s", flush=True)

    before = summarize(held_out_replies(services, heldout, None, 128))
    job_started = time.perf_counter()
    name = f"loop-{args.method}-{time.strftime('%H%M%S')}"
    job_config = {"method": args.method, "name": name, "steps": args.steps, "start_from": "base", "evaluate": False}
    if args.learning_rate:
        job_config["learning_rate"] = args.learning_rate
    job_id = services.jobs.start("rlhf", job_config, lock_key="rlhf")
    info = services.jobs.wait(job_id, timeout=3600)
    job_seconds = time.perf_counter() - job_started
    if info.status != "succeeded":
        print(services.jobs.log_tail(job_id))
        raise SystemExit(f"job {info.status}: {info.message}")
    after = summarize(held_out_replies(services, heldout, name, 128))

    print(f"\nFeedback loop: simulated user prefers replies under {LIMIT_WORDS} words; {stats['total']} votes on "
          f"{stats['total'] // 2} prompts; {args.method}, {args.steps} steps; {len(heldout)} held-out prompts "
          "(greedy)\n")
    print("| adapter | held-out replies under 40 words | mean words | median words |")
    print("|---|---|---|---|")
    print(f"| base (before) | {before['share_under_40']:.0%} | {before['mean_words']:.1f} | {before['median_words']} |")
    print(f"| {name} (after) | {after['share_under_40']:.0%} | {after['mean_words']:.1f} | {after['median_words']} |")
    print(f"\nvoting (generation of {2 * len(train)} replies this run): {voting_seconds:.0f} s; RLHF job wall time "
          f"({stats['total']} votes): {job_seconds:.0f} s; job {job_id}; data dir {data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
