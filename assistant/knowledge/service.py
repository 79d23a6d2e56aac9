"""KnowledgeBase: the one object the chat, UI, CLI, API and jobs use to ingest, list, delete and search documents.

Writers build a fresh copy of the index, save it as a new version and then swap it in, so searches running at
the same time always see a complete index, and another process (an ingest job) can write too.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from assistant.config import Settings
from assistant.knowledge.embeddings import MiniLMEmbeddings
from assistant.knowledge.index import FileEntry, IndexDamaged, KnowledgeIndex, write_lock
from assistant.knowledge.loaders import SUPPORTED, LoadError, check_path, file_sha256, load_file
from assistant.knowledge.rerank import rerank
from assistant.knowledge.search import Hit, Mode, is_mostly_cjk, reciprocal_rank_fusion
from assistant.knowledge.search import search as run_search
from assistant.knowledge.splitting import index_text, split_file
from assistant.storage import InvalidName, atomic_write_bytes, atomic_write_json, check_name

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
PRIVATE_LABEL = "mine"  # source names of private documents: mine/<file>
OWNERS_FILE = ".owners.json"  # uploads/: which user uploaded each file (hidden: never indexed)
DEFAULT_OWNER = "local"  # uploads made without a user (single-user app, CLI)
COMMIT_EVERY_CHUNKS = 5_000  # big batches are saved in steps, so a cancelled job keeps what it finished
EMBED_BATCH = 64


@dataclass
class FileResult:
    path: str
    source: str
    status: str  # indexed | unchanged | removed | error
    chunks: int = 0
    message: str = ""


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def errors(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "error"]

    def summary(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in ("indexed", "unchanged", "removed", "error") if self.count(s)]
        return ", ".join(parts) or "nothing to do"

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "seconds": round(self.seconds, 2),
                "results": [asdict(r) for r in self.results]}


class KnowledgeBase:
    def __init__(self, settings: Settings, owner: str | None = None) -> None:
        """owner None: the shared knowledge base (shipped `knowledge/` + admin uploads); else one user's private
        collection, in a folder of its own with its own index, which only that user's searches read."""
        self.settings = settings
        self.owner = owner
        self.embeddings = MiniLMEmbeddings()
        self.lock = threading.RLock()  # one writer per process; the file lock orders processes
        self._index: KnowledgeIndex | None = None
        if owner is None:
            self.index_dir, self.uploads_dir = settings.index_dir, settings.uploads_dir
        else:
            folder = private_folder(settings, owner)
            self.index_dir, self.uploads_dir = folder / "index", folder / "uploads"

    @property
    def private(self) -> bool:
        return self.owner is not None

    # --- places -------------------------------------------------------------------------------
    @property
    def roots(self) -> dict[str, Path]:
        """Folders files may be indexed from, by the label that prefixes their source names."""
        if self.private:
            return {PRIVATE_LABEL: self.uploads_dir.resolve()}
        return {"knowledge": self.settings.knowledge_dir, "uploads": self.uploads_dir.resolve()}

    @property
    def upload_root(self) -> Path:
        return self.roots[PRIVATE_LABEL if self.private else "uploads"]

    def source_name(self, path: Path) -> str:
        path = Path(path).resolve()
        for label, root in self.roots.items():
            if path.is_relative_to(root.resolve()):
                return f"{label}/{path.relative_to(root.resolve()).as_posix()}"
        return str(path)

    def folder_files(self) -> list[Path]:
        """Every supported file under the knowledge and uploads folders (hidden files skipped)."""
        files = []
        for root in self.roots.values():
            if root.is_dir():
                files += [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix.lower() in SUPPORTED
                          and not any(part.startswith(".") for part in p.relative_to(root).parts)]
        return files

    # --- reading ------------------------------------------------------------------------------
    @property
    def index(self) -> KnowledgeIndex:
        """The live index, reloaded when another process has saved a newer version."""
        current = self._index
        stale = current is None or current.version != current.current_version()
        # While this process is writing (lock held), keep answering from the complete previous version
        # instead of waiting for the whole ingestion; only the very first load waits.
        if stale and self.lock.acquire(blocking=current is None):
            try:
                current = self._index
                if current is None or current.version != current.current_version():
                    current = KnowledgeIndex(self.index_dir, self.embeddings).load()
                    self._index = current
            finally:
                self.lock.release()
        return current

    def search(self, query: str, k: int | None = None, mode: Mode = "hybrid") -> list[Hit]:
        """The top k chunks; the search's top `rerank_top` are reranked first (`Settings.rerank`)."""
        k = k or self.settings.retrieval_k
        index, method = self.index, self.settings.rerank
        if method == "off":
            return run_search(index, self.embeddings, query, k, mode)
        hits = run_search(index, self.embeddings, query, max(k, self.settings.rerank_top), mode)
        return rerank(index, query, hits, method, self.settings.rerank_top)[:k]

    @staticmethod
    def is_relevant(hit: Hit) -> bool:
        return hit.relevant

    def documents(self) -> list[dict]:
        """Indexed files: source, size, chunks, indexed_at (ISO), kind, notes."""
        rows = []
        for entry in sorted(self.index.files.values(), key=lambda e: e.source):
            rows.append({"source": entry.source, "path": entry.path, "size": entry.size, "chunks": entry.chunks,
                         "indexed_at": datetime.fromtimestamp(entry.indexed_at, UTC).isoformat(timespec="seconds"),
                         "kind": entry.kind, "notes": entry.notes})
        return rows

    # --- writing ------------------------------------------------------------------------------
    def ingest(self, paths: Iterable[Path | str], progress: Progress | None = None) -> IngestReport:
        """Index these files (changed ones re-indexed, unchanged skipped); bad files get a message each."""
        return self._update([Path(p) for p in paths], [], progress=progress)

    def sync_folder(self, progress: Progress | None = None) -> IngestReport:
        """Bring the index in line with the knowledge and uploads folders: add, update, and drop deleted files."""
        with self.lock:
            present = {self.source_name(p) for p in self.folder_files()}
            missing = [s for s, e in self.index.files.items() if s not in present and self._in_roots(Path(e.path))]
            return self._update(self.folder_files(), missing, progress=progress)

    def reindex(self, progress: Progress | None = None) -> IngestReport:
        """Rebuild from scratch: every file in the folders is read and embedded again."""
        with self.lock:
            present = {self.source_name(p) for p in self.folder_files()}
            try:
                indexed = self.index.files
            except IndexDamaged:
                indexed = {}  # rebuilt from the files below; that is what re-indexing is for
            gone = [s for s in indexed if s not in present]
            return self._update(self.folder_files(), gone, progress=progress, force=True)

    def delete(self, source: str) -> IngestReport:
        """Remove a document from the index; an uploaded file is deleted too (a shipped one stays on disk)."""
        with self.lock:
            entry = self.index.files.get(source)
            if entry is None:
                raise KeyError(f"no indexed document {source!r}")
            report = self._update([], [source])
            path = Path(entry.path)
            if self._in_root(path, self.upload_root):
                path.unlink(missing_ok=True)
            return report

    def upload_usage(self, owner: str | None = None) -> dict:
        """The owner's uploads still on disk: {"files": n, "bytes": total, "names": [...]}."""
        owner = owner or DEFAULT_OWNER
        owners = self._upload_owners()
        names = sorted(n for n, who in owners.items() if who == owner and (self.uploads_dir / n).is_file())
        total = sum((self.uploads_dir / n).stat().st_size for n in names)
        return {"files": len(names), "bytes": total, "names": names}

    def _upload_owners(self) -> dict[str, str]:
        try:
            data = json.loads((self.uploads_dir / OWNERS_FILE).read_text(encoding="utf-8"))
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _quota_error(self, owner: str, name: str, size: int) -> str | None:
        """Why this upload would break the owner's limits (count, total MB, another user's file), or None."""
        owners = self._upload_owners()
        holder = owners.get(name)
        if holder is not None and holder != owner and (self.uploads_dir / name).exists():
            return f"{name}: a document of that name was uploaded by another user; rename your file"
        usage = self.upload_usage(owner)
        replaced = name in usage["names"]
        count = usage["files"] + (0 if replaced else 1)
        if count > self.settings.max_uploads_per_user:
            return (f"{name}: you already have {usage['files']} uploaded documents, the limit per user is "
                    f"{self.settings.max_uploads_per_user}; delete some first")
        old_size = (self.uploads_dir / name).stat().st_size if replaced else 0
        total = usage["bytes"] - old_size + size
        limit_mb = self.settings.max_upload_total_mb_per_user
        if total > limit_mb * 1024 * 1024:
            return (f"{name}: your uploads would take {total / 1e6:.1f} MB, over the {limit_mb} MB per user; "
                    "delete some documents first")
        return None

    def oversized(self, name: str, size: int) -> FileResult | None:
        """The refusal of an upload of `size` bytes over `max_upload_mb`, or None."""
        if size <= self.settings.max_upload_mb * 1024 * 1024:
            return None
        return FileResult(name, f"uploads/{name}", "error",
                          message=f"{name}: {size / 1e6:.1f} MB is over the {self.settings.max_upload_mb} MB limit")

    def add_upload(self, filename: str, data: bytes, progress: Progress | None = None,
                   owner: str | None = None) -> IngestReport:
        """Store an uploaded file under uploads/ (safe name, size and per-user limits) and index it."""
        owner = owner or DEFAULT_OWNER
        name = Path(filename).name
        try:
            if name != filename or "\\" in filename:
                raise InvalidName(f"invalid file name {filename!r}: upload a plain file name without a folder")
            check_name(name, "file name")
        except InvalidName as exc:
            return IngestReport([FileResult(filename, "", "error", message=str(exc))])
        too_big = self.oversized(name, len(data))
        if too_big is not None:
            return IngestReport([too_big])
        if Path(name).suffix.lower() not in SUPPORTED:
            return IngestReport([FileResult(name, f"uploads/{name}", "error",
                                            message=f"{name}: unsupported file type; supported: "
                                                    f"{', '.join(sorted(SUPPORTED))}")])
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        if self.private:
            with contextlib.suppress(OSError):  # who the hashed folder belongs to, for an admin looking at disk
                atomic_write_bytes(self.uploads_dir.parent / "owner.txt", owner.encode())
        with self.lock, _folder_lock(self.uploads_dir):  # the quota check and the upload are one step
            problem = self._quota_error(owner, name, len(data))
            if problem:
                return IngestReport([FileResult(name, f"uploads/{name}", "error", message=problem)])
            report = self._store_upload(name, data, progress)
            if not report.errors:
                owners = self._upload_owners()
                owners[name] = owner
                atomic_write_json(self.uploads_dir / OWNERS_FILE, owners)
            return report

    def _store_upload(self, name: str, data: bytes, progress: Progress | None) -> IngestReport:
        path = self.uploads_dir / name
        # Read the upload from a hidden staging file first: a refused file must not replace (and then delete)
        # a good document of the same name, nor linger and fail every later sync.
        staged = self.uploads_dir / f".incoming-{uuid.uuid4().hex[:8]}-{name}"
        atomic_write_bytes(staged, data)
        try:
            load_file(staged, list(self.roots.values()), self.settings.max_upload_mb,
                      self.settings.max_document_chars)
        except LoadError as exc:
            staged.unlink(missing_ok=True)
            return IngestReport([FileResult(name, f"uploads/{name}", "error",
                                            message=str(exc).replace(staged.name, name))])
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        previous = path.read_bytes() if path.exists() else None
        staged.replace(path)
        report = self.ingest([path], progress=progress)
        if any(r.status == "error" for r in report.results):
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write_bytes(path, previous)  # put the indexed version back
        return report

    # --- the one write path -------------------------------------------------------------------
    def _update(self, paths: list[Path], removed: list[str], progress: Progress | None = None,
                force: bool = False) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        progress = progress or (lambda fraction, message: None)
        with self.lock, write_lock(self.index_dir):
            # A private copy: searches keep using the live index until the new version is saved.
            try:
                work = KnowledgeIndex(self.index_dir, self.embeddings).load()
            except IndexDamaged:
                if not force:
                    raise
                work = KnowledgeIndex(self.index_dir, self.embeddings)  # empty: rebuilt from scratch
            pending: list[tuple[FileEntry, list, object]] = []
            pending_removed = [s for s in removed if s in work.files]
            report.results += [FileResult(work.files[s].path, s, "removed") for s in pending_removed]
            pending_chunks = 0
            changed = bool(pending_removed)
            for i, path in enumerate(paths):
                progress(i / max(len(paths), 1), f"{i}/{len(paths)} {path.name}")
                result = self._prepare(work, path, force, progress, i, len(paths))
                report.results.append(result[0])
                if result[1] is None:
                    continue
                entry, docs, vectors = result[1]
                if entry.source in work.files:
                    pending_removed.append(entry.source)
                pending.append((entry, docs, vectors))
                pending_chunks += len(docs)
                if pending_chunks >= COMMIT_EVERY_CHUNKS:
                    self._commit(work, pending_removed, pending)
                    pending, pending_removed, pending_chunks = [], [], 0
                changed = True
            if pending or pending_removed:
                self._commit(work, pending_removed, pending)
            if changed or self._index is None:
                self._index = work
        progress(1.0, report.summary())
        report.seconds = time.perf_counter() - started
        log.info("knowledge: %s in %.1f s", report.summary(), report.seconds)
        return report

    def _prepare(self, work: KnowledgeIndex, path: Path, force: bool, progress: Progress, i: int, n: int):  # noqa: ANN202
        """(result, (entry, chunks, vectors) or None) for one file."""
        source = self.source_name(path)
        try:
            resolved, kind = check_path(path, list(self.roots.values()), self.settings.max_upload_mb)
            source = self.source_name(resolved)
            old = work.files.get(source)
            if old is not None and not force and old.sha256 == file_sha256(resolved):
                return FileResult(str(path), source, "unchanged", old.chunks), None
            loaded = load_file(resolved, list(self.roots.values()), self.settings.max_upload_mb,
                               self.settings.max_document_chars)
            docs = split_file(loaded, source, self.settings.chunk_size, self.settings.chunk_overlap)
            if not docs:
                raise LoadError(f"{path.name}: no text to index")
        except LoadError as exc:
            return FileResult(str(path), source, "error", message=str(exc)), None
        vectors = []
        texts = [index_text(d) for d in docs]
        for start in range(0, len(texts), EMBED_BATCH):
            progress((i + start / len(texts)) / n, f"{i}/{n} {path.name}: embedding {start}/{len(texts)} chunks")
            vectors.append(self.embeddings.embed_array(texts[start : start + EMBED_BATCH]))
        entry = FileEntry(source, str(resolved), loaded.sha256, loaded.size, loaded.kind,
                          [uuid.uuid4().hex for _ in docs], time.time(), loaded.notes)
        message = "; ".join(loaded.notes)
        return FileResult(str(path), source, "indexed", len(docs), message), (entry, docs, np.vstack(vectors))

    @staticmethod
    def _commit(work: KnowledgeIndex, removed: list[str], added: list) -> None:
        work.apply(removed, added)
        work.save()

    def _in_roots(self, path: Path) -> bool:
        return any(self._in_root(path, root) for root in self.roots.values())

    @staticmethod
    def _in_root(path: Path, root: Path) -> bool:
        return Path(path).resolve().is_relative_to(Path(root).resolve())


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Cross-process lock on a folder itself (flock on its descriptor): no lock file appears among the uploads."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def private_folder(settings: Settings, owner: str) -> Path:
    """data/private/<hash of the owner>: owner strings (user:NAME, browser:ID) never become path parts."""
    return settings.data_dir / "private" / hashlib.sha256(owner.encode()).hexdigest()[:24]


