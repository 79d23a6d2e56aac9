"""Retrieval quality on the shipped corpus: recall@1, recall@5 and MRR of dense, BM25 and hybrid, per language.

A question counts as answered at rank r when the r-th retrieved chunk comes from the document the eval set names.
BM25 is also run with two other Chinese tokenizations (whole CJK runs as one term, bigrams + unigrams) to show
what the bigram choice buys; and the mean cosine between unrelated chunks shows how crowded MiniLM's Chinese is.

    .venv/bin/python benchmarks/retrieval_eval.py [--eval benchmarks/data/retrieval_eval.jsonl] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config import Settings  # noqa: E402
from assistant.knowledge.lexical import _IS_CJK, BM25Index  # noqa: E402
from assistant.knowledge.search import is_mostly_cjk, reciprocal_rank_fusion  # noqa: E402
from assistant.knowledge.service import KnowledgeBase  # noqa: E402
from assistant.knowledge.splitting import index_text  # noqa: E402

DEPTH = 20  # ranks looked at for MRR


def doc_rank(rows: list[int], sources: list[str], target: str) -> int | None:
    """1-based rank of the first chunk of `target` among `rows` (None when not in the first DEPTH)."""
    for rank, row in enumerate(rows[:DEPTH], 1):
        if sources[row] == target:
            return rank
    return None


def metrics(ranks: list[int | None]) -> dict:
    n = max(len(ranks), 1)
    return {"n": len(ranks), "recall@1": sum(1 for r in ranks if r == 1) / n,
            "recall@5": sum(1 for r in ranks if r and r <= 5) / n, "mrr": sum(1 / r for r in ranks if r) / n}


def mean_unrelated_cosine(vectors: np.ndarray, sources: list[str], rng: np.random.Generator) -> float:
    """Mean cosine between chunks of different documents (random pairs)."""
    if len(vectors) < 2:
        return float("nan")
    a, b = rng.integers(0, len(vectors), 4000), rng.integers(0, len(vectors), 4000)
    keep = [i for i in range(len(a)) if sources[a[i]] != sources[b[i]]]
    if not keep:
        return float("nan")
    return float(np.mean(np.sum(vectors[a[keep]] * vectors[b[keep]], axis=1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=ROOT / "benchmarks/data/retrieval_eval.jsonl")
    parser.add_argument("--knowledge", type=Path, default=ROOT / "knowledge")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--rerank", default="document", help="Settings.rerank for the shipped search's row")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    questions = [json.loads(line) for line in args.eval.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(Settings(data_dir=Path(tmp), knowledge_dir=args.knowledge, auto_index_knowledge=False,
                                    rerank=args.rerank))
        kb.settings.ensure_dirs()
        report = kb.sync_folder()
        print(f"indexed: {report.summary()} ({len(kb.index)} chunks) in {report.seconds:.1f} s", file=sys.stderr)
        for error in report.errors:
            print(f"  {error.message}", file=sys.stderr)
        index = kb.index
        n = len(index)
        docs = [index.chunk(i) for i in range(n)]
        sources = [d.metadata["source"].removeprefix("knowledge/") for d in docs]
        texts = [index_text(d) for d in docs]
        bm25 = {}
        for scheme in ("bigrams", "runs", "bigrams+unigrams"):
            bm25[scheme] = BM25Index(cjk=scheme)
            bm25[scheme].add(texts)
        vectors = index.store.index.reconstruct_n(0, n)
        zh_rows = [i for i, t in enumerate(docs) if len(_IS_CJK.findall(t.page_content)) > 0.3 * len(t.page_content)]
        en_rows = [i for i in range(n) if i not in set(zh_rows)]
        rng = np.random.default_rng(0)
        crowding = {lang: mean_unrelated_cosine(vectors[rows], [sources[i] for i in rows], rng)
                    for lang, rows in (("en", en_rows), ("zh", zh_rows)) if rows}

        known = set(sources)
        ranks: dict[str, dict[str, list]] = {}
        for q in questions:
            qvec = kb.embeddings.embed_array([q["question"]])[0]
            dense = [r for r, _ in index.dense_search(qvec, DEPTH * 5)]
            lexical = {s: [r for r, _ in b.search(q["question"], DEPTH * 5)] for s, b in bm25.items()}
            runs = {
                "dense": dense,
                "bm25": lexical["bigrams"],
                # what KnowledgeBase.search(mode="hybrid") does: RRF, except BM25 alone for Chinese queries
                "hybrid (shipped)": lexical["bigrams"] if is_mostly_cjk(q["question"]) else
                [r for r, _ in reciprocal_rank_fusion([dense, lexical["bigrams"]])],
                "hybrid (plain RRF)": [r for r, _ in reciprocal_rank_fusion([dense, lexical["bigrams"]])],
                "bm25 (CJK runs as words)": lexical["runs"],
                "bm25 (bigrams+unigrams)": lexical["bigrams+unigrams"],
                "hybrid (CJK runs as words)": [r for r, _ in reciprocal_rank_fusion([dense, lexical["runs"]])],
            }
            # the shipped search (hybrid, then the document reranker of Settings.rerank over its top 10)
            top = [h.row for h in kb.search(q["question"], k=DEPTH)]
            runs["hybrid + rerank (shipped)"] = top + [r for r in runs["hybrid (shipped)"] if r not in set(top)]
            target = q["source"].removeprefix("knowledge/")
            if target not in known:  # the set may name files by base name only
                target = next((src for src in known if Path(src).name == Path(target).name), target)
            for name, rows in runs.items():
                for lang in (q.get("lang", "en"), "all"):
                    ranks.setdefault(name, {}).setdefault(lang, []).append(doc_rank(rows, sources, target))
        missing = sorted(q["source"] for q in questions if q["source"].removeprefix("knowledge/") not in known
                         and Path(q["source"]).name not in {Path(src).name for src in known})
    table = {name: {lang: metrics(r) for lang, r in by_lang.items()} for name, by_lang in ranks.items()}
    langs = [lang for lang in ("en", "zh", "all") if lang in table["dense"]]
    lines = ["| retriever | " + " | ".join(f"{lang} R@1 | {lang} R@5 | {lang} MRR" for lang in langs) + " |",
             "|---|" + "---|" * (3 * len(langs))]
    for name, by_lang in table.items():
        cells = [f"{by_lang[lang]['recall@1']:.2f} | {by_lang[lang]['recall@5']:.2f} | {by_lang[lang]['mrr']:.2f}"
                 for lang in langs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    counts = ", ".join(f"{lang}: {table['dense'][lang]['n']}" for lang in langs)
    print(f"questions: {counts}; chunks: {n}; documents: {len(set(sources))}")
    print("\n".join(lines))
    print("mean cosine between chunks of different documents: "
          + ", ".join(f"{lang} {value:.3f}" for lang, value in crowding.items()))
    if missing:
        print(f"warning: eval sources not in the index: {missing}")
    if args.json:
        args.json.write_text(json.dumps({"metrics": table, "unrelated_cosine": crowding, "chunks": n,
                                         "missing": missing}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
