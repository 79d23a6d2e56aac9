"""BM25 over a scipy sparse matrix: words for Latin text, overlapping character bigrams for Chinese/Japanese/Korean.

Why bigrams: Chinese has no spaces and we ship no word segmenter; overlapping bigrams (as Lucene's CJKAnalyzer
does) match most two-character words and names without a dictionary. Why a sparse matrix: a query touches only
the rows of its few terms, so one search at 100k chunks costs about a millisecond, where a pure-Python BM25 loops
over every document.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import numpy as np
from scipy import sparse

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[0-9a-z]+(?:[._+\-][0-9a-z]+)*")
_IS_CJK = re.compile(rf"[{_CJK}]")
_STOP = "a an and are as at be by can do does for from how i in is it its me my of on or so that the this to was what"
STOPWORDS = frozenset(_STOP.split(" ") + ["when", "where", "which", "who", "why", "will", "with", "you", "your"])


def _stem(word: str) -> str:
    """Plural 's' only: 'adapters' finds 'adapter' while names and numbers stay exact."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")) and word.isalpha():
        return word[:-1]
    return word


def tokenize(text: str, cjk: str = "bigrams") -> list[str]:
    """Terms of `text`: lower-cased words (and the parts of 'max_upload_mb', 'qwen2.5-0.5b'), CJK bigrams.

    `cjk` picks the Chinese scheme (compared in benchmarks/retrieval_eval.py): "bigrams" (the default; a lone
    character stays a unigram), "bigrams+unigrams", or "runs" (a whole run of CJK characters is one term, which
    is what a plain word tokenizer does to unsegmented Chinese).
    """
    terms: list[str] = []
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).lower()):
        token = match.group()
        if _IS_CJK.match(token):
            if cjk == "runs":
                terms.append(token)
                continue
            if len(token) == 1 or cjk == "bigrams+unigrams":
                terms.extend(token)
            terms.extend(token[i : i + 2] for i in range(len(token) - 1))
            continue
        if token in STOPWORDS:
            continue
        terms.append(_stem(token))
        parts = re.split(r"[._+\-]", token)
        if len(parts) > 1:
            terms.extend(_stem(p) for p in parts if p and p not in STOPWORDS)
    return terms


class BM25Index:
    """Okapi BM25. Rows are chunks in index order; `tf` is kept so rows can be added and removed incrementally."""

    def __init__(self, vocab: dict[str, int] | None = None, tf: sparse.csr_matrix | None = None,
                 k1: float = 1.2, b: float = 0.75, cjk: str = "bigrams") -> None:
        self.vocab = vocab or {}
        self.cjk = cjk  # see tokenize; only the default is persisted
        self.tf = tf if tf is not None else sparse.csr_matrix((0, len(self.vocab)), dtype=np.float32)
        self.k1, self.b = k1, b
        self._weights_t: sparse.csr_matrix | None = None

    def __len__(self) -> int:
        return self.tf.shape[0]

    # --- building -----------------------------------------------------------------------------
    def add(self, texts: list[str]) -> None:
        """Append one row per text."""
        rows, cols, vals = [], [], []
        for r, text in enumerate(texts):
            counts: dict[int, int] = {}
            for term in tokenize(text, self.cjk):
                tid = self.vocab.setdefault(term, len(self.vocab))
                counts[tid] = counts.get(tid, 0) + 1
            rows += [r] * len(counts)
            cols += list(counts)
            vals += list(counts.values())
        new = sparse.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)),
                                shape=(len(texts), len(self.vocab)))
        old = self.tf
        old.resize((old.shape[0], len(self.vocab)))  # the vocabulary may have grown
        self.tf = sparse.vstack([old, new], format="csr", dtype=np.float32)
        self._weights_t = None

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where `mask` is False (deleted chunks)."""
        self.tf = self.tf[np.flatnonzero(mask)]
        self._weights_t = None

    def _weights(self) -> sparse.csr_matrix:
        """Terms x chunks matrix of BM25 term weights, built lazily after each change."""
        if self._weights_t is None:
            tf = self.tf.tocsr()
            n = max(tf.shape[0], 1)
            doc_len = np.asarray(tf.sum(axis=1)).ravel()
            avg = doc_len.mean() if doc_len.size and doc_len.mean() > 0 else 1.0
            df = np.bincount(tf.indices, minlength=tf.shape[1])
            idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
            norm = self.k1 * (1 - self.b + self.b * doc_len / avg)
            row_of = np.repeat(np.arange(tf.shape[0]), np.diff(tf.indptr))
            data = tf.data * (self.k1 + 1) / (tf.data + norm[row_of]) * idf[tf.indices]
            weights = sparse.csr_matrix((data.astype(np.float32), tf.indices, tf.indptr), shape=tf.shape)
            self._weights_t = weights.T.tocsr()
        return self._weights_t

    # --- searching ----------------------------------------------------------------------------
    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row (dense, length len(self))."""
        ids: dict[int, float] = {}
        for term in tokenize(query, self.cjk):
            tid = self.vocab.get(term)
            if tid is not None:
                ids[tid] = ids.get(tid, 0.0) + 1.0
        if not ids or len(self) == 0:
            return np.zeros(len(self), dtype=np.float32)
        rows = self._weights()[list(ids)]
        return np.asarray(rows.T @ np.fromiter(ids.values(), dtype=np.float32, count=len(ids))).ravel()

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-k (row, score) with score > 0, best first."""
        scores = self.scores(query)
        hit = np.flatnonzero(scores > 0)
        if hit.size == 0:
            return []
        if hit.size > k:
            hit = hit[np.argpartition(-scores[hit], k - 1)[:k]]
        order = hit[np.argsort(-scores[hit], kind="stable")]
        return [(int(i), float(scores[i])) for i in order]

    # --- persistence --------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        sparse.save_npz(folder / "bm25_tf.npz", self.tf.tocsr(), compressed=False)
        (folder / "bm25_vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        vocab = json.loads((folder / "bm25_vocab.json").read_text(encoding="utf-8"))
        return cls(vocab, sparse.load_npz(folder / "bm25_tf.npz").tocsr().astype(np.float32))
