"""Decode speed, time to first token, memory and perplexity of our engines, side by side with raw llama.cpp.

    python benchmarks/generation.py [--modes engine,engine+concise,int8] [--tokens 128] [--threads 2]

Rows, each in a fresh subprocess (clean resident memory):
- `llama.cpp (raw)`: the peer, `llama-cpp-python`'s own `Llama.create_completion` on the packaged GGUF;
- `engine`: our serving path on CPU (the llama.cpp backend through `Services.llm`, with both shipped adapters
  loaded, as the app runs it); `engine+NAME`: the same with adapter NAME active;
- torch modes (`int8`, `none`, `bf16`, `nf4`, `bnb-int8`): the torch backend with that quantization.
Same chat-formatted prompt, same threads, greedy, one warm-up. "TTFT 300" is the time to first token for a
~300-token prompt with no cached prefix.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")
TEXT = (REPO / "benchmarks/data/perplexity_text.txt").read_text()
QUESTION = "Explain in a few sentences how a bicycle gear system works."


def rss_mb() -> float:
    """Resident memory after handing freed heap back to the OS (loading fp32 then quantizing leaves freed pages)."""
    import contextlib
    import ctypes

    import psutil

    with contextlib.suppress(OSError):  # not glibc: report plain RSS
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return psutil.Process().memory_info().rss / 2**20


LONG_CONTEXT = (REPO / "knowledge" / "getting-started.md").read_text()


def question_messages(settings) -> list[dict]:  # noqa: ANN001
    """The same chat every row answers (the peer renders it with the same template)."""
    return [{"role": "system", "content": settings.system_prompt}, {"role": "user", "content": QUESTION}]


def long_prompt_messages(tokenizer, target: int = 300) -> list[dict]:  # noqa: ANN001
    """A user message of about `target` tokens in the chat template (a document excerpt, then a question)."""
    ids = tokenizer(LONG_CONTEXT, add_special_tokens=False)["input_ids"][: target - 40]
    text = tokenizer.decode(ids) + "\n\nSummarise the text above in one sentence."
    return [{"role": "user", "content": text}]


def measure_engine(mode: str, tokens: int, threads: int) -> dict:
    """Our serving path: `Services.llm` (llama.cpp on CPU), adapters preloaded as the app's warm-up does."""
    from assistant.config import Settings
    from assistant.llm.base import GenerationParams, GenerationStats
    from assistant.services import Services

    _, _, adapter = mode.partition("+")
    settings = Settings(data_dir=Path("/tmp/bench-generation"), threads=threads, auto_index_knowledge=False)
    started = time.perf_counter()
    services = Services(settings)
    engine = services.llm
    load_s = time.perf_counter() - started
    services.adapters.preload()
    prompt, _ = engine.build_prompt(question_messages(settings), tokens)
    params = GenerationParams(temperature=0.0, max_new_tokens=tokens, repetition_penalty=1.0)
    engine.generate(prompt, GenerationParams(temperature=0.0, max_new_tokens=8), adapter or None)  # warm-up
    engine.llm.reset()  # no cached prefix: the TTFT includes the prefill, as for the peer
    stats = GenerationStats()
    text = "".join(engine.stream(prompt, params, adapter or None, stats=stats))
    long, _ = engine.build_prompt([question_messages(settings)[0], *long_prompt_messages(engine.tokenizer)], 8)
    engine.llm.reset()
    long_stats = GenerationStats()
    for _ in engine.stream(long, GenerationParams(temperature=0.0, max_new_tokens=2), adapter or None,
                           stats=long_stats):
        pass
    return {
        "mode": f"{engine.kind} engine" + (f" + {adapter}" if adapter else ""),
        "rss_mb": rss_mb(),
        "load_s": load_s,
        "ttft_s": stats.first_token_seconds,
        "ttft300_s": long_stats.first_token_seconds,
        "prompt300": long_stats.prompt_tokens,
        "tok_s": stats.tokens_per_second,
        "tokens": stats.tokens,
        "ppl": float("nan"),
        "text": text[:80],
    }


def measure_torch(mode: str, tokens: int, threads: int) -> dict:
    import torch

    from assistant.config import Settings
    from assistant.llm.engine import GenerationParams, GenerationStats, LLMEngine
    from assistant.llm.loader import load_model

    torch.set_num_threads(threads)
    settings = Settings(quant=mode, data_dir=Path("/tmp/bench-generation"), threads=threads, engine="torch")
    started = time.perf_counter()
    engine = LLMEngine(load_model(settings), settings)
    load_s = time.perf_counter() - started
    prompt, _ = engine.build_prompt(question_messages(settings), tokens)
    params = GenerationParams(temperature=0.0, max_new_tokens=tokens, repetition_penalty=1.0)
    engine.generate(prompt, GenerationParams(temperature=0.0, max_new_tokens=8))  # warm-up
    # Force exactly `tokens` new tokens so every mode decodes the same amount.
    stats = GenerationStats()
    kwargs_backup = params.to_generate_kwargs
    params.to_generate_kwargs = lambda: {**kwargs_backup(), "min_new_tokens": tokens}
    text = "".join(engine.stream(prompt, params, stats=stats))
    long, _ = engine.build_prompt([question_messages(settings)[0], *long_prompt_messages(engine.tokenizer)], 8)
    long_stats = GenerationStats()
    "".join(engine.stream(long, GenerationParams(temperature=0.0, max_new_tokens=2), stats=long_stats))
    # perplexity of the fixed text: exp(mean NLL per token)
    ids = engine.tokenizer(TEXT, return_tensors="pt").input_ids.to(engine.loaded.device)
    with torch.no_grad():
        loss = engine.model(input_ids=ids, labels=ids).loss.float().item()
    return {
        "mode": mode,
        "rss_mb": rss_mb(),
        "load_s": load_s,
        "ttft_s": stats.first_token_seconds,
        "ttft300_s": long_stats.first_token_seconds,
        "prompt300": long_stats.prompt_tokens,
        "tok_s": stats.tokens_per_second,
        "tokens": stats.tokens,
        "ppl": math.exp(loss),
        "text": text[:80],
    }


