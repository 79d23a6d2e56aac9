"""CLI: `adapters list|show|train|delete|promote|rollback` and `train sft CONFIG.json`."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from assistant.config import Settings


def add_parser(sub) -> None:  # noqa: ANN001
    adapters = sub.add_parser("adapters", help="LoRA adapters: list, show, train, delete, promote, rollback")
    adapters_sub = adapters.add_subparsers(dest="adapters_command", required=True)
    adapters_sub.add_parser("list", help="adapters with their cards").add_argument("--json", action="store_true")
    adapters_sub.add_parser("show", help="one adapter's card").add_argument("name")
    train = adapters_sub.add_parser("train", help="train a LoRA adapter (SFT) from a JSON config")
    _train_arguments(train)
    adapters_sub.add_parser("delete", help="delete an adapter").add_argument("name")
    promote = adapters_sub.add_parser("promote", help="make an adapter the default (only when its gate report passed)")
    promote.add_argument("name")
    promote.add_argument("--force", action="store_true", help="promote although the gate refused (recorded)")
    promote.add_argument("--note", default="", help="why (recorded with the promotion)")
    gate = adapters_sub.add_parser("gate", help="evaluate an adapter against the current default (a job)")
    gate.add_argument("name")
    gate.add_argument("--against", default="default", help="default (the promoted adapter), base or an adapter")
    gate.add_argument("--wait", action="store_true", help="wait for the job and print the report")
    adapters_sub.add_parser("rollback", help="go back to the previous default")
    adapters_sub.add_parser("history", help="promotions and rollbacks")
    adapters.set_defaults(handler=run)


def register_train_commands(train_sub) -> None:  # noqa: ANN001
    sft = train_sub.add_parser("sft", help="LoRA supervised fine-tuning from a chat JSONL")
    _train_arguments(sft)
    sft.set_defaults(handler=run_train)


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    from assistant.training.sft import SFTConfig

    parser.add_argument("config", nargs="?", help="JSON file with SFT settings (flags override it)")
    for f in fields(SFTConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = str(f.metadata.get("help", "")).replace("%", "%%")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
        elif f.name == "target_modules":
            parser.add_argument(flag, nargs="+", default=None, help=help_text)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            parser.add_argument(flag, type=kind, default=None, help=help_text)
    parser.add_argument("--wait", action="store_true", help="wait for the job and print its result")
    parser.set_defaults(handler=run_train)


def _config_from(args: argparse.Namespace) -> dict:
    from assistant.training.sft import SFTConfig

    config = json.loads(Path(args.config).read_text(encoding="utf-8")) if args.config else {}
    for f in fields(SFTConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            config[f.name] = value
    SFTConfig.from_dict(config)  # validate now, not in the job
    from assistant.training.chat_data import read_chat_jsonl

    for key in ("data", "eval_data"):
        if config.get(key):
            config[key] = str(Path(config[key]).resolve())
            read_chat_jsonl(config[key])  # a missing or unusable file is refused before any job starts
    return config


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.cli import start_job
    from assistant.storage import check_name

    config = _config_from(args)
    name = check_name(config.get("name", ""), "adapter name")
    if (settings.adapters_dir / name).exists() and not config.get("overwrite"):
        raise FileExistsError(f"adapter {name!r} already exists; choose another name or pass --overwrite")
    return start_job(settings, "sft", config, f"adapter:{name}", args.wait)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.adapters import AdapterRegistry

    registry = AdapterRegistry(settings)
    command = args.adapters_command
    if command == "train":
        return run_train(args, settings)
    if command == "list":
        cards = registry.list()
        default = registry.default()
        if args.json:
            print(json.dumps([{**c.to_dict(), "default": c.name == default} for c in cards], indent=2,
                             ensure_ascii=False))
            return 0
        for c in cards:
            flag = "*" if c.name == default else " "
            print(f"{flag} {c.name:<20} {c.method:<10} {c.description or c.error}")
        print(f"default: {default or 'base model'}")
        return 0
    if command == "show":
        print(json.dumps(registry.get(args.name).to_dict(), indent=2, ensure_ascii=False))
        return 0
    if command == "delete":
        registry.delete(args.name)
        print(f"deleted {args.name}")
        return 0
    if command == "promote":
        from assistant.services import Services
        from assistant.training.gate import GateRefused, promote

        try:
            record = promote(Services(settings), args.name, force=args.force, by="cli", note=args.note)
        except GateRefused as exc:
            print(f"refused: {exc}")
            return 1
        print(f"default adapter: {args.name}" + (f" (forced over: {'; '.join(record['overridden'])})"
                                                 if record["forced"] else ""))
        return 0
    if command == "gate":
        from assistant.cli import start_job

        registry.get(args.name)
        return start_job(settings, "gate", {"candidate": args.name, "current": args.against}, f"gate:{args.name}",
                         args.wait)
    if command == "rollback":
        print(f"default adapter: {registry.rollback() or 'base model'}")
        return 0
    for row in registry.history():
        print(f"{row['at']}  {row['action']:<9} {row['adapter']:<20} (was {row['previous']})")
    return 0
