"""`python -m assistant …`: the command line front end. Every command calls the same services as the UI."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import warnings

from pydantic import ValidationError

from assistant.config import Settings, get_settings

# Feature modules add their own sub-commands: (module, function that adds parsers, handler).
FEATURE_CLIS = [
    "assistant.knowledge.cli",  # ingest, search
    "assistant.imaging.cli",  # images
    "assistant.training.cli",  # adapters, train sft
    "assistant.training.feedback_cli",  # feedback, train rlhf|reward
    "assistant.conversations_cli",  # conversations list|search|export|import
    "assistant.models_cli",  # models list|install|use|reset
]


def _chat_parser(sub) -> None:  # noqa: ANN001
    chat = sub.add_parser("chat", help="ask one question (or continue a conversation) and print the answer")
    chat.add_argument("message", help="the question; '-' reads standard input")
    chat.add_argument("--cot", choices=["direct", "step-by-step", "self-consistency"], default=None)
    chat.add_argument("--adapter", default=None, help="adapter name, or 'none' for the bare base model")
    chat.add_argument("--knowledge", choices=["off", "auto", "always"], default=None)
    chat.add_argument("--no-tools", action="store_true", help="never call tools in this turn")
    chat.add_argument("--conversation", default=None, help="continue this conversation id")
    chat.add_argument("--temperature", type=float, default=None)
    chat.add_argument("--max-new-tokens", type=int, default=None)
    chat.add_argument("--seed", type=int, default=None)
    chat.add_argument("--json", action="store_true", help="print the stable JSON result instead of text")
    chat.add_argument(
        "--yes", action="store_true", help="run a tool call that changes something (training, adapter switch)"
    )
    chat.set_defaults(handler=run_chat)


def run_chat(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.chat import TurnRequest
    from assistant.services import get_services

    services = get_services(settings)
    message = sys.stdin.read() if args.message == "-" else args.message
    params = {
        k: v
        for k, v in {"temperature": args.temperature, "max_new_tokens": args.max_new_tokens, "seed": args.seed}.items()
        if v is not None
    }
    request = TurnRequest(
        owner="cli",
        message=message,
        conversation_id=args.conversation,
        adapter=args.adapter,
        cot_mode=args.cot,
        knowledge_mode=args.knowledge,
        tools_enabled=False if args.no_tools else None,
        params=params,
    )
    printed = 0
    last = None
    for update in services.chat.turn(request):
        last = update
        if not args.json and not update.done and args.cot in (None, "direct"):
            text = update.result.answer
            if text.startswith(update.result.answer[:printed]) and len(text) > printed:
                sys.stdout.write(text[printed:])
                sys.stdout.flush()
                printed = len(text)
    result = last.result
    offer = result.pending_call is not None and result.pending_call.get("offer")  # named in the answer already
    if result.pending_call is not None and not offer and args.yes:
        confirmed = services.chat.confirm("cli", result.message_id, accept=True)
        result.tool_calls, result.images = confirmed.tool_calls, confirmed.images
        result.answer = confirmed.answer
        result.pending_call = None
        printed = 0
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return 0
    if printed == 0:
        if result.reasoning:
            print("--- thinking ---\n" + result.reasoning + "\n--- answer ---")
        print(result.answer, end="")
    print()
    for i, source in enumerate(result.sources, 1):
        print(f"[{i}] {source.get('source')} — {source.get('location')}")
    for path in result.images:
        print(f"image: {path}")
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    if result.pending_call is not None and not offer:
        print("note: not run; repeat with --yes to run it", file=sys.stderr)
    return 0


def start_job(settings: Settings, kind: str, config: dict, lock_key: str, wait: bool) -> int:
    """Start a background job, say how to follow it, and with `wait` block until it ends and print the result."""
    from assistant.jobs import JobRunner

    runner = JobRunner(settings)
    job_id = runner.start(kind, config, lock_key=lock_key)
    print(f"started {kind} job {job_id} (follow it with: python -m assistant jobs show {job_id} --log)")
    if not wait:
        return 0
    info = runner.wait(job_id, timeout=24 * 3600)
    print(json.dumps({"status": info.status, "message": info.message, "result": info.result}, indent=2,
                     default=str, ensure_ascii=False))
    return 0 if info.status == "succeeded" else 1


def _jobs_parser(sub) -> None:  # noqa: ANN001
    jobs = sub.add_parser("jobs", help="background jobs: list, show, cancel")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    jobs_sub.add_parser("list").add_argument("--json", action="store_true")
    show = jobs_sub.add_parser("show")
    show.add_argument("job_id")
    show.add_argument("--log", action="store_true", help="print the end of the job's log")
    jobs_sub.add_parser("cancel").add_argument("job_id")
    jobs.set_defaults(handler=run_jobs)


def run_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from assistant.jobs import JobRunner

    runner = JobRunner(settings)
    if args.jobs_command == "list":
        jobs = runner.list()
        if args.json:
            print(json.dumps([asdict(j) for j in jobs], default=str, indent=2))
        for job in [] if args.json else jobs:
            print(f"{job.id}  {job.kind:<12} {job.status:<10} {job.progress:>4.0%}  {job.message[:60]}")
        return 0
    if args.jobs_command == "show":
        job = runner.get(args.job_id)
        print(json.dumps(asdict(job), default=str, indent=2))
        if args.log:
            print(runner.log_tail(args.job_id))
        return 0
    job = runner.cancel(args.job_id)
    print(f"{job.id}: {job.status}")
    return 0


def _serve_parser(sub) -> None:  # noqa: ANN001
    serve = sub.add_parser("serve", help="start the web UI (same as app.py)")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--no-preload", action="store_true", help="load the model on the first message")
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="allow ASSISTANT_HOST to be a non-loopback address without any account (everyone can do everything)",
    )
    serve.set_defaults(handler=run_serve)


def bind_check(settings: Settings, insecure: bool) -> None:
    """Refuse (exit 2, one line) to serve a non-loopback address without accounts; shout when --insecure."""
    from assistant.db import get_database
    from assistant.security import check_binding
    from assistant.users import UserStore, accounts_configured

    has_accounts = accounts_configured(UserStore(get_database(settings)), settings.auth)
    warning = check_binding(settings.host, has_accounts, insecure)
    if warning:
        logging.getLogger("assistant").warning(warning)
        print(warning, file=sys.stderr)


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.security import BindRefused

    if args.port:
        settings.port = args.port
    try:
        bind_check(settings, args.insecure)  # before anything heavy loads
    except BindRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from assistant.services import get_services
    from assistant.startup import StartupStatus, warm_up
    from assistant.ui.app import launch

    services = get_services(settings)
    status = StartupStatus()
    warm_up(services, status, load_model=not args.no_preload)
    launch(services, status, insecure=args.insecure)
    return 0


def _users_parser(sub) -> None:  # noqa: ANN001
    users = sub.add_parser("users", help="accounts: add, list, delete, set-role, set-password")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="create an account (the password is asked for, or read from stdin)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="give the account the admin role")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first stdin line")
    users_sub.add_parser("list").add_argument("--json", action="store_true")
    users_sub.add_parser("delete").add_argument("name")
    role = users_sub.add_parser("set-role")
    role.add_argument("name")
    role.add_argument("role", choices=["admin", "user"])
    password = users_sub.add_parser("set-password")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true")
    users.set_defaults(handler=run_users)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise ValueError("the two passwords differ")
    return first


def run_users(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.db import get_database
    from assistant.users import UserStore

    store = UserStore(get_database(settings))
    if args.users_command == "add":
        store.check_new(args.name)
        user = store.add(args.name, _read_password(args.password_stdin), "admin" if args.admin else "user")
        print(f"added {user['role']} {user['name']!r}")
    elif args.users_command == "list":
        users = store.list()
        if args.json:
            print(json.dumps(users, indent=2))
        for user in [] if args.json else users:
            print(f"{user['name']:<32} {user['role']:<6} {user['created_at']}")
        if not users and not args.json:
            print("no accounts: the app is single-user and listens on 127.0.0.1 only")
    elif args.users_command == "delete":
        store.delete(args.name)
        print(f"deleted {args.name!r} (their conversations stay in the database under user:{args.name})")
    elif args.users_command == "set-role":
        store.set_role(args.name, args.role)
        print(f"{args.name!r} is now {args.role}")
    else:
        if store.role(args.name) is None:
            raise ValueError(f"no user {args.name!r}")
        store.set_password(args.name, _read_password(args.password_stdin))
        print(f"password of {args.name!r} changed")
    return 0


def _apikeys_parser(sub) -> None:  # noqa: ANN001
    keys = sub.add_parser("apikeys", help="keys for the OpenAI-compatible API (/v1): create, list, revoke")
    keys_sub = keys.add_subparsers(dest="apikeys_command", required=True)
    create = keys_sub.add_parser("create", help="make a key for USER (printed once; only its hash is kept)")
    create.add_argument("user", help="the account the key acts as ('local' when the app has no accounts)")
    create.add_argument("--label", default="", help="a note to recognise the key by")
    listing = keys_sub.add_parser("list")
    listing.add_argument("--user", default=None)
    listing.add_argument("--json", action="store_true")
    keys_sub.add_parser("revoke").add_argument("key_id")
    keys.set_defaults(handler=run_apikeys)


def run_apikeys(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.db import get_database
    from assistant.users import ApiKeyStore

    store = ApiKeyStore(get_database(settings))
    if args.apikeys_command == "create":
        key, record = store.create(args.user, args.label)
        print(key)
        print(f"created API key {record['id']} for {record['owner']!r}: it is shown only now; the API now requires "
              "a key from every client (Authorization: Bearer …)", file=sys.stderr)
    elif args.apikeys_command == "list":
        keys = store.list(args.user)
        if args.json:
            print(json.dumps(keys, indent=2))
        for k in [] if args.json else keys:
            state = "revoked" if k["revoked"] else "active"
            print(f"{k['id']}  {k['owner']:<24} {k['prefix']:<14} {state:<8} {k['created_at']}  {k['label']}")
        if not keys and not args.json:
            print("no API keys: the API answers loopback clients only, as the single local user")
    else:
        record = store.revoke(args.key_id)
        print(f"revoked {record['id']} ({record['owner']!r})")
    return 0


def _backup_parser(sub) -> None:  # noqa: ANN001
    backup = sub.add_parser("backup", help="copy the live SQLite database safely (online backup API)")
    backup.add_argument("path", help="destination file, or a folder (a dated file is created in it)")
    backup.add_argument("--force", action="store_true", help="replace an existing file")
    backup.set_defaults(handler=run_backup)


def run_backup(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from assistant.backup import backup_database

    result = backup_database(settings.db_url, Path(args.path), overwrite=args.force)
    counts = ", ".join(f"{n} {t}" for t, n in sorted(result["tables"].items()))
    print(f"backed up to {result['path']} ({result['bytes'] / 1024:.0f} KB in {result['seconds']:.2f} s; {counts})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assistant", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    _chat_parser(sub)
    _jobs_parser(sub)
    _serve_parser(sub)
    _users_parser(sub)
    _apikeys_parser(sub)
    _backup_parser(sub)
    train = sub.add_parser("train", help="train adapters: sft, reward, rlhf")
    train_sub = train.add_subparsers(dest="train_command", required=True)
    for module_name in FEATURE_CLIS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("assistant"):
                continue  # that feature is not installed in this build
            raise
        if hasattr(module, "add_parser"):
            module.add_parser(sub)
        if hasattr(module, "register_train_commands"):
            module.register_train_commands(train_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:
        warnings.filterwarnings("ignore")
    try:
        settings = get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "ASSISTANT_" + "_".join(str(part) for part in error["loc"]).upper()
            print(f"error: invalid setting {name}={error.get('input')!r}: {error['msg']}", file=sys.stderr)
        return 2
    handler = getattr(args, "handler", None) or getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 2
    from assistant.security import keep_private

    keep_private(settings.data_dir)
    try:
        return int(handler(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback for user errors
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
