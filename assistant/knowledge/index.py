"""The persisted index: LangChain FAISS (vectors + chunk store) beside BM25 and a per-file manifest.

Layout under `settings.index_dir`:
    CURRENT            name of the live version folder (replaced atomically)
    v-<time>-<id>/     faiss/ (LangChain save_local), bm25_tf.npz, bm25_vocab.json, manifest.json
A change writes a whole new version folder, then swaps CURRENT, so a process killed mid-ingestion leaves the
previous version in place and usable. Row i of FAISS, of BM25 and of `ids` is the same chunk.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np
from langchain_community.docstore.in_memory import InMemoryDocstore
from langchain_community.vectorstores import FAISS
from langchain_community.vectorstores.utils import DistanceStrategy
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from assistant.knowledge.embeddings import DIM
from assistant.knowledge.lexical import BM25Index
from assistant.knowledge.splitting import index_text
from assistant.storage import atomic_dir, atomic_write_text, clean_stale_temps

# Exact search (IndexFlatIP) costs ~3 ms at 10k chunks but ~28 ms at 100k on 2 cores, so large indexes switch
# to HNSW graphs (<1 ms per search at 100k with efSearch 256; see docs/bench_knowledge.md) at the price of a
# slower build (~40 s at 100k).
HNSW_FROM = 30_000
HNSW_M, HNSW_EF_SEARCH = 32, 256


class IndexDamaged(RuntimeError):
    """The live index cannot be read; nothing is deleted or rebuilt behind the user's back."""


@dataclass
class FileEntry:
    source: str  # display name, e.g. "knowledge/lora.md" or "uploads/report.pdf"
    path: str
    sha256: str
    size: int
    kind: str
    chunk_ids: list[str]
    indexed_at: float
    notes: list[str] = field(default_factory=list)

    @property
    def chunks(self) -> int:
        return len(self.chunk_ids)


