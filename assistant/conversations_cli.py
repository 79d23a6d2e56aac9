"""`python -m assistant conversations list|search|export|import`: a thin front end of assistant/conversation_io.py.

Every command acts for one owner (`--owner`, default `cli`: the conversations `python -m assistant chat`
makes; `user:NAME` for an account's, `local` for the API's single user).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.config import Settings

OWNER_HELP = "whose conversations: cli (default; `chat` makes these), user:NAME (an account), local (the API's)"


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private _SubParsersAction
    conversations = subparsers.add_parser("conversations", help="conversations: list, search, export, import")
    sub = conversations.add_subparsers(dest="conversations_command", required=True)
    listing = sub.add_parser("list", help="id and title of each conversation, newest first")
    search = sub.add_parser("search", help="conversations whose title or messages contain every word")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=50)
    export = sub.add_parser("export", help="conversations as JSON (importable) or Markdown (readable)")
    export.add_argument("ids", nargs="*", help="conversation ids; none = all of them")
    export.add_argument("--format", choices=["json", "markdown"], default="json")
    export.add_argument("-o", "--output", type=Path, default=None, help="write to this file (default: stdout)")
    imported = sub.add_parser("import", help="add the conversations of a JSON export (new ids, owned by --owner)")
    imported.add_argument("file", help="the export file; '-' reads standard input")
    for command in (listing, search, export, imported):
        command.add_argument("--owner", default="cli", help=OWNER_HELP)
    for command in (listing, search, imported):
        command.add_argument("--json", action="store_true", help="print JSON")
    conversations.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from assistant import conversation_io
    from assistant.services import get_services

    services = get_services(settings)
    store, owner = services.conversations, args.owner
    command = args.conversations_command
    if command == "list":
        rows = store.list(owner)
        if args.json:
            print(json.dumps([{"id": cid, "title": title} for cid, title in rows], ensure_ascii=False, indent=2))
        for cid, title in [] if args.json else rows:
            print(f"{cid}  {title}")
    elif command == "search":
        hits = conversation_io.search(store, owner, args.query, limit=args.limit)
        if args.json:
            print(json.dumps([h.__dict__ for h in hits], ensure_ascii=False, indent=2))
        for hit in [] if args.json else hits:
            print(f"{hit.id}  {hit.title}" + (f"\n    {hit.snippet}" if hit.snippet else ""))
        if not hits and not args.json:
            print("no conversation matches", file=sys.stderr)
    elif command == "export":
        ids = args.ids or None
        if args.format == "json":
            text = json.dumps(conversation_io.export_json(store, owner, ids), ensure_ascii=False, indent=2) + "\n"
        else:
            text = conversation_io.export_markdown(store, owner, ids)
        if args.output is None:
            sys.stdout.write(text)
        else:
            args.output.write_text(text, encoding="utf-8")
            print(f"wrote {args.output}", file=sys.stderr)
    else:
        limit = conversation_io.MAX_IMPORT_BYTES + 1  # one byte more than accepted: too big is reported as such
        if args.file == "-":
            data = sys.stdin.buffer.read(limit)
        else:
            with Path(args.file).open("rb") as f:
                data = f.read(limit)
        new_ids = conversation_io.import_json(store, owner, data, known_adapters=set(services.adapters.names()))
        if args.json:
            print(json.dumps({"imported": new_ids}, indent=2))
        else:
            print(f"imported {len(new_ids)} conversation(s) for {owner}: {' '.join(new_ids)}")
    return 0
