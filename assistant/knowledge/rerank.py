"""Reranking the top search hits so that, among look-alike documents (same template, different facts), the chunk
of the document the question is about comes first.

Hybrid search ranks chunks one by one; a chunk of a release-notes or handbook template says nothing about which
release or office it belongs to when the distinguishing name sits in another chunk of its document (the title, the
introduction). Two rerankers, picked by `Settings.rerank` and compared in docs/bench_knowledge.md:

- "document": among candidates whose documents are look-alikes (their terms overlap by Jaccard ≥ 0.3), each
  whole *document* is matched against the query terms that separate it from its look-alikes (a term found in
  some of them but not all, weighted by how few); that score is fused with the search's own order, and only the
  places held by look-alikes are reordered. No model; about a millisecond.
- "model": the chat model judges each passage (question, document title and passage → log P(yes) − log P(no)),
  all candidates scored in one batch by the engine's `choice_logprobs`. Skipped, leaving the order as it was,
  while no model is loaded or the model is busy with another request.
- "both": the two fused.

`rerank` is called by `KnowledgeBase.search`, which every search path (chat, UI, API, tools) goes through.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections import OrderedDict
from typing import Literal

from assistant.knowledge.lexical import tokenize
from assistant.knowledge.search import Hit
from assistant.knowledge.splitting import index_text

log = logging.getLogger(__name__)

RerankMode = Literal["off", "document", "model", "both"]
RERANK_MODES = ("off", "document", "model", "both")
# Weight of the document score against the search's own order (reciprocal ranks, k = FUSE_K): tuned on the dev
# split of benchmarks/data/lookalike (benchmarks/rerank_eval.py).
DOCUMENT_WEIGHT = 1.5
MODEL_WEIGHT = 0.5  # dev: weight 1–3 made the 0.5B model's judgement pull good orders down
FUSE_K = 5
# Documents count as look-alikes when their term sets overlap this much (Jaccard). Measured: the look-alike set's
# families 0.35–0.80 (mean 0.54), its documents of different families ≤ 0.08, the shipped corpus's ≤ 0.26.
LOOKALIKE_JACCARD = 0.3
MODEL_WAIT_S = 0.05  # how long a search waits for a model busy with another request before skipping the model
PASSAGE_CHARS = 700

JUDGE_SYSTEM = "You judge search results. Answer with yes or no."
JUDGE_PROMPT = (
    "Question: {question}\n\nPassage from \"{title}\" ({source}, {location}):\n{passage}\n\n"
    "Does this passage answer the question? Answer yes or no."
)
YES, NO = ("yes", "Yes"), ("no", "No")  # the first token after the assistant header has no space

_engine_ref: weakref.ref | None = None
_doc_terms: OrderedDict[tuple, frozenset[str]] = OrderedDict()
_doc_terms_lock = threading.Lock()
DOC_TERMS_CACHE = 512


def register_engine(engine: object | None) -> None:
    """The loaded chat model, for the "model" reranker (set by Services when the model has loaded)."""
    global _engine_ref
    _engine_ref = weakref.ref(engine) if engine is not None else None


def current_engine() -> object | None:
    engine = _engine_ref() if _engine_ref is not None else None
    return engine if engine is not None and hasattr(engine, "choice_logprobs") else None


def rerank(index, query: str, hits: list[Hit], mode: RerankMode = "document", top: int = 10,  # noqa: ANN001
           engine: object | None = None) -> list[Hit]:
    """`hits` (best first) with the first `top` reordered; the rest keep their places."""
    if mode == "off" or len(hits) < 2 or top < 2:
        return hits
    if mode not in RERANK_MODES:
        raise ValueError(f"unknown rerank mode {mode!r}; use one of {', '.join(RERANK_MODES)}")
    head, tail = hits[:top], hits[top:]
    rankings = [list(range(len(head)))]  # the search's own order
    weights = [1.0]
    if mode in ("document", "both"):
        scores = document_scores(index, query, head)
        if any(scores):
            rankings.append(_order(scores))
            weights.append(DOCUMENT_WEIGHT)
    if mode in ("model", "both"):
        scores = model_scores(index, query, head, engine or current_engine())
        if scores is not None:
            rankings.append(_order(scores))
            weights.append(MODEL_WEIGHT)
    if len(rankings) == 1:
        return hits
    fused = [0.0] * len(head)
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, i in enumerate(ranking, 1):
            fused[i] += weight / (FUSE_K + rank)
    order = _order(fused)
    if mode == "document":
        # The document signal only tells look-alikes apart: hits of other documents keep their places, and the
        # places held by look-alikes are refilled in the fused order.
        movable = {i for i, alike in enumerate(has_lookalike(index, head)) if alike}
        refill = iter(i for i in order if i in movable)
        order = [next(refill) if i in movable else i for i in range(len(head))]
    return [head[i] for i in order] + tail


def has_lookalike(index, hits: list[Hit]) -> list[bool]:  # noqa: ANN001
    """Per hit: does its document have a look-alike among the candidates?"""
    members = {s for g in lookalike_groups(index, list(dict.fromkeys(h.source for h in hits))) for s in g}
    return [h.source in members for h in hits]


def _order(scores: list[float]) -> list[int]:
    """Indices best first; ties keep the search's order."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