def new_faiss_index(n: int) -> faiss.Index:
    if n >= HNSW_FROM:
        index = faiss.IndexHNSWFlat(DIM, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = HNSW_EF_SEARCH
        return index
    return faiss.IndexFlatIP(DIM)


class KnowledgeIndex:
    """One loaded version of the index, changed in memory by `apply` and written by `save`."""

    def __init__(self, root: Path, embeddings: Embeddings) -> None:
        self.root = root
        self.embeddings = embeddings
        self.version: str | None = None
        self.files: dict[str, FileEntry] = {}
        self.bm25 = BM25Index()
        self.store = self._vectorstore(faiss.IndexFlatIP(DIM), {}, [])

    # --- reading ------------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        mapping = self.store.index_to_docstore_id
        return [mapping[i] for i in range(len(mapping))]

    def __len__(self) -> int:
        return self.store.index.ntotal

    def current_version(self) -> str | None:
        try:
            return (self.root / "CURRENT").read_text().strip() or None
        except FileNotFoundError:
            return None

    def load(self) -> KnowledgeIndex:
        """Load the live version (or stay empty when there is none)."""
        for _ in range(5):  # a writer may swap CURRENT and remove the folder we were about to read
            version = self.current_version()
            if version is None:
                return self
            folder = self.root / version
            try:
                # Our own pickle, written by this app into its data dir: safe to deserialize.
                store = FAISS.load_local(str(folder / "faiss"), self.embeddings, allow_dangerous_deserialization=True)
                manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
                bm25 = BM25Index.load(folder)
            except FileNotFoundError:
                time.sleep(0.05)
                continue
            except Exception as exc:  # noqa: BLE001 - faiss, pickle and json each raise their own kinds
                raise IndexDamaged(
                    f"the knowledge index {folder} is damaged ({type(exc).__name__}: {str(exc)[:200]}); re-index "
                    "from the Knowledge tab (Re-index everything) or with `python -m assistant ingest --reindex`"
                ) from exc
            if isinstance(store.index, faiss.IndexHNSWFlat):
                store.index.hnsw.efSearch = HNSW_EF_SEARCH
            self.store, self.bm25, self.version = store, bm25, version
            try:
                self.files = {e["source"]: FileEntry(**e) for e in manifest["files"]}
            except (KeyError, TypeError) as exc:
                raise IndexDamaged(f"the knowledge index {folder} is damaged (manifest: {exc}); re-index it") from exc
            return self
        raise RuntimeError(f"could not read the index in {self.root}; re-index from the Knowledge tab")

    def chunk(self, row: int) -> Document:
        return self.store.docstore.search(self.store.index_to_docstore_id[row])

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top-k (row, cosine) for one normalised query vector."""
        if len(self) == 0:
            return []
        scores, rows = self.store.index.search(vector.reshape(1, -1).astype("float32"), min(k, len(self)))
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    # --- changing -----------------------------------------------------------------------------
    def apply(self, removed: list[str], added: list[tuple[FileEntry, list[Document], np.ndarray]]) -> None:
        """Remove the files named in `removed`, then add new files with their chunks and vectors."""
        gone = {cid for source in removed if source in self.files for cid in self.files.pop(source).chunk_ids}
        old_ids = self.ids
        keep = np.array([cid not in gone for cid in old_ids], dtype=bool)
        new_docs = [doc for _, docs, _ in added for doc in docs]
        new_ids = [cid for entry, _, _ in added for cid in entry.chunk_ids]
        new_vecs = np.vstack([v for _, _, v in added]) if added else np.zeros((0, DIM), dtype="float32")
        total = int(keep.sum()) + len(new_ids)
        index = self.store.index
        switch = isinstance(index, faiss.IndexFlatIP) != isinstance(new_faiss_index(total), faiss.IndexFlatIP)
        if gone or switch:
            # Neither HNSW nor a consistent row order survives remove_ids, so rebuild from the kept vectors.
            old_vecs = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, DIM), "float32")
            index = new_faiss_index(total)
            vectors = np.vstack([old_vecs[keep], new_vecs]).astype("float32")
            kept_ids = [cid for cid, k in zip(old_ids, keep, strict=True) if k]
            docs = {cid: self.store.docstore.search(cid) for cid in kept_ids}
            ids = kept_ids + new_ids
            self.bm25.keep(keep)
        else:
            vectors = new_vecs.astype("float32")
            docs = dict(self.store.docstore._dict)  # noqa: SLF001 - InMemoryDocstore has no public listing
            ids = old_ids + new_ids
        if len(vectors):
            index.add(vectors)
        docs.update(zip(new_ids, new_docs, strict=True))
        self.store = self._vectorstore(index, docs, ids)
        self.bm25.add([index_text(doc) for doc in new_docs])
        for entry, _, _ in added:
            self.files[entry.source] = entry

    def _vectorstore(self, index: faiss.Index, docs: dict[str, Document], ids: list[str]) -> FAISS:
        return FAISS(
            embedding_function=self.embeddings,
            index=index,
            docstore=InMemoryDocstore(docs),
            index_to_docstore_id=dict(enumerate(ids)),
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
        )

    # --- writing ------------------------------------------------------------------------------
    def save(self) -> str:
        """Write a new version folder, then point CURRENT at it; remove older versions. Returns the version."""
        self.root.mkdir(parents=True, exist_ok=True)
        version = f"v-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
        with atomic_dir(self.root / version) as tmp:
            self.store.save_local(str(tmp / "faiss"))
            self.bm25.save(tmp)
            manifest = {"version": version, "chunks": len(self), "files": [asdict(e) for e in self.files.values()]}
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        atomic_write_text(self.root / "CURRENT", version)  # the commit point
        self.version = version
        self.prune()
        return version

    def prune(self) -> None:
        """Remove version folders other than the live one, and temp folders of killed writers."""
        clean_stale_temps(self.root)
        live = self.current_version()
        for child in self.root.glob("v-*"):
            if child.is_dir() and child.name != live:
                shutil.rmtree(child, ignore_errors=True)


@contextlib.contextmanager
def write_lock(root: Path) -> Iterator[None]:
    """Cross-process lock for writers (the UI process and ingest jobs may both write)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".write.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
