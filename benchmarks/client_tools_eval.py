"""Does the tool decision call a /v1 *client's* tools right? The API's own decision path, scored.

    python benchmarks/client_tools_eval.py [--split dev|test|probe] [--adapters tools,base] [--limit N]

Data: benchmarks/data/client_tool_decisions.jsonl, written by a helper that saw none of the adapter's training data
(README_client_tool_decisions.md): 160 requests over 1-4 client tools (weather, e-mail, calendars, orders, smart
home, …), half of them needing no tool although they talk about a listed tool's topic, or ask for what a tool
would do that is not listed. `probe` is the first eight hand-written cases, kept as a smoke check.

Each row is decided by `ApiService._decide`, as a chat completion with `tools` is: the full decision prompt over the
client's tools, under the client decision grammar, with the `tools` adapter (`tools`) or without it (`base`).
Scores: correct decision (the right tool, or none), false calls on no-tool rows, recall of tool rows, and key
arguments exact after normalisation (strings lowercased and stripped, numbers as floats). Per-row results go to
/tmp/client_tools_eval_<split>_<adapter>.jsonl. ASSISTANT_ADAPTERS_DIR points at another adapter folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO / "benchmarks" / "data" / "client_tool_decisions.jsonl"


def _tool(name: str, description: str, **properties: str) -> dict:
    props = {k: {"type": v} for k, v in properties.items()}
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": props, "required": list(props)}}


WEATHER = _tool("get_weather", "Get the current weather of a city", city="string")
STOCK = _tool("get_stock_price", "Current price of a stock ticker", ticker="string")
EMAIL = _tool("send_email", "Send an email", to="string", body="string")
FX = _tool("convert_currency", "Convert an amount between currencies at today's rate", amount="number",
           **{"from": "string", "to": "string"})
PROBE = [([WEATHER], "What is the weather in Paris right now?", "get_weather", {"city": "Paris"}),
         ([WEATHER], "Is it raining in London?", "get_weather", {"city": "London"}),
         ([WEATHER, STOCK], "How much is AAPL trading at?", "get_stock_price", {"ticker": "AAPL"}),
         ([EMAIL], "Email bob@example.com that I'm late", "send_email", {"to": "bob@example.com"}),
         ([FX], "How much is 100 USD in euros?", "convert_currency", {"amount": 100, "from": "USD", "to": "EUR"}),
         ([WEATHER], "Write a poem about rain", None, {}), ([WEATHER, STOCK], "What is 2+2?", None, {}),
         ([FX], "Why do exchange rates change?", None, {})]


def load_rows(split: str) -> list[dict]:
    if split == "probe":
        return [{"id": f"probe-{i}", "lang": "en", "tools": tools, "history": [], "prompt": prompt, "tool": tool,
                 "args": args} for i, (tools, prompt, tool, args) in enumerate(PROBE, 1)]
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["split"] == split]


def same_value(expected: object, actual: object) -> bool:
    """Exact after normalisation: numbers as floats, strings lowercased and stripped."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, int | float):
        try:
            return abs(float(actual) - float(expected)) < 1e-9  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
    return str(expected).strip().lower() == str(actual).strip().lower()


def evaluate(api, engine, rows: list[dict], adapter: str, split: str) -> dict:  # noqa: ANN001
    settings = api.services.settings
    # "tools": the decision adapters as the app ships them (`tools-client` for a client's tools, else `tools`)
    settings.tools_adapter = "tools" if adapter == "tools" else ""
    settings.client_tools_adapter = "tools-client" if adapter == "tools" else ""
    used = api.services.tools.decision_adapter(client=True)
    if adapter == "tools" and used is None:
        raise SystemExit("the `tools` adapter is missing: run `make adapters` (or build_adapters tools) first")
    print(f"decision adapter for the client's tools: {used or 'none'}", flush=True)
    out = []
    for row in rows:
        started = time.perf_counter()
        call = api._decide(engine, row["tools"], row["history"], row["prompt"], [], "auto", None, None)
        seconds = time.perf_counter() - started
        got, arguments = call if call else ("none", {})
        want = row["tool"] or "none"
        right = got == want
        args_ok = right and all(same_value(v, arguments.get(k)) for k, v in row["args"].items())
        out.append({"id": row["id"], "lang": row["lang"], "follow_up": bool(row["history"]), "want": want,
                    "got": got, "arguments": arguments, "decision_ok": right, "args_ok": args_ok,
                    "seconds": round(seconds, 3)})
    Path(f"/tmp/client_tools_eval_{split}_{adapter}.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in out) + "\n", encoding="utf-8")

    def share(items: list[dict], key: str) -> float:
        return sum(bool(r[key]) for r in items) / len(items) if items else float("nan")

    no_tool = [r for r in out if r["want"] == "none"]
    with_tool = [r for r in out if r["want"] != "none"]
    return {"adapter": adapter, "decision": share(out, "decision_ok"),
            "false_calls": sum(r["got"] != "none" for r in no_tool) / len(no_tool) if no_tool else float("nan"),
            "recall": share(with_tool, "decision_ok"), "args": share(with_tool, "args_ok"),
            "follow_ups": share([r for r in out if r["follow_up"]], "decision_ok"),
            "en": share([r for r in out if r["lang"] == "en"], "decision_ok"),
            "zh": share([r for r in out if r["lang"] == "zh"], "decision_ok"),
            "sec_p50": statistics.median(r["seconds"] for r in out)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=["dev", "test", "probe"])
    parser.add_argument("--adapters", default="tools,base")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()

    from assistant.api.serving import ApiService
    from assistant.config import Settings
    from assistant.services import Services

    api = ApiService(Services(Settings(data_dir=Path("/tmp/bench-client-tools"), auto_index_knowledge=False)))
    engine = api.services.llm
    rows = load_rows(args.split)[: args.limit or None]
    results = [evaluate(api, engine, rows, adapter, args.split) for adapter in args.adapters.split(",")]
    print(f"\nClient-tool decisions on the {args.split} split ({len(rows)} requests), {engine.name} ({engine.kind})\n")
    print("| adapter | correct decision | false calls on no-tool | tool recall | key arguments | follow-ups | "
          "en / zh | s per decision (p50) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['adapter']} | {r['decision']:.1%} | {r['false_calls']:.1%} | {r['recall']:.1%} | "
              f"{r['args']:.1%} | {r['follow_ups']:.1%} | {r['en']:.0%} / {r['zh']:.0%} | {r['sec_p50']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
