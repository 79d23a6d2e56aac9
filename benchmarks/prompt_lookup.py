"""Prompt-lookup speculative decoding on grounded answers: plain llama.cpp vs drafts copied from the prompt.

    python benchmarks/prompt_lookup.py [--questions 12] [--tokens 160] [--draft 10]

Grounded answers repeat their sources' text, which `LlamaPromptLookupDecoding` turns into drafts that one forward
pass verifies. Both engines answer the same knowledge questions (benchmarks/data/retrieval_eval.jsonl) with the
sources the chat would retrieve, in the chat's own prompt (`KNOWLEDGE_RULES` + numbered sources), greedy. Reported:
decode tokens/s of each, the speed-up, and whether the greedy outputs are identical (they must be).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")


def grounded_prompts(services, count: int) -> list[str]:  # noqa: ANN001
    from assistant.chat import KNOWLEDGE_RULES
    from assistant.prompts import system_prompt

    rows = [json.loads(line) for line in (REPO / "benchmarks/data/retrieval_eval.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r.get("lang", "en") == "en"][:count]
    prompts = []
    for row in rows:
        hits = services.knowledge_hits(row["question"], always=True)
        extra = KNOWLEDGE_RULES + "\n\nSources:\n" + services.format_sources(hits)
        messages = [{"role": "system", "content": system_prompt(services.settings.system_prompt, "direct", extra)},
                    {"role": "user", "content": row["question"]}]
        prompts.append(services.llm.build_prompt(messages, 256)[0])
    return prompts


def run(engine, prompts: list[str], tokens: int) -> tuple[list[str], list[float]]:  # noqa: ANN001
    from assistant.llm.base import GenerationParams, GenerationStats

    texts, speeds = [], []
    for prompt in prompts:
        engine.llm.reset()
        stats = GenerationStats()
        started = time.perf_counter()
        text = "".join(engine.stream(prompt, GenerationParams(temperature=0.0, max_new_tokens=tokens,
                                                              repetition_penalty=1.0), stats=stats))
        decode = time.perf_counter() - started - (stats.first_token_seconds or 0.0)
        texts.append(text)
        speeds.append((stats.tokens - 1) / decode if stats.tokens > 1 and decode > 0 else 0.0)
    return texts, speeds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--tokens", type=int, default=160)
    parser.add_argument("--draft", type=int, default=10, help="draft tokens per lookup")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default="/tmp/bench-lookup")
    args = parser.parse_args()

    from assistant.config import Settings
    from assistant.llm.llamacpp_engine import LlamaCppEngine
    from assistant.services import Services

    settings = Settings(data_dir=Path(args.data_dir), threads=args.threads, engine="llamacpp")
    services = Services(settings)
    services.knowledge.sync_folder()
    prompts = grounded_prompts(services, args.questions)
    plain = services.llm
    lookup_settings = settings.model_copy(update={"prompt_lookup": True, "prompt_lookup_tokens": args.draft})
    lookup = LlamaCppEngine(Path(plain.loaded.path), plain.tokenizer, lookup_settings, plain.name)
    run(plain, prompts[:1], 8)  # warm-up
    run(lookup, prompts[:1], 8)
    plain_texts, plain_speed = run(plain, prompts, args.tokens)
    lookup_texts, lookup_speed = run(lookup, prompts, args.tokens)
    same = sum(a == b for a, b in zip(plain_texts, lookup_texts, strict=True))
    ratios = [b / a for a, b in zip(plain_speed, lookup_speed, strict=True) if a > 0]
    print(f"\nPrompt-lookup decoding on {len(prompts)} grounded answers, at most {args.tokens} tokens, greedy, "
          f"draft {args.draft}, {args.threads} threads\n")
    print("| engine | decode tok/s (median) | tok/s (mean) |")
    print("|---|---|---|")
    print(f"| llama.cpp plain | {statistics.median(plain_speed):.1f} | {statistics.mean(plain_speed):.1f} |")
    print(f"| llama.cpp + prompt lookup | {statistics.median(lookup_speed):.1f} | "
          f"{statistics.mean(lookup_speed):.1f} |")
    print(f"\nspeed-up per answer: median {statistics.median(ratios):.2f}×, min {min(ratios):.2f}×, "
          f"max {max(ratios):.2f}×; identical greedy output on {same}/{len(prompts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