_bases: dict[tuple[str, str | None], KnowledgeBase] = {}
KNOWLEDGE_BASES_LOCK = threading.Lock()  # guards the per-data-dir registry below


def get_knowledge_base(settings: Settings, owner: str | None = None) -> KnowledgeBase:
    """The shared KnowledgeBase of this data dir, or `owner`'s private collection (one of each per process)."""
    key = (str(settings.data_dir), owner)
    with KNOWLEDGE_BASES_LOCK:
        if key not in _bases:
            _bases[key] = KnowledgeBase(settings, owner)
        return _bases[key]


def has_private_documents(settings: Settings, owner: str | None) -> bool:
    """Cheap check before loading a private index: has this owner ever indexed anything?"""
    return owner is not None and (private_folder(settings, owner) / "index").is_dir()


def search_collections(settings: Settings, query: str, owner: str | None, k: int,
                       mode: Mode = "hybrid") -> list[Hit]:
    """Search the shared knowledge base and `owner`'s private collection; the best k of both.

    Each index's own scores are not comparable with the other's (a one-document collection always puts its
    chunk first in its own ranking), so the union is ordered by reciprocal rank fusion of two signals that are:
    the query's cosine to each chunk (skipped for Chinese, where MiniLM says nothing) and its term coverage.
    """
    hits = get_knowledge_base(settings).search(query, k=k, mode=mode)
    if not has_private_documents(settings, owner):
        return hits
    pool = hits + get_knowledge_base(settings, owner).search(query, k=k, mode=mode)
    rankings = [sorted(range(len(pool)), key=lambda i: -pool[i].coverage)]
    if mode != "bm25" and not is_mostly_cjk(query):
        rankings.append(sorted(range(len(pool)), key=lambda i: -pool[i].cosine))
    return [pool[i] for i, _ in reciprocal_rank_fusion(rankings)[:k]]