def measure_llama_cpp(tokens: int, threads: int) -> dict:
    import numpy as np

    from assistant.config import Settings
    from assistant.llm.llamacpp_build import load_llama
    from assistant.llm.select import gguf_with_tokenizer

    settings = Settings(data_dir=Path("/tmp/bench-generation"))
    _, gguf, tokenizer = gguf_with_tokenizer(settings)  # the tokenizer the engine uses, for the same prompt
    started = time.perf_counter()
    # No logits_all here: it makes llama-cpp-python keep (and copy) an n_ctx × vocab float buffer per step.
    llm = load_llama(str(gguf), n_threads=threads, n_threads_batch=threads, n_ctx=4096, verbose=False)
    load_s = time.perf_counter() - started
    prompt = tokenizer.apply_chat_template(
        [{"role": "system", "content": settings.system_prompt}, {"role": "user", "content": QUESTION}],
        tokenize=False,
        add_generation_prompt=True,
    )
    list(llm.create_completion(prompt, max_tokens=8, temperature=0.0, stream=True))  # warm-up
    llm.reset()  # otherwise llama-cpp-python reuses the warm-up's prompt KV and the TTFT skips the prefill
    started = time.perf_counter()
    first, count = None, 0
    for _ in llm.create_completion(prompt, max_tokens=tokens, temperature=0.0, stream=True, repeat_penalty=1.0):
        count += 1
        if first is None:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    long = tokenizer.apply_chat_template(
        [{"role": "system", "content": settings.system_prompt}, *long_prompt_messages(tokenizer)],
        tokenize=False,
        add_generation_prompt=True,
    )
    llm.reset()
    started = time.perf_counter()
    next(iter(llm.create_completion(long, max_tokens=2, temperature=0.0, stream=True)))
    ttft300 = time.perf_counter() - started
    rss = rss_mb()
    ids = llm.tokenize(TEXT.encode(), add_bos=False)
    del llm
    # A second instance that keeps every position's logits, sized to the text, for perplexity.
    llm = load_llama(str(gguf), n_threads=threads, n_ctx=len(ids) + 8, verbose=False, logits_all=True)
    llm.eval(ids)
    logits = np.array(llm.scores[: len(ids)], dtype=np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    nll = -np.mean([logp[i, ids[i + 1]] for i in range(len(ids) - 1)])
    return {
        "mode": "llama.cpp (raw) Q4_K_M",
        "rss_mb": rss,
        "load_s": load_s,
        "ttft_s": first,
        "ttft300_s": ttft300,
        "prompt300": len(llm.tokenize(long.encode(), add_bos=False, special=True)),
        "tok_s": (count - 1) / (total - first) if count > 1 else 0.0,
        "tokens": count,
        "ppl": math.exp(nll),
        "text": "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modes", default="engine,engine+concise,engine+zh-tutor,int8")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: measure one mode and print JSON
    args = parser.parse_args()
    if args.one:
        if args.one == "llama.cpp":
            result = measure_llama_cpp(args.tokens, args.threads)
        elif args.one.startswith("engine"):
            result = measure_engine(args.one, args.tokens, args.threads)
        else:
            result = measure_torch(args.one, args.tokens, args.threads)
        print("RESULT " + json.dumps(result))
        return 0
    rows = []
    for mode in ["llama.cpp", *args.modes.split(",")]:
        out = subprocess.run(
            [sys.executable, __file__, "--one", mode, "--tokens", str(args.tokens), "--threads", str(args.threads)],
            capture_output=True,
            text=True,
            env={**os.environ},
        )
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{mode}: failed\n{out.stderr[-1500:]}", file=sys.stderr)
            continue
        rows.append(json.loads(line[7:]))
        print(f"measured {mode}", file=sys.stderr, flush=True)
    peer = next((r for r in rows if r["mode"].startswith("llama.cpp")), None)
    load = os.getloadavg()
    print(f"\n{args.tokens} new tokens, greedy, {args.threads} threads; load average at the end {load[0]:.2f}\n")
    print("| mode | resident MB | load s | TTFT s | TTFT 300 s (prompt tokens) | decode tok/s | × llama.cpp | "
          "tokens | perplexity |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['tok_s'] / peer['tok_s']:.2f}" if peer and peer["tok_s"] else "n/a"
        print(
            f"| {r['mode']} | {r['rss_mb']:.0f} | {r['load_s']:.1f} | {r['ttft_s']:.2f} | "
            f"{r['ttft300_s']:.2f} ({r['prompt300']}) | {r['tok_s']:.1f} | {ratio} | {r['tokens']} | {r['ppl']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
