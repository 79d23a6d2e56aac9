"""How much of each held-out reply is pasted from the shipped documents? Reads a `feedback_loop.py --out` file.

    python benchmarks/feedback_copying.py /tmp/s22/fl50/out.json

A reply's copied share (`citations.pasted_share`, what the evaluation gate counts) is the fraction of its words (a
Chinese character counts as one) inside an 8-word span that appears verbatim in `knowledge/`, after citation
markers and copied source lines are removed; at 50 % or more it is "pasted". The `cites` user likes
any cited answer with four words of its own; an adapter can meet that by pasting the retrieved passage under "[1]"
instead of answering (bench_feedback.md, twenty-second session): this is how to see it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", help="a feedback_loop.py --out file (with heldout_replies)")
    args = parser.parse_args()
    from assistant.knowledge.citations import PASTED, pasted_share, word_spans

    spans = word_spans([p.read_text(encoding="utf-8") for p in (REPO / "knowledge").rglob("*.md")])
    for run in json.loads(Path(args.out).read_text()):
        grounded = [r for r in run["heldout_replies"] if r["sources"]]
        print(f"{run['user']} ({run['adapter']}): {len(grounded)} held-out replies with sources")
        for when in ("before", "after"):
            shares = [pasted_share(r[when], spans) for r in grounded]
            liked = [s for s, r in zip(shares, grounded, strict=True) if r[f"liked_{when}"]]
            print(f"  {when:6}: mean copied share {statistics.mean(shares):.2f}; pasted (≥ {PASTED:.0%}) "
                  f"{sum(s >= PASTED for s in shares)}; liked {len(liked)}, of them pasted "
                  f"{sum(s >= PASTED for s in liked)}")


if __name__ == "__main__":
    main()
