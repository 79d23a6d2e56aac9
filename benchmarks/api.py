"""Benchmark the OpenAI-compatible API: streaming overhead against the engine itself, and concurrent clients.

    python benchmarks/api.py                                  # start the app (llama.cpp) on a free port, both parts
    python benchmarks/api.py --clients 4 --seconds 60         # the load part smaller
    python benchmarks/api.py --url http://gpu-box:8000/v1 --key KEY --model MODEL --skip-engine   # any server

1. Overhead: tokens/s of one greedy reply streamed through /v1/chat/completions, against the same prompt streamed
   by the engine in this process (`engine.stream`, no HTTP). Goal: API >= 0.95x engine. The runs alternate (never
   both at once: they would share the CPU), so a change in the machine's load hits both sides alike.
2. Load: N clients stream chat completions back to back for a bounded time (it stops by itself); reports requests,
   failures, 429s (queue full: the bounded queue answers instead of hanging), p50/p95 time to first token.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUESTION = "Explain in a few sentences what a LoRA adapter is."
GRACE_S = 60.0  # how long the load part waits for requests still running at its end


def stream_chat(client: httpx.Client, model: str, max_tokens: int, question: str = QUESTION) -> dict:
    """One streamed chat completion: status, time to first content, token count and decode tokens/s."""
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    started = time.perf_counter()
    first = last = None
    tokens = 0
    with client.stream("POST", "/chat/completions", json=body) as response:
        if response.status_code != 200:
            response.read()
            return {"status": response.status_code, "error": response.text[:200]}
        for line in response.iter_lines():
            if not line.startswith("data:") or line.strip() == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            if "error" in chunk:
                return {"status": 200, "error": chunk["error"]["message"]}
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            for choice in chunk.get("choices", []):
                if choice.get("delta", {}).get("content"):
                    now = time.perf_counter()
                    first = first or now
                    last = now
    ttft = (first - started) if first else None
    decode = (last - first) if first and last else 0.0
    return {"status": 200, "ttft": ttft, "tokens": tokens, "seconds": time.perf_counter() - started,
            "tokens_per_s": (tokens - 1) / decode if tokens > 1 and decode > 0 else 0.0}


def local_engine(max_tokens: int):  # noqa: ANN201 - (engine run function)
    """The same prompt through the engine in this process (what ChatEngine builds): returns run() -> tokens/s."""
    from assistant.config import Settings
    from assistant.llm.base import GenerationParams, GenerationStats
    from assistant.llm.select import load_engine

    settings = Settings(engine="llamacpp", auto_index_knowledge=False,
                        data_dir=Path(tempfile.mkdtemp(prefix="bench-api-engine-")))
    engine = load_engine(settings)
    messages = [{"role": "system", "content": settings.system_prompt}, {"role": "user", "content": QUESTION}]
    prompt, _ = engine.build_prompt(messages, max_tokens)
    params = GenerationParams(temperature=0.0, max_new_tokens=max_tokens,
                              repetition_penalty=settings.repetition_penalty)

    def run() -> float:
        stats = GenerationStats()
        for _piece in engine.stream(prompt, params, None, None, stats):
            pass
        return stats.tokens_per_second

    return run


def start_server(port: int, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_PORT": str(port),
           "ASSISTANT_ENGINE": "llamacpp", "ASSISTANT_AUTO_INDEX_KNOWLEDGE": "false",
           "ASSISTANT_CHAT_RATE_PER_MINUTE": "0"}  # a throughput benchmark: no per-user chat rate limit
    log = open(data_dir.parent / "app.log", "w")  # noqa: SIM115 - lives as long as the server
    return subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(client: httpx.Client, model: str, proc: subprocess.Popen | None, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("the app exited; see its app.log")
        try:
            if client.post("/completions", json={"model": model, "prompt": "Hi", "max_tokens": 1}).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError("the server did not become ready")


def load_test(url: str, headers: dict, model: str, clients: int, seconds: float, max_tokens: int) -> dict:
    deadline = time.time() + seconds
    results: list[dict] = []
    lock = threading.Lock()  # guards results

    def client_loop(i: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(300, connect=10)) as client:
            while time.time() < deadline:
                try:
                    outcome = stream_chat(client, model, max_tokens, f"{QUESTION} (client {i})")
                except httpx.HTTPError as exc:
                    outcome = {"status": 0, "error": f"{type(exc).__name__}: {exc}"}
                with lock:
                    results.append(outcome)
                if outcome["status"] == 429:
                    time.sleep(1.0)  # what a polite client does with Retry-After

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:  # requests still running GRACE_S after the end are not waited for (counted as unfinished)
        t.join(timeout=max(0.0, deadline + GRACE_S - time.time()))
    wall = time.perf_counter() - started
    unfinished = sum(t.is_alive() for t in threads)
    ok = [r for r in results if r["status"] == 200 and "error" not in r]
    ttfts = sorted(r["ttft"] for r in ok if r.get("ttft") is not None)

    def pct(q: float) -> float | None:
        return round(ttfts[min(len(ttfts) - 1, int(q * len(ttfts)))], 3) if ttfts else None

    return {"clients": clients, "seconds": round(wall, 1), "requests": len(results), "ok": len(ok),
            "status_429": sum(r["status"] == 429 for r in results), "unfinished_at_end": unfinished,
            "failed": sum(r not in ok and r["status"] != 429 for r in results),
            "ttft_p50_s": pct(0.5), "ttft_p95_s": pct(0.95),
            "tokens_per_s_total": round(sum(r["tokens"] for r in ok) / wall, 2) if wall else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="an API to measure (default: start the app on a free port)")
    parser.add_argument("--key", default=os.environ.get("ASSISTANT_API_KEY", "none"))
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--max-tokens", type=int, default=128, help="reply length for the overhead part")
    parser.add_argument("--runs", type=int, default=3, help="overhead: measured runs each (after one warm-up)")
    parser.add_argument("--clients", type=int, default=8, help="load part: concurrent clients (0: skip it)")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--load-max-tokens", type=int, default=64)
    parser.add_argument("--skip-engine", action="store_true", help="no in-process engine run (remote servers)")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/api.json"))
    args = parser.parse_args(argv)

    report: dict = {"model": args.model, "max_tokens": args.max_tokens, "cpu_count": os.cpu_count()}
    proc = None
    url = args.url
    if url is None:
        from tests.app_server import free_port

        port = free_port()
        root = Path(tempfile.mkdtemp(prefix="bench-api-"))
        proc = start_server(port, root / "data")
        url = f"http://127.0.0.1:{port}/v1"
    headers = {"Authorization": f"Bearer {args.key}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
            wait_ready(client, args.model, proc)
            engine_run = None if args.skip_engine else local_engine(args.max_tokens)
            stream_chat(client, args.model, args.max_tokens)  # warm-up of both
            if engine_run is not None:
                engine_run()
            # interleaved, so a change in the machine's load hits both sides alike
            api_runs, engine_runs = [], []
            for _ in range(args.runs):
                api_runs.append(stream_chat(client, args.model, args.max_tokens))
                if engine_run is not None:
                    engine_runs.append(engine_run())
        report["api"] = {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in api_runs),
                         "runs": [round(r["tokens_per_s"], 2) for r in api_runs],
                         "ttft_s": [round(r["ttft"], 3) for r in api_runs], "tokens": api_runs[-1]["tokens"]}
        print(f"api (streamed): {report['api']['tokens_per_s']:.1f} tokens/s", flush=True)
        if engine_runs:
            report["engine"] = {"tokens_per_s": statistics.median(engine_runs),
                                "runs": [round(x, 2) for x in engine_runs]}
            report["ratio"] = round(report["api"]["tokens_per_s"] / report["engine"]["tokens_per_s"], 3)
            print(f"engine: {report['engine']['tokens_per_s']:.1f} tokens/s; ratio api/engine: "
                  f"{report['ratio']:.3f} (goal >= 0.95)", flush=True)
        if args.clients > 0:
            report["load"] = load_test(url, headers, args.model, args.clients, args.seconds, args.load_max_tokens)
            print(json.dumps(report["load"], indent=2), flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
