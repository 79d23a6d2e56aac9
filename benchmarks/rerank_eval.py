"""Reranking on look-alike documents: top-1 / top-3 before and after, per split and language, and its cost.

The set (benchmarks/data/lookalike, written apart from this code) has 24 documents in 6 families of 4 look-alikes
and 96 questions, each with its gold document and an evidence sentence. The documents are ingested into a
temporary data dir; each question's hybrid top `--top` chunks are then reranked by each method.

- doc@r: the first chunk from the question's document is at rank ≤ r.
- chunk@r: a chunk holding the evidence sentence (whitespace and markdown emphasis ignored) is at rank ≤ r.
- ms: what the reranker adds per query (p50 / p95), over the search itself.

    PYTHONPATH=. .venv/bin/python benchmarks/rerank_eval.py [--methods off document model both] [--split dev]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config import Settings  # noqa: E402
from assistant.knowledge.rerank import rerank  # noqa: E402
from assistant.knowledge.search import search  # noqa: E402
from assistant.knowledge.service import KnowledgeBase  # noqa: E402

DATA = ROOT / "benchmarks/data/lookalike"


def normalise(text: str) -> str:
    return re.sub(r"\s+", "", re.sub(r"[`*_]", "", text))


def first_rank(hits: list, hit_is_gold) -> int | None:  # noqa: ANN001
    return next((rank for rank, h in enumerate(hits, 1) if hit_is_gold(h)), None)


def summarise(rows: list[dict]) -> dict:
    n = max(len(rows), 1)
    out = {"n": len(rows)}
    for level in ("doc", "chunk"):
        for r in (1, 3):
            out[f"{level}@{r}"] = sum(1 for row in rows if row[level] and row[level] <= r) / n
    return out


def load_engine(engine_kind: str):  # noqa: ANN201
    from assistant.llm.select import load_engine as load

    settings = Settings(engine=engine_kind, data_dir=Path(tempfile.mkdtemp()))
    return load(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["off", "document", "model", "both"])
    parser.add_argument("--split", choices=["dev", "test", "all"], default="all")
    parser.add_argument("--top", type=int, default=10, help="hits reranked (Settings.rerank_top)")
    parser.add_argument("--engine", default="llamacpp", help="engine of the model reranker (llamacpp or torch)")
    parser.add_argument("--knowledge", type=Path, default=DATA / "docs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    questions = [json.loads(line) for line in (DATA / "questions.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    if args.split != "all":
        questions = [q for q in questions if q["split"] == args.split]
    engine = None
    if {"model", "both"} & set(args.methods):
        started = time.perf_counter()
        engine = load_engine(args.engine)
        print(f"model: {engine.name} ({engine.kind}) loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results: dict[str, list[dict]] = {m: [] for m in args.methods}
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(Settings(data_dir=Path(tmp), knowledge_dir=args.knowledge, auto_index_knowledge=False,
                                    rerank="off"))
        kb.settings.ensure_dirs()
        report = kb.sync_folder()
        index = kb.index
        print(f"indexed: {report.summary()} ({len(index)} chunks) in {report.seconds:.1f} s", file=sys.stderr)
        for i, q in enumerate(questions):
            started = time.perf_counter()
            hits = search(index, kb.embeddings, q["question"], k=args.top)
            search_ms = (time.perf_counter() - started) * 1000
            evidence = normalise(q["evidence"])

            def is_doc(h, q=q) -> bool:  # noqa: ANN001
                return Path(h.source).name == q["doc"]

            def has_evidence(h, q=q, evidence=evidence) -> bool:  # noqa: ANN001
                return Path(h.source).name == q["doc"] and evidence in normalise(h.text)

            for method in args.methods:
                started = time.perf_counter()
                ranked = rerank(index, q["question"], hits, method, args.top, engine=engine)
                ms = (time.perf_counter() - started) * 1000
                results[method].append({"id": q["id"], "split": q["split"], "lang": q["lang"],
                                        "family": q["family"], "doc": first_rank(ranked, is_doc),
                                        "chunk": first_rank(ranked, has_evidence), "ms": ms,
                                        "search_ms": search_ms})
            if (i + 1) % 8 == 0:
                print(f"  {i + 1}/{len(questions)} questions", file=sys.stderr)
    groups = [("test", lambda r: r["split"] == "test"), ("dev", lambda r: r["split"] == "dev"),
              ("test en", lambda r: r["split"] == "test" and r["lang"] == "en"),
              ("test zh", lambda r: r["split"] == "test" and r["lang"] == "zh"),
              ("dev en", lambda r: r["split"] == "dev" and r["lang"] == "en"),
              ("dev zh", lambda r: r["split"] == "dev" and r["lang"] == "zh")]
    table = {}
    print("| rerank | questions | n | doc@1 | doc@3 | chunk@1 | chunk@3 | added ms p50 / p95 |")
    print("|---|---|---|---|---|---|---|---|")
    for method, rows in results.items():
        ms = np.array([r["ms"] for r in rows]) if rows else np.zeros(1)
        for name, keep in groups:
            subset = [r for r in rows if keep(r)]
            if not subset:
                continue
            s = summarise(subset)
            table.setdefault(method, {})[name] = s
            timing = f"{np.percentile(ms, 50):.1f} / {np.percentile(ms, 95):.1f}" if name == "test" or (
                name == "dev" and args.split == "dev") else ""
            print(f"| {method} | {name} | {s['n']} | {s['doc@1']:.2f} | {s['doc@3']:.2f} | {s['chunk@1']:.2f} | "
                  f"{s['chunk@3']:.2f} | {timing} |")
    search_ms = np.array([r["search_ms"] for r in next(iter(results.values()))])
    print(f"search itself (hybrid, top {args.top}): p50 {np.percentile(search_ms, 50):.1f} ms, "
          f"p95 {np.percentile(search_ms, 95):.1f} ms")
    if args.json:
        args.json.write_text(json.dumps({"summary": table, "rows": results}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
