"""Does the tool decision call a *client's* tools (the /v1 API's `tools`)? A small probe, not a scored set.

    python benchmarks/client_tools_probe.py [--adapters tools,base]

Eight requests: five for client-style tools (weather, a stock price, e-mail, currencies) and three that need none; each
decided as `ApiServer._decide` does (the non-compact decision prompt under the client decision grammar), once with
the shipped `tools` adapter and once with the base model. ASSISTANT_ADAPTERS_DIR points at another adapter folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WEATHER = {"name": "get_weather", "description": "Get the current weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
STOCK = {"name": "get_stock_price", "description": "Current price of a stock ticker",
         "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}, "required": ["ticker"]}}
EMAIL = {"name": "send_email", "description": "Send an email",
         "parameters": {"type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
                        "required": ["to", "body"]}}
FX = {"name": "convert_currency", "description": "Convert an amount between currencies at today's rate",
      "parameters": {"type": "object", "properties": {"amount": {"type": "number"}, "from": {"type": "string"},
                                                      "to": {"type": "string"}}, "required": ["amount", "from", "to"]}}
CASES = [([WEATHER], "What is the weather in Paris right now?", True), ([WEATHER], "Is it raining in London?", True),
         ([WEATHER, STOCK], "How much is AAPL trading at?", True),
         ([EMAIL], "Email bob@example.com that I'm late", True),
         ([FX], "How much is 100 USD in euros?", True), ([WEATHER], "Write a poem about rain", False),
         ([WEATHER, STOCK], "What is 2+2?", False), ([FX], "Why do exchange rates change?", False)]


def main() -> int:
    from assistant.api.serving import client_decision_schema
    from assistant.config import Settings
    from assistant.llm.base import GenerationParams
    from assistant.services import Services
    from assistant.tools.decision import NO_TOOL, decision_messages, read_decision

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapters", default="tools,base")
    args = parser.parse_args()
    engine = Services(Settings(auto_index_knowledge=False)).llm
    params = GenerationParams(temperature=0.0, max_new_tokens=96, repetition_penalty=1.0)
    for name in args.adapters.split(","):
        adapter = None if name == "base" else name
        right = 0
        for tools, message, wants_call in CASES:
            prompt, _ = engine.build_prompt(decision_messages(tools, [], message, None), 96)
            text, _ = engine.generate(prompt, params, adapter, json_schema=client_decision_schema(tools, False))
            decision = read_decision(text, {t["name"] for t in tools})
            right += (decision.tool != NO_TOOL) == wants_call
            print(f"{name:6} {message[:45]:45} -> {decision.tool} {decision.arguments}")
        print(f"{name}: {right} of {len(CASES)} right\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
