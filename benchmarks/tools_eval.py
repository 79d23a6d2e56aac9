"""Tool-selection and argument accuracy of the default model, with and without the router's help.

    python benchmarks/tools_eval.py [--limit N] [--modes router,model-only]

Reads benchmarks/data/tool_prompts.jsonl ({"prompt", "tool" or null, "args": {checks}, "lang"}) and asks the same
`ToolService.decide` the chat uses. Prints a markdown table; per-prompt rows go to /tmp/tools_eval.jsonl.
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


def check_args(expected: dict, actual: dict) -> bool:
    """Key-argument checks: `<field>_contains`, `expression_value`, else equality (case-insensitive strings)."""
    from assistant.tools.calculator import CalculatorError, evaluate

    for key, want in expected.items():
        if key == "expression_value":
            try:
                if abs(float(evaluate(str(actual.get("expression", "")))) - float(want)) > 1e-6:
                    return False
            except (CalculatorError, ValueError, TypeError):
                return False
        elif key.endswith("_contains"):
            if str(want).lower() not in str(actual.get(key[: -len("_contains")], "")).lower():
                return False
        else:
            got = actual.get(key)
            if isinstance(want, str) and isinstance(got, str):
                if want.lower() != got.lower():
                    return False
            elif isinstance(want, float | int) and isinstance(got, float | int):
                if abs(float(want) - float(got)) > 1e-6:
                    return False
            elif want != got:
                return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--modes", default="router,model-only")
    parser.add_argument("--data", default=str(REPO / "benchmarks/data/tool_prompts.jsonl"))
    args = parser.parse_args()

    from assistant.config import Settings
    from assistant.services import Services

    rows = [json.loads(line) for line in Path(args.data).read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[: args.limit] if args.limit else rows
    settings = Settings(data_dir=Path("/tmp/tools-eval-data"), auto_index_knowledge=False)
    services = Services(settings)
    engine = services.llm
    results = []
    out = open("/tmp/tools_eval.jsonl", "w", encoding="utf-8")  # noqa: SIM115
    for mode in args.modes.split(","):
        tool_ok = args_ok = 0
        by_lang: dict[str, list[int]] = {}
        started = time.perf_counter()
        for row in rows:
            decisions = services.tools.decide(row["prompt"], engine, None, use_router=(mode == "router"))
            chosen = decisions[0] if decisions else None
            name = chosen["name"] if chosen and "error" not in chosen else (chosen["name"] if chosen else None)
            correct_tool = (name or None) == row.get("tool")
            correct_args = correct_tool and (row.get("tool") is None or (
                "arguments" in (chosen or {}) and check_args(row.get("args") or {}, chosen["arguments"])))
            tool_ok += correct_tool
            args_ok += bool(correct_args)
            by_lang.setdefault(row.get("lang", "en"), []).append(int(correct_tool))
            out.write(json.dumps({"mode": mode, **row, "decision": chosen, "tool_ok": correct_tool,
                                  "args_ok": bool(correct_args)}, ensure_ascii=False) + "\n")
        seconds = time.perf_counter() - started
        results.append((mode, len(rows), tool_ok, args_ok, by_lang, seconds))
    out.close()
    print(f"\nTool use on {len(rows)} prompts, model {engine.name} ({engine.loaded.quant}, {engine.loaded.device})\n")
    print("| mode | prompts | correct tool | correct tool + key args | tool acc. en | tool acc. zh | seconds |")
    print("|---|---|---|---|---|---|---|")
    for mode, n, tool_ok, args_ok, by_lang, seconds in results:
        def acc(lang: str, by_lang: dict = by_lang) -> str:
            values = by_lang.get(lang, [])
            return f"{sum(values) / len(values):.0%} ({len(values)})" if values else "n/a"

        print(f"| {mode} | {n} | {tool_ok / n:.0%} ({tool_ok}) | {args_ok / n:.0%} ({args_ok}) | {acc('en')} | "
              f"{acc('zh')} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
