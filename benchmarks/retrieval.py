"""Retrieval speed: index build time and query latency (p50/p95, query embedding included) at 10k and 100k chunks.

Chunks are synthetic: text drawn from an English + Chinese vocabulary (for BM25) and vectors drawn around 2,000
cluster centres (real document embeddings are clustered; uniform random vectors are a needlessly hard case for
HNSW). Embedding 100k real chunks would take ~10 minutes on 2 cores, so embedding throughput is measured apart
on 256 real chunks and reported per chunk. Queries are embedded for real by the packaged MiniLM model.

    .venv/bin/python benchmarks/retrieval.py --sizes 10000 100000 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.documents import Document  # noqa: E402

from assistant.knowledge.embeddings import DIM, MiniLMEmbeddings  # noqa: E402
from assistant.knowledge.index import FileEntry, KnowledgeIndex  # noqa: E402
from assistant.knowledge.search import search  # noqa: E402

_EN = ("adapter lora rank alpha quantization int8 nf4 gguf vae gan discriminator generator latent kl divergence "
         "reward model preference dpo kto rlhf chain thought retrieval bm25 faiss index chunk embedding tokenizer "
         "learning rate batch epoch checkpoint upload knowledge tab train sample grid loss diffusion noise schedule "
         "masked patch encoder decoder attention token context window prompt system answer source citation")
_ZH = "量化 适配器 训练 损失 生成器 判别器 编码器 解码器 奖励 模型 偏好 检索 索引 向量 知识 上传 采样 噪声 潜在"
WORDS, ZH = _EN.split(), _ZH.split()


def synthetic_chunks(n: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    texts = []
    for i in range(n):
        words = list(rng.choice(WORDS, size=60)) + list(rng.choice(ZH, size=10)) + [f"id{i}", f"v{i % 997}.{i % 13}"]
        texts.append(" ".join(words))
    centres = rng.standard_normal((2000, DIM)).astype("float32")
    vectors = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, DIM)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return texts, vectors


def build(root: Path, texts: list[str], vectors: np.ndarray, embeddings: MiniLMEmbeddings,
          per_file: int = 1000) -> tuple[KnowledgeIndex, float, float]:
    """Add the chunks as files of `per_file` chunks; return the index, build seconds and save seconds."""
    index = KnowledgeIndex(root, embeddings)
    added = []
    for start in range(0, len(texts), per_file):
        source = f"synthetic/{start // per_file:04d}.md"
        docs = [Document(page_content=t, metadata={"source": source, "location": f"section {j}", "chunk": j})
                for j, t in enumerate(texts[start : start + per_file])]
        entry = FileEntry(source, source, "0" * 64, 0, "markdown", [uuid.uuid4().hex for _ in docs], time.time())
        added.append((entry, docs, vectors[start : start + per_file]))
    started = time.perf_counter()
    index.apply([], added)
    index.bm25._weights()  # noqa: SLF001 - build the BM25 weights now, not inside the first query
    built = time.perf_counter() - started
    started = time.perf_counter()
    index.save()
    return index, built, time.perf_counter() - started


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q) * 1000)


def run(size: int, embeddings: MiniLMEmbeddings, queries: list[str], rng: np.random.Generator) -> dict:
    texts, vectors = synthetic_chunks(size, rng)
    with tempfile.TemporaryDirectory() as tmp:
        index, build_s, save_s = build(Path(tmp), texts, vectors, embeddings)
        started = time.perf_counter()
        loaded = KnowledgeIndex(Path(tmp), embeddings).load()
        load_s = time.perf_counter() - started
        row = {"chunks": size, "faiss_index": type(loaded.store.index).__name__, "build_s": round(build_s, 2),
               "save_s": round(save_s, 2), "load_s": round(load_s, 2)}
        for mode in ("dense", "bm25", "hybrid"):
            for q in queries[:5]:  # warm-up
                search(loaded, embeddings, q, 5, mode)
            samples = []
            for q in queries:
                t = time.perf_counter()
                search(loaded, embeddings, q, 5, mode)
                samples.append(time.perf_counter() - t)
            row[f"{mode}_p50_ms"] = round(percentile_ms(samples, 50), 2)
            row[f"{mode}_p95_ms"] = round(percentile_ms(samples, 95), 2)
        # What HNSW loses against exact search. Queries are near stored vectors (as real questions are near their
        # answers); the MiniLM query vectors above are unrelated to the synthetic space, so all their neighbours
        # tie and recall against them says nothing.
        picks = rng.integers(0, size, 50)
        qv = vectors[picks] + 0.3 * rng.standard_normal((50, DIM)).astype("float32")
        qv /= np.linalg.norm(qv, axis=1, keepdims=True)
        truth = np.argsort(-(vectors @ qv.T), axis=0)[:10].T
        faiss_index = loaded.store.index
        for ef in (64, 128, 256) if hasattr(faiss_index, "hnsw") else (None,):
            if ef:
                faiss_index.hnsw.efSearch = ef
            t = time.perf_counter()
            _, found = faiss_index.search(qv, 10)
            per_query_ms = (time.perf_counter() - t) / len(qv) * 1000
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=True)])
            row[f"recall@10_vs_exact_ef{ef or 'exact'}"] = round(float(recall), 3)
            row[f"faiss_ms_ef{ef or 'exact'}"] = round(per_query_ms, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch/faiss threads; 1 is fastest for one short query, and on a busy 2-core machine "
                             "2 threads stall each other (see docs/bench_knowledge.md)")
    args = parser.parse_args()
    import faiss
    import torch

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    embeddings = MiniLMEmbeddings()
    queries = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 7)))) for _ in range(args.queries)]
    queries[::4] = ["".join(rng.choice(ZH, size=2)) for _ in queries[::4]]  # a quarter in Chinese
    sample, _ = synthetic_chunks(256, rng)
    embeddings.embed_array(sample[:32])
    started = time.perf_counter()
    embeddings.embed_array(sample)
    per_chunk_ms = (time.perf_counter() - started) / len(sample) * 1000
    results = {"threads": args.threads, "embed_ms_per_chunk": round(per_chunk_ms, 2), "runs": []}
    print(f"embedding: {per_chunk_ms:.1f} ms per ~70-word chunk (batch 32)")
    for size in args.sizes:
        row = run(size, embeddings, queries, rng)
        results["runs"].append(row)
        print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