# --- document: the query terms that tell the candidate documents apart -----------------------------------------
def document_terms(index, source: str) -> frozenset[str]:  # noqa: ANN001 - KnowledgeIndex
    """Terms of a whole indexed document (every chunk with its file and section names), cached per version."""
    key = (id(index), index.version, source)
    with _doc_terms_lock:
        if key in _doc_terms:
            _doc_terms.move_to_end(key)
            return _doc_terms[key]
    entry = index.files.get(source)
    docstore = index.store.docstore
    texts = [source]
    for chunk_id in entry.chunk_ids if entry else []:
        doc = docstore.search(chunk_id)
        if hasattr(doc, "page_content"):
            texts.append(index_text(doc))
    terms = frozenset(tokenize("\n".join(texts)))
    with _doc_terms_lock:
        _doc_terms[key] = terms
        while len(_doc_terms) > DOC_TERMS_CACHE:
            _doc_terms.popitem(last=False)
    return terms


def lookalike_groups(index, sources: list[str]) -> list[list[str]]:  # noqa: ANN001
    """The candidate documents in groups of look-alikes: documents whose term sets overlap by a Jaccard index of
    at least LOOKALIKE_JACCARD, joined transitively. Documents without a look-alike are left out."""
    terms = {s: document_terms(index, s) for s in sources}
    parent = {s: s for s in sources}

    def root(s: str) -> str:
        while parent[s] != s:
            s = parent[s]
        return s

    for i, a in enumerate(sources):
        for b in sources[i + 1 :]:
            union = len(terms[a] | terms[b])
            if union and len(terms[a] & terms[b]) / union >= LOOKALIKE_JACCARD:
                parent[root(b)] = root(a)
    groups: dict[str, list[str]] = {}
    for s in sources:
        groups.setdefault(root(s), []).append(s)
    return [g for g in groups.values() if len(g) > 1]


def document_scores(index, query: str, hits: list[Hit]) -> list[float]:  # noqa: ANN001
    """Per hit: within its group of look-alike documents (D of them), the summed weight log(D / df) of the query
    terms its document holds, over the terms held by some but not all of the group (a term every look-alike has
    cannot tell them apart). A hit whose document has no look-alike among the candidates scores 0."""
    query_terms = set(tokenize(query))
    sources = list(dict.fromkeys(h.source for h in hits))
    if len(sources) < 2 or not query_terms:
        return [0.0] * len(hits)
    by_source = {s: 0.0 for s in sources}
    for group in lookalike_groups(index, sources):
        terms = {s: document_terms(index, s) for s in group}
        for term in query_terms:
            holders = [s for s in group if term in terms[s]]
            if 0 < len(holders) < len(group):
                weight = math.log(len(group) / len(holders))
                for s in holders:
                    by_source[s] += weight
    return [by_source[h.source] for h in hits]


# --- model: the chat model's yes/no judgement ------------------------------------------------------------------
def document_title(index, source: str) -> str:  # noqa: ANN001
    """The first chunk's section name (a markdown title), else the file name."""
    entry = index.files.get(source)
    if entry and entry.chunk_ids:
        doc = index.store.docstore.search(entry.chunk_ids[0])
        location = getattr(doc, "metadata", {}).get("location", "")
        if location.startswith("section: "):
            return location.removeprefix("section: ")
    return source.rsplit("/", 1)[-1]


def judge_prompts(engine, index, query: str, hits: list[Hit]) -> list[str]:  # noqa: ANN001
    prompts = []
    for hit in hits:
        user = JUDGE_PROMPT.format(question=query.strip(), title=document_title(index, hit.source),
                                   source=hit.source, location=hit.location, passage=hit.text[:PASSAGE_CHARS])
        messages = [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]
        prompts.append(engine.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    return prompts


def model_scores(index, query: str, hits: list[Hit], engine: object | None) -> list[float] | None:  # noqa: ANN001
    """log P(yes) − log P(no) per hit, or None when no model can judge now (not loaded, busy, failed)."""
    if engine is None or not hasattr(engine, "choice_logprobs"):
        return None
    from assistant.llm.base import MODEL_LOCK

    if not MODEL_LOCK.acquire(timeout=MODEL_WAIT_S):
        return None  # another request is decoding: keep the search's order rather than wait for it
    try:
        rows = engine.choice_logprobs(judge_prompts(engine, index, query, hits), list(YES + NO))
    except Exception as exc:  # noqa: BLE001 - reranking must never break a search
        log.warning("rerank: model scoring failed (%s: %s); order left as searched", type(exc).__name__, exc)
        return None
    finally:
        MODEL_LOCK.release()
    n = len(YES)
    return [_logsumexp(row[:n]) - _logsumexp(row[n:]) for row in rows]


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
