"""Chat speed while other work holds cores: fixed llama.cpp threads against threads that follow the free cores.

    python benchmarks/contention.py [--busy 0,1,2] [--tokens 64] [--repeats 2]

For each number of busy neighbours (processes spinning at normal priority, as a training run of another program
would), the same greedy 64-token reply is generated with 1 thread, with every core (llama.cpp's usual setting and
ours before), and with `auto` (ASSISTANT_THREADS=0: `assistant/llm/cpu.py` picks per request). Also with one
neighbour at nice 10, as the app's own job workers run. Prints a table of tokens/s and the threads auto chose.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SPIN = "import os, sys\nos.nice(int(sys.argv[1]))\nwhile True: pass\n"
PROMPT = "Explain what phishing is and how to spot it."


def neighbours(count: int, niceness: int = 0) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", SPIN, str(niceness)]) for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--busy", default="0,1,2", help="numbers of busy neighbours to try")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from assistant.config import Settings
    from assistant.llm.base import GenerationParams, GenerationStats
    from assistant.llm.select import load_engine

    cores = os.cpu_count() or 1
    engines = {}
    for label, threads in (("1 thread", 1), (f"{cores} threads (fixed)", cores), ("auto", 0)):
        settings = Settings(data_dir=tempfile.mkdtemp(), threads=threads, auto_index_knowledge=False)
        engines[label] = load_engine(settings)
    params = GenerationParams(temperature=0.0, max_new_tokens=args.tokens)
    prompt, _ = next(iter(engines.values())).build_prompt([{"role": "user", "content": PROMPT}], args.tokens)
    print(f"{cores} cores; load average before: {os.getloadavg()[0]:.2f}; {args.tokens} greedy tokens per reply")
    print("| neighbours | " + " | ".join(f"{label} tok/s" for label in engines) + " | auto chose |")
    print("|---" * (len(engines) + 2) + "|")
    cases = [(int(n), 0) for n in args.busy.split(",")] + [(1, 10)]
    for count, niceness in cases:
        spinning = neighbours(count, niceness)
        try:
            time.sleep(3.0)  # the auto engine's sampler sees them (it smooths over a few seconds)
            speeds, chose = {}, set()
            for label, engine in engines.items():
                runs = []
                for _ in range(args.repeats):
                    stats = GenerationStats()
                    started = time.perf_counter()
                    for _piece in engine.stream(prompt, params, None, None, stats):
                        pass
                    runs.append(stats.tokens / (time.perf_counter() - started))
                    if label == "auto":
                        chose.add(engine.last_threads)
                speeds[label] = statistics.median(runs)
        finally:
            for process in spinning:
                process.kill()
                process.wait()
        name = f"{count}" + (f" (nice {niceness})" if niceness else "")
        print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in speeds.values()) +
              f" | {', '.join(map(str, sorted(chose)))} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
