"""Retrieval: dense (FAISS cosine), BM25, or both fused by reciprocal rank fusion (the default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assistant.knowledge.embeddings import MiniLMEmbeddings
from assistant.knowledge.index import KnowledgeIndex
from assistant.knowledge.lexical import _IS_CJK, tokenize
from assistant.knowledge.splitting import index_text

Mode = Literal["dense", "bm25", "hybrid"]
MODES = ("dense", "bm25", "hybrid")
RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of the very first ranks
# 'auto' knowledge mode uses a chunk only when it shares half the query's terms, or (for non-Chinese queries,
# where the English embedding model is meaningful) when it is this close in cosine.
MIN_TERM_COVERAGE = 0.5
MIN_COSINE = 0.45


@dataclass
class Hit:
    source: str
    location: str
    score: float  # cosine (dense), BM25 score (bm25) or RRF score (hybrid)
    text: str
    cosine: float = 0.0
    coverage: float = 0.0  # share of the query's distinct terms found in the chunk
    relevant: bool = False  # see is_relevant
    row: int = -1

    def to_dict(self) -> dict:
        return {"source": self.source, "location": self.location, "score": round(self.score, 4), "text": self.text}


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """sum over rankings of 1 / (k + rank), best first."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, 1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: -item[1])


def search(index: KnowledgeIndex, embeddings: MiniLMEmbeddings, query: str, k: int = 4,
           mode: Mode = "hybrid") -> list[Hit]:
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
    query = query.strip()
    if not query or len(index) == 0 or k <= 0:
        return []
    pool = max(k * 5, 50)  # candidates per retriever before fusion
    qvec = embeddings.embed_array([query])[0] if mode != "bm25" else None
    dense = index.dense_search(qvec, pool if mode == "hybrid" else k) if qvec is not None else []
    lexical = index.bm25.search(query, pool if mode == "hybrid" else k) if mode != "dense" else []
    if mode == "dense":
        ranked = dense
    elif mode == "bm25":
        ranked = lexical
    elif is_mostly_cjk(query):
        # MiniLM is English-only: for a Chinese query its ranking is noise that would dilute BM25's (measured in
        # docs/bench_knowledge.md), so hybrid falls back to the lexical ranking there.
        ranked = lexical
    else:
        ranked = reciprocal_rank_fusion([[r for r, _ in dense], [r for r, _ in lexical]])
    cosines = dict(dense)
    query_terms = set(tokenize(query))
    hits = []
    for row, score in ranked[:k]:
        doc = index.chunk(row)
        cosine = cosines.get(row)
        if cosine is None and qvec is not None:
            cosine = float(index.store.index.reconstruct(row) @ qvec)
        terms = set(tokenize(index_text(doc)))
        coverage = len(query_terms & terms) / len(query_terms) if query_terms else 0.0
        hit = Hit(doc.metadata.get("source", "?"), doc.metadata.get("location", ""), float(score),
                  doc.page_content, float(cosine or 0.0), coverage, row=row)
        hit.relevant = is_relevant(hit, query)
        hits.append(hit)
    return hits


def is_mostly_cjk(query: str) -> bool:
    return len(_IS_CJK.findall(query)) / max(len(query), 1) >= 0.3


def is_relevant(hit: Hit, query: str) -> bool:
    """Good enough to put in front of the model when knowledge is 'auto' (the user did not insist)."""
    if hit.coverage >= MIN_TERM_COVERAGE:
        return True
    # MiniLM is English-only: Chinese queries are close to every Chinese chunk, so cosine says nothing there.
    return not is_mostly_cjk(query) and hit.cosine >= MIN_COSINE
