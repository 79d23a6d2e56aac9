"""CLI: `feedback stats|export`, `train rlhf --method auto|dpo|kto|ppo`, `train reward`."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from assistant.config import Settings


def add_parser(sub) -> None:  # noqa: ANN001
    feedback = sub.add_parser("feedback", help="votes: statistics and exports (jsonl, kto, dpo)")
    feedback_sub = feedback.add_subparsers(dest="feedback_command", required=True)
    feedback_sub.add_parser("stats", help="vote counts by adapter and day").add_argument("--json", action="store_true")
    export = feedback_sub.add_parser("export", help="write the votes as a training dataset")
    export.add_argument("--format", choices=["jsonl", "kto", "dpo"], default="jsonl")
    export.add_argument("--out", default=None, help="file to write (default: <data>/exports/…)")
    feedback.set_defaults(handler=run)


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    for f in fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = str(f.metadata.get("help", "")).replace("%", "%%")
        if str(f.type) == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            parser.add_argument(flag, type=kind, default=None, help=help_text)
    parser.add_argument("--wait", action="store_true", help="wait for the job and print its result")


def register_train_commands(train_sub) -> None:  # noqa: ANN001
    from assistant.training.reward import RewardConfig
    from assistant.training.rlhf import METHODS, RLHFConfig

    rlhf = train_sub.add_parser("rlhf", help="retrain from the votes: auto (default: dpo when there are enough "
                                  "regenerated pairs, else kto), dpo, kto or ppo (REINFORCE)")
    _add_dataclass_flags(rlhf, RLHFConfig, skip=("method", "trigger"))
    rlhf.add_argument("--method", choices=METHODS, default="auto")
    rlhf.set_defaults(handler=run_train, job_kind="rlhf", config_cls=RLHFConfig)
    reward = train_sub.add_parser("reward", help="train the reward model from the votes")
    _add_dataclass_flags(reward, RewardConfig)
    reward.set_defaults(handler=run_train, job_kind="reward", config_cls=RewardConfig)


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.cli import start_job

    config = {f.name: getattr(args, f.name) for f in fields(args.config_cls) if getattr(args, f.name, None) is not None}
    if args.job_kind == "rlhf":
        from assistant.services import Services
        from assistant.training.rlhf import RLHFConfig, training_rows

        training_rows(Services(settings).feedback, RLHFConfig(**config))  # refuse now, not inside the job
    return start_job(settings, args.job_kind, config, args.job_kind, args.wait)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.services import Services

    feedback = Services(settings).feedback
    if args.feedback_command == "stats":
        stats = feedback.stats()
        if args.json:
            print(json.dumps(stats, indent=2, ensure_ascii=False))
            return 0
        print(f"{stats['total']} votes: {stats['up']} 👍, {stats['down']} 👎")
        for adapter, counts in stats["by_adapter"].items():
            print(f"  {adapter:<24} 👍 {counts.get('👍', 0):>4}   👎 {counts.get('👎', 0):>4}")
        for day, counts in stats["by_day"].items():
            print(f"  {day}  👍 {counts.get('👍', 0):>4}   👎 {counts.get('👎', 0):>4}")
        return 0
    path = feedback.export(args.format, args.out)
    print(path)
    return 0
