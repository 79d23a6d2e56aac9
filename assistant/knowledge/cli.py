"""`python -m assistant ingest PATH…` and `python -m assistant search "query" --k 5 --json [--mode]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.config import Settings


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private _SubParsersAction
    ingest = subparsers.add_parser("ingest", help="index files from the knowledge or uploads folder")
    ingest.add_argument("paths", nargs="*", type=Path, help="files or folders; none = resync both folders")
    ingest.add_argument("--copy", action="store_true", help="copy files from elsewhere into uploads/ first")
    ingest.add_argument("--reindex", action="store_true", help="rebuild the whole index from the folders")
    ingest.add_argument("--json", action="store_true")
    ingest.set_defaults(handler=run)
    search = subparsers.add_parser("search", help="search the knowledge base")
    search.add_argument("query")
    search.add_argument("--k", type=int, default=None, help="number of results (default: settings.retrieval_k)")
    search.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    search.add_argument("--json", action="store_true", help="JSON list of {source, location, score, text}")
    search.set_defaults(handler=run)


def _expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return files


def run(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.knowledge.service import IngestReport, get_knowledge_base

    settings.ensure_dirs()
    kb = get_knowledge_base(settings)
    if args.command == "search":
        hits = kb.search(args.query, k=args.k, mode=args.mode)
        if args.json:
            print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        for i, hit in enumerate([] if args.json else hits, 1):
            print(f"[{i}] {hit.score:.4f}  {hit.source} — {hit.location}\n    {' '.join(hit.text.split())[:200]}")
        return 0

    def progress(fraction: float, message: str) -> None:
        if not args.json:
            print(f"\r{fraction:4.0%} {message[:70]:<70}", end="", file=sys.stderr, flush=True)

    if args.reindex:
        report = kb.reindex(progress=progress)
    elif not args.paths:
        report = kb.sync_folder(progress=progress)
    elif args.copy:
        report = IngestReport()
        for path in _expand(args.paths):
            part = kb.add_upload(path.name, path.read_bytes(), progress=progress)
            report.results += part.results
    else:
        report = kb.ingest(_expand(args.paths), progress=progress)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(file=sys.stderr)
        for r in report.results:
            print(f"{r.status:<9} {r.source or r.path}  {r.chunks} chunks  {r.message}".rstrip())
        print(report.summary())
    return 1 if report.errors else 0
