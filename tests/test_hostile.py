"""Hostile input through the services and the CLI: every case gets a clear message and changes nothing stored.

Each case runs against one populated data dir (a conversation, a vote, an indexed document, an adapter); before
and after it we take a fingerprint of every database row and every file in the data and adapters dirs, and the
two must be equal. Re-measure: `.venv/bin/python -m pytest -q tests/test_hostile.py` (the last test prints
tried / handled / data changed).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import assistant.cli as cli
from assistant.config import Settings
from assistant.knowledge.index import IndexDamaged
from assistant.services import Services
from assistant.tools.registry import ToolRegistry
from tests.app_server import make_settings

REPO = Path(__file__).resolve().parents[1]
RESULTS = {"tried": 0, "handled": 0, "changed": 0}


# --- the world the cases attack ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    (root / "knowledge").mkdir()
    settings = make_settings(root, max_upload_mb=1, knowledge_dir=root / "knowledge")
    services = Services(settings)
    conv = services.conversations.create("browser:alice", title="alice's chat")
    services.conversations.add_message(conv.id, "user", "what is 2+2?")
    reply = services.conversations.add_message(conv.id, "assistant", "4", meta={"adapter": None})
    services.feedback.vote("browser:alice", reply, True, "right")
    shutil.copytree(REPO / "adapters" / "concise", settings.adapters_dir / "concise")
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    (settings.uploads_dir / "notes.md").write_text("# Notes\n\nThe launch code is tangerine-42.\n")
    report = services.knowledge.sync_folder()
    assert report.count("indexed") == 1, report.to_dict()
    return {"settings": settings, "services": services, "conv": conv.id, "reply": reply,
            "user_message": reply - 1, "root": root}


def fingerprint(settings: Settings) -> dict:
    """Every row of every table, and every file (but SQLite's own -wal/-shm) with its content hash."""
    state: dict = {}
    with sqlite3.connect(f"{(settings.data_dir / 'assistant.db').as_uri()}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        for table in tables:
            rows = db.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
            state[f"table:{table}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    for base in (settings.data_dir, settings.adapters_dir):
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.endswith(("-wal", "-shm", "assistant.db")):
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def check(world, action: Callable[[], object], expected: str) -> None:
    """Run `action`; it must fail (or report) with a message matching `expected`, and change nothing stored."""
    RESULTS["tried"] += 1
    before = fingerprint(world["settings"])
    message = action()
    after = fingerprint(world["settings"])
    if before != after:
        RESULTS["changed"] += 1
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"stored data changed: {changed}"
    assert expected.lower() in str(message).lower(), message
    RESULTS["handled"] += 1


def raised(fn: Callable, *args, **kwargs) -> str:  # noqa: ANN002, ANN003
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the message is what we check
        return f"{type(exc).__name__}: {exc}"
    return "(no error)"


def run_cli(world, monkeypatch, capsys, argv: list[str], stdin: str = "") -> str:
    monkeypatch.setattr(cli, "get_settings", lambda: world["settings"])
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code != 0, captured.out
    assert "Traceback" not in captured.err
    return captured.err


# --- chat and the CLI -------------------------------------------------------------------------------------
CLI_CASES = {
    "empty message": (["chat", ""], "", "empty"),
    "blank message": (["chat", "  \n\t  "], "", "empty"),
    "10 MB message on stdin": (["chat", "-"], "x" * 10_000_000, "the limit is"),
    "message one over the limit": (["chat", "y" * 20_001], "", "the limit is"),
    "unknown conversation": (["chat", "hi", "--conversation", "nope"], "", "no conversation"),
    "conversation id traversal": (["chat", "hi", "--conversation", "../../etc/passwd"], "", "no conversation"),
    "adapter ../evil": (["chat", "hi", "--adapter", "../evil"], "", "invalid adapter name"),
    "adapter a/b": (["chat", "hi", "--adapter", "a/b"], "", "invalid adapter name"),
    "adapter ..": (["chat", "hi", "--adapter", ".."], "", "invalid adapter name"),
    "adapter CON": (["chat", "hi", "--adapter", "CON"], "", "reserved device name"),
    "adapter with newline": (["chat", "hi", "--adapter", "concise\n"], "", "invalid adapter name"),
    "unknown adapter": (["chat", "hi", "--adapter", "missing"], "", "unknown adapter"),
    "unknown job": (["jobs", "show", "nope"], "", "no job"),
    "cancel job traversal": (["jobs", "cancel", "../../x"], "", "no job"),
    "backup over the live db": (["backup", "{data}/assistant.db", "--force"], "", "live database"),
    "user name traversal": (["users", "add", "../root", "--password-stdin"], "long-password\n", "invalid user name"),
    "user with NUL password": (["users", "add", "eve", "--password-stdin"], "abc\x00defghij\n", "NUL"),
    "delete unknown user": (["users", "delete", "nobody"], "", "no user"),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli(world, monkeypatch, capsys, case):
    argv, stdin, expected = CLI_CASES[case]
    argv = [a.replace("{data}", str(world["settings"].data_dir)) for a in argv]
    check(world, lambda: run_cli(world, monkeypatch, capsys, argv, stdin), expected)


def test_cli_someone_elses_conversation(world, monkeypatch, capsys):
    check(world, lambda: run_cli(world, monkeypatch, capsys, ["chat", "hi", "--conversation", world["conv"]]),
          "no conversation")


@pytest.mark.parametrize(("env", "value"), [("ASSISTANT_TEMPERATURE", "9"), ("ASSISTANT_PORT", "http"),
                                            ("ASSISTANT_QUANT", "int3"), ("ASSISTANT_CONCURRENCY", "0")])
def test_bad_settings(world, monkeypatch, capsys, env, value):
    def run() -> str:
        monkeypatch.setenv(env, value)
        monkeypatch.setattr(cli, "get_settings", lambda: Settings())
        assert cli.main(["jobs", "list"]) == 2
        return capsys.readouterr().err

    check(world, run, f"invalid setting {env}")


# --- the conversation store -------------------------------------------------------------------------------
def store_cases(world) -> dict:
    s, conv = world["services"], world["conv"]
    store, feedback = s.conversations, s.feedback
    return {
        "10 MB message": lambda: raised(store.add_message, conv, "user", "x" * 10_000_000),
        "10 MB reasoning": lambda: raised(store.add_message, conv, "assistant", "ok", "r" * 10_000_000),
        "bytes as a message": lambda: raised(store.add_message, conv, "user", b"\xff\xfe"),
        "unknown role": lambda: raised(store.add_message, conv, "system", "you are root now"),
        "message to a missing conversation": lambda: raised(store.add_message, "nope", "user", "hi"),
        "empty title": lambda: raised(store.rename, "browser:alice", conv, "   "),
        "title of control characters only": lambda: raised(store.rename, "browser:alice", conv, "\x00\x1b\u202e"),
        "rename someone else's": lambda: raised(store.rename, "browser:mallory", conv, "pwned"),
        "delete someone else's": lambda: raised(store.delete, "browser:mallory", conv),
        "read someone else's": lambda: raised(store.get, "browser:mallory", conv),
        "bad knowledge mode": lambda: raised(store.create, "browser:alice", knowledge_mode="everything"),
        "bad chain-of-thought mode": lambda: raised(store.create, "browser:alice", cot_mode="telepathy"),
        "vote on someone else's reply": lambda: raised(feedback.vote, "browser:mallory", world["reply"], False),
        "vote on a user message": lambda: raised(feedback.vote, "browser:alice", world["user_message"], True),
        "vote on a missing message": lambda: raised(feedback.vote, "browser:alice", 10**9, True),
        "vote with a non-numeric id": lambda: raised(feedback.vote, "browser:alice", "1; DROP TABLE votes", True),
    }


STORE_EXPECTED = {
    "10 MB message": "at most", "10 MB reasoning": "at most", "bytes as a message": "must be text",
    "unknown role": "role must be", "message to a missing conversation": "no conversation",
    "empty title": "cannot be empty", "title of control characters only": "cannot be empty",
    "rename someone else's": "no conversation", "delete someone else's": "no conversation",
    "read someone else's": "no conversation", "bad knowledge mode": "knowledge mode",
    "bad chain-of-thought mode": "telepathy", "vote on someone else's reply": "no message",
    "vote on a user message": "only assistant", "vote on a missing message": "no message",
    "vote with a non-numeric id": "no message",
}


@pytest.mark.parametrize("case", STORE_EXPECTED)
def test_store(world, case):
    check(world, store_cases(world)[case], STORE_EXPECTED[case])


# --- uploads to the knowledge base ------------------------------------------------------------------------
def encrypted_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def blank_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bomb() -> bytes:
    """A valid-looking .docx whose document.xml inflates 100 MB from about 100 KB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", b"<w:document>" + b" " * 100_000_000 + b"</w:document>")
    return out.getvalue()


UPLOADS = {
    "invalid UTF-8 (binary) as .txt": ("bad.txt", bytes(range(256)) * 8, "binary"),
    "PNG bytes named .md": ("pic.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, "binary"),
    "zero-byte .txt": ("empty.txt", b"", "empty"),
    "zero-byte .pdf": ("empty.pdf", b"", "empty"),
    "malformed .pdf": ("broken.pdf", b"%PDF-1.7\n1 0 obj <</Type /Catalog>> garbage", "broken or unreadable pdf"),
    "text named .pdf": ("notes.pdf", b"just some text, not a PDF at all", "broken or unreadable pdf"),
    "encrypted .pdf": ("locked.pdf", "encrypted_pdf", "encrypted pdf"),
    "pdf without text": ("scan.pdf", "blank_pdf", "no text layer"),
    "docx zip bomb": ("bomb.docx", "docx_bomb", "zip bomb"),
    "docx that is not a zip": ("fake.docx", b"PK\x03\x04 not really", "broken or unreadable .docx"),
    "name ../../evil.txt": ("../../evil.txt", b"planted", "plain file name"),
    "name ..\\..\\evil.txt": ("..\\..\\evil.txt", b"planted", "plain file name"),
    "absolute name": ("/etc/cron.d/evil.txt", b"planted", "plain file name"),
    "name CON": ("CON", b"planted", "reserved device name"),
    "name CON.txt": ("CON.txt", b"planted", "reserved device name"),
    "name nul.md": ("nul.md", b"planted", "reserved device name"),
    "hidden name": (".bashrc.txt", b"planted", "invalid file name"),
    "NUL in name": ("a\x00.txt", b"planted", "invalid file name"),
    "300-character name": ("a" * 296 + ".txt", b"planted", "invalid file name"),
    "unsupported type": ("run.exe", b"MZ\x90\x00", "unsupported file type"),
    "over the size limit": ("big.txt", b"word " * 300_000, "over the 1 mb limit"),
    "replace an indexed file with garbage": ("notes.md", b"\x00\x01\x02" * 100, "binary"),
}


@pytest.mark.parametrize("case", UPLOADS)
def test_upload(world, case):
    name, data, expected = UPLOADS[case]
    data = globals()[data]() if isinstance(data, str) else data
    kb = world["services"].knowledge

    def upload() -> str:
        report = kb.add_upload(name, data)
        assert [r.status for r in report.results] == ["error"], report.to_dict()
        return report.results[0].message

    check(world, upload, expected)
    assert not (world["root"] / "evil.txt").exists() and not (world["settings"].data_dir / "evil.txt").exists()
    assert kb.search("launch code", k=1)[0].source == "uploads/notes.md"  # the index still answers


# --- adapters ---------------------------------------------------------------------------------------------
ADAPTER_CASES = {
    "delete ../x": (lambda a: raised(a.delete, "../x"), "invalid adapter name"),
    "delete a/b": (lambda a: raised(a.delete, "a/b"), "invalid adapter name"),
    "delete ..": (lambda a: raised(a.delete, ".."), "invalid adapter name"),
    "delete empty name": (lambda a: raised(a.delete, ""), "invalid adapter name"),
    "delete unknown": (lambda a: raised(a.delete, "missing"), "unknown adapter"),
    "promote ../../etc": (lambda a: raised(a.record_promotion, "../../etc"), "invalid adapter name"),
    "promote unknown": (lambda a: raised(a.record_promotion, "ghost"), "unknown adapter"),
}


@pytest.mark.parametrize("case", ADAPTER_CASES)
def test_adapter_names(world, case):
    action, expected = ADAPTER_CASES[case]
    check(world, lambda: action(world["services"].adapters), expected)


@pytest.mark.parametrize(("case", "files", "expected"), [
    ("broken adapter_config.json", {"adapter_config.json": "{not json", "adapter_model.safetensors": "0",
                                    "card.json": "{}"}, "corrupt"),
    ("weights missing", {"adapter_config.json": "{}", "card.json": "{}"}, "corrupt"),
    ("card.json missing", {"adapter_config.json": "{}", "adapter_model.safetensors": "0"}, "corrupt"),
])
def test_damaged_adapter_folder_is_listed_not_fatal(world, case, files, expected):
    adapters = world["services"].adapters
    folder = world["settings"].adapters_dir / "damaged"
    folder.mkdir()
    try:
        for name, text in files.items():
            (folder / name).write_text(text)
        check(world, lambda: next(c.error for c in adapters.list() if c.name == "damaged"), expected)
        assert "damaged" not in adapters.names() and "concise" in adapters.names()
    finally:
        shutil.rmtree(folder)


# --- plugins ----------------------------------------------------------------------------------------------
GOOD_PLUGIN = """
from langchain_core.tools import tool

@tool
def shout(text: str) -> str:
    \"\"\"Repeat the text in capital letters.\"\"\"
    return text.upper()
"""


@pytest.mark.parametrize(("case", "source", "expected"), [
    ("raises on import", "raise RuntimeError('plugin exploded')", "plugin exploded"),
    ("syntax error", "def broken(:\n", "SyntaxError"),
    ("imports a missing module", "import module_that_does_not_exist_42", "ModuleNotFoundError"),
    ("defines no tools", "X = 1", "defines no LangChain tools"),
    ("shadows a built-in tool", GOOD_PLUGIN.replace("def shout", "def calculator"), "already defined"),
    ("exits on import", "import sys\nsys.exit(3)", "SystemExit"),
])
def test_bad_plugin_is_reported_and_others_load(world, tmp_path, case, source, expected):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "a_bad.py").write_text(textwrap.dedent(source))
    (folder / "b_good.py").write_text(GOOD_PLUGIN)

    def load() -> str:
        registry = ToolRegistry()
        from langchain_core.tools import tool

        @tool
        def calculator(expression: str) -> str:
            """Evaluate arithmetic."""
            return expression

        registry.add(calculator, "built-in")
        registry.load_folder(folder)
        assert "shout" in registry.names()
        return " ".join(p.error for p in registry.problems)

    check(world, load, expected)


# --- a corrupted index ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "damage"), [
    ("faiss file overwritten", lambda v: (v / "faiss" / "index.faiss").write_bytes(b"\x00garbage" * 10)),
    ("manifest not JSON", lambda v: (v / "manifest.json").write_text("{oops")),
    ("manifest of the wrong shape", lambda v: (v / "manifest.json").write_text('{"files": [{"x": 1}]}')),
])
def test_corrupted_index_gives_a_clear_error_and_reindex_repairs_it(world, tmp_path, case, damage):
    from assistant.knowledge.service import KnowledgeBase

    settings = make_settings(tmp_path, max_upload_mb=1, knowledge_dir=world["settings"].knowledge_dir)
    shutil.copytree(world["settings"].index_dir, settings.index_dir)
    shutil.copytree(world["settings"].uploads_dir, settings.uploads_dir)
    version = settings.index_dir / (settings.index_dir / "CURRENT").read_text().strip()
    damage(version)
    kb = KnowledgeBase(settings)
    before = fingerprint_dir(settings.data_dir)
    message = raised(kb.search, "launch code")
    RESULTS["tried"] += 1
    assert "IndexDamaged" in message and "re-index" in message, message
    assert fingerprint_dir(settings.data_dir) == before  # nothing deleted behind the user's back
    RESULTS["handled"] += 1
    with pytest.raises(IndexDamaged):
        kb.documents()
    kb.reindex()
    assert kb.search("launch code", k=1)[0].source == "uploads/notes.md"


def fingerprint_dir(folder: Path) -> dict:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- images -----------------------------------------------------------------------------------------------
def image_cases(world) -> dict:
    from assistant.imaging import service

    s = world["settings"]
    text_file = world["settings"].uploads_dir / "notes.md"
    return {
        "draw 0 images": (lambda: raised(service.generate_images, "gan-digits", "7", 0, settings=s), "at least 1"),
        "draw -5 images": (lambda: raised(service.generate_images, "gan-digits", "7", -5, settings=s), "at least 1"),
        "model name traversal": (lambda: raised(service.generate_images, "../../etc/passwd", "7", 1, settings=s),
                                 "invalid model name"),
        "train 99999999 epochs": (lambda: raised(service.train_image_model, "gan", "digits", 99_999_999, settings=s),
                                  "epochs must be between"),
        "train 0 epochs": (lambda: raised(service.train_image_model, "vae", "digits", 0, settings=s),
                           "epochs must be between"),
        "train an unknown model kind": (lambda: raised(service.train_image_model, "flow", "digits", 1,
                                                       settings=s), "unknown image model"),
        "train on an unknown dataset": (lambda: raised(service.train_image_model, "gan", "imagenet", 1, settings=s),
                                        "unknown dataset"),
        "inpaint a text file": (lambda: raised(service.inpaint, str(text_file), 0.25, "ssl-digits", settings=s),
                                "cannot read image"),
        # the chat's tool reads no server folder (a model may be talked into "folder:/root/.ssh")
        "train on a server folder from the chat": (
            lambda: raised(world["services"].tools.registry.tools["train_image_model"].func, "vae", "folder:/etc", 1),
            "admins only"),
    }


IMAGE_CASES = ["draw 0 images", "draw -5 images", "model name traversal", "train 99999999 epochs", "train 0 epochs",
               "train an unknown model kind", "train on an unknown dataset", "inpaint a text file",
               "train on a server folder from the chat"]


@pytest.mark.parametrize("case", IMAGE_CASES)
def test_images(world, case):
    action, expected = image_cases(world)[case]
    check(world, action, expected)


# --- a database locked by another process -----------------------------------------------------------------
LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
db.execute("INSERT INTO users (name, password_hash, role, created_at) VALUES ('locker', 'x', 'user', '2026-01-01')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def hold_lock(settings: Settings, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(settings.data_dir / "assistant.db"), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_write_waits_for_another_process_lock_and_lands(world):
    services = world["services"]
    proc = hold_lock(world["settings"], 1.5)
    started = time.perf_counter()
    conv = services.conversations.create("browser:waiter")
    message_id = services.conversations.add_message(conv.id, "user", "written while locked")
    waited = time.perf_counter() - started
    proc.wait(timeout=30)
    assert waited >= 1.0  # it waited for the lock instead of failing
    assert services.conversations.message(message_id)["content"] == "written while locked"
    assert services.conversations.get("browser:alice", world["conv"]).messages  # the rest is intact
    services.conversations.delete("browser:waiter", conv.id)


def test_backup_works_while_another_process_holds_the_write_lock(world, tmp_path):
    from assistant.backup import backup_database

    proc = hold_lock(world["settings"], 1.0)
    try:
        result = backup_database(world["settings"].db_url, tmp_path / "during-lock.db")
    finally:
        proc.wait(timeout=30)
    assert result["tables"]["votes"] == 1 and result["tables"]["users"] == 0  # the locker's row never committed


def test_summary():
    print(f"\nhostile inputs tried: {RESULTS['tried']}, handled cleanly: {RESULTS['handled']}, "
          f"data changed: {RESULTS['changed']}")
    assert RESULTS["changed"] == 0
