"""The Knowledge tab: upload, list, delete and re-index documents, and try searches. It only calls KnowledgeBase."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from assistant.config import Settings
from assistant.knowledge.citations import quote
from assistant.knowledge.loaders import SUPPORTED
from assistant.knowledge.service import (
    PRIVATE_LABEL,
    IngestReport,
    get_knowledge_base,
    has_private_documents,
    search_collections,
)
from assistant.ui import files as files_ui
from assistant.ui.access import Access, PermissionDenied, check_admin

HEADERS = ["document", "collection", "size (KB)", "chunks", "indexed at (UTC)", "notes"]
SHARED, PRIVATE = "shared knowledge base", "my private documents"


def private_owner(request: gr.Request | None) -> str | None:
    """Whose private collection this browser reads: the logged-in user's; none without accounts (one user,
    who manages the shared knowledge base as its admin)."""
    username = getattr(request, "username", None) if request is not None else None
    return f"user:{username}" if username else None


def documents_table(settings: Settings, owner: str | None = None) -> list[list]:
    """The shared documents, then `owner`'s private ones; never another user's."""
    collections = [("shared", get_knowledge_base(settings))]
    if has_private_documents(settings, owner):
        collections.append(("private", get_knowledge_base(settings, owner)))
    return [[d["source"], label, round(d["size"] / 1024, 1), d["chunks"], d["indexed_at"].replace("T", " ")[:19],
             "; ".join(d["notes"])] for label, kb in collections for d in kb.documents()]


def report_markdown(report: IngestReport) -> str:
    lines = [f"**{report.summary()}** in {report.seconds:.1f} s"]
    icons = {"indexed": "✅", "unchanged": "⏸", "removed": "🗑", "error": "⚠️"}
    for r in report.results:
        detail = f" — {r.message}" if r.message else ""
        chunks = f" ({r.chunks} chunks)" if r.chunks else ""
        lines.append(f"- {icons.get(r.status, '')} `{r.source or r.path}` {r.status}{chunks}{detail}")
    return "\n".join(lines)


def hits_markdown(hits: list) -> str:
    if not hits:
        return "_No matching chunks._"
    return "\n\n".join(
        f"**{i}. {h.source}** — {h.location} · score {h.score:.4f} · cosine {h.cosine:.2f}\n> {quote(h.text, 500)}"
        for i, h in enumerate(hits, 1)
    )


def build_knowledge_tab(settings: Settings, access: Access | None = None) -> None:
    """Build the tab's components inside the caller's open `gr.Tab`."""
    kb = get_knowledge_base(settings)

    def own_documents(request: gr.Request | None = None) -> list[list]:
        # Called once while the page is built (no request: the shared documents), then on every page load, where
        # Gradio passes the request by this annotation (the shared documents and the user's own).
        return documents_table(settings, private_owner(request))

    gr.Markdown(
        "Documents in the shipped `knowledge/` folder and your uploads are split into chunks, embedded and indexed "
        "(dense + BM25). The chat cites them as [1], [2]. Supported: " + ", ".join(sorted(SUPPORTED))
        + f"; up to {settings.max_upload_mb} MB per file."
    )
    with gr.Row():
        with gr.Column(scale=1):
            files = gr.File(label="Upload documents", file_count="multiple", file_types=sorted(SUPPORTED),
                            elem_id="knowledge-files")
            accounts = access is not None and access.accounts_configured()
            # With accounts, a user's uploads are private (only their chats search them); an admin may also add
            # to the shared base. Without accounts there is one user, and the shared base is theirs.
            target = gr.Radio([PRIVATE, SHARED], value=PRIVATE if accounts else SHARED, label="Add to",
                              visible=accounts)
            upload = gr.Button("Add to knowledge", variant="primary", elem_id="knowledge-add")
            with gr.Row():
                refresh = gr.Button("Refresh list", size="sm")
                reindex = gr.Button("Re-index everything", size="sm")
            status = gr.Markdown(elem_id="knowledge-status")
        with gr.Column(scale=2):
            table = gr.Dataframe(headers=HEADERS, value=own_documents, interactive=False, wrap=True,
                                 label="Indexed documents", elem_id="knowledge-documents")
            with gr.Row():
                choice = gr.Dropdown(label="Document", choices=[d["source"] for d in kb.documents()], scale=3)
                delete = gr.Button("Delete", variant="stop", scale=1)
    with gr.Row():
        query = gr.Textbox(label="Search the knowledge base", placeholder="how do I train an adapter?", scale=4)
        mode = gr.Radio(["hybrid", "dense", "bm25"], value="hybrid", label="Mode", scale=2)
        k = gr.Slider(1, 20, value=settings.retrieval_k, step=1, label="k", scale=1)
    results = gr.Markdown()

    def listing(request: gr.Request):  # noqa: ANN202
        rows = documents_table(settings, private_owner(request))
        return rows, gr.Dropdown(choices=[r[0] for r in rows], value=None)

    def on_upload(request: gr.Request, paths: list[str] | None, where: str | None,  # noqa: ANN202
                  progress=gr.Progress()):  # noqa: ANN001, B008
        """Index the files, then drop Gradio's cached copies (the data dir keeps ours) and clear the picker."""
        try:
            return (*add_uploads(request, paths, where, progress), None)
        finally:
            for path in paths or []:
                files_ui.forget_upload(path)

    def add_uploads(request: gr.Request, paths: list[str] | None, where: str | None, progress) -> tuple:  # noqa: ANN001
        if not paths:
            return "Choose files first.", *listing(request)
        owner = private_owner(request)
        try:
            if where != PRIVATE or owner is None:
                # The shared index is what every user's chat searches, so only an admin adds to it.
                check_admin(access, request, "add documents to the shared knowledge base")
                owner = None
        except PermissionDenied as exc:
            return f"⚠️ {exc} (or add them to your private documents)", *listing(request)
        collection = get_knowledge_base(settings, owner)
        report = IngestReport()
        started = time.perf_counter()
        for i, path in enumerate(paths):
            progress(i / len(paths), desc=f"indexing {Path(path).name}")
            too_big = collection.oversized(Path(path).name, Path(path).stat().st_size)
            if too_big is not None:  # refused before it is read into memory
                report.results.append(too_big)
                continue
            part = collection.add_upload(Path(path).name, Path(path).read_bytes(),
                                         owner=owner or private_owner(request))
            report.results += part.results
        report.seconds = time.perf_counter() - started
        return report_markdown(report), *listing(request)

    def on_reindex(request: gr.Request, progress=gr.Progress()):  # noqa: ANN001, ANN202, B008
        try:
            check_admin(access, request, "re-index the shared knowledge base")
        except PermissionDenied as exc:
            return f"⚠️ {exc}", *listing(request)
        report = kb.reindex(progress=lambda fraction, message: progress(fraction, desc=message))
        return report_markdown(report), *listing(request)

    def on_delete(source: str | None, request: gr.Request):  # noqa: ANN202
        if not source:
            return "Pick a document to delete.", *listing(request)
        owner = private_owner(request)
        try:
            if source.startswith(f"{PRIVATE_LABEL}/") and has_private_documents(settings, owner):
                report = get_knowledge_base(settings, owner).delete(source)  # one's own: no admin needed
            else:
                check_admin(access, request, "delete documents from the shared knowledge base")
                report = kb.delete(source)
        except (KeyError, PermissionDenied) as exc:
            return f"⚠️ {exc}", *listing(request)
        return report_markdown(report), *listing(request)

    def on_search(text: str, mode_v: str, k_v: float, request: gr.Request) -> str:
        if not text.strip():
            return ""
        return hits_markdown(search_collections(settings, text, private_owner(request), k=int(k_v), mode=mode_v))

    outputs = [status, table, choice]
    # two at once: one long upload (up to max_document_chars of text, minutes) used to hold everyone else's
    upload.click(on_upload, [files, target], [*outputs, files], concurrency_limit=2)
    reindex.click(on_reindex, None, outputs)
    delete.click(on_delete, [choice], outputs)
    refresh.click(listing, None, [table, choice])
    query.submit(on_search, [query, mode, k], results)
