"""The ingest job: index many files (or resync the folders) in a background process with progress and cancel."""

from __future__ import annotations

from assistant.jobs import JobContext
from assistant.knowledge.service import get_knowledge_base


def ingest_job(config: dict, ctx: JobContext) -> dict:
    """config: {"paths": [...]} to ingest files, {"sync": true} to resync the folders, {"reindex": true} to rebuild."""
    kb = get_knowledge_base(ctx.settings)

    def progress(fraction: float, message: str) -> None:
        ctx.progress(fraction, message)  # raises JobCancelled; finished batches are already saved

    if config.get("reindex"):
        report = kb.reindex(progress=progress)
    elif config.get("sync") or not config.get("paths"):
        report = kb.sync_folder(progress=progress)
    else:
        report = kb.ingest(config["paths"], progress=progress)
    for result in report.results:
        ctx.log(f"{result.status:<9} {result.source or result.path} {result.chunks} chunks {result.message}".rstrip())
    return report.to_dict()
