"""`python -m assistant backup`: SQLite's online backup while another thread keeps writing messages. Every message
committed before the backup started is in it, the backup is one consistent snapshot, and the live database is
intact and complete afterwards."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

import assistant.cli as cli
from assistant.backup import BackupError, backup_database
from assistant.conversations import ConversationStore
from assistant.db import Database
from tests.app_server import make_settings


def message_ids(path) -> list[int]:  # noqa: ANN001
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [row[0] for row in db.execute("SELECT id FROM messages ORDER BY id")]


@pytest.fixture()
def live(tmp_path):
    settings = make_settings(tmp_path)
    settings.ensure_dirs()
    store = ConversationStore(Database.for_url(settings.db_url))
    return settings, store


def test_backup_during_writes_keeps_every_committed_message(live, tmp_path, monkeypatch, capsys):
    settings, store = live
    conv = store.create("browser:writer")
    committed: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            committed.append(store.add_message(conv.id, "user", f"message {i} " + "x" * 500))
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(committed) < 200:
            time.sleep(0.01)
        backups = []
        for n in range(3):
            before = list(committed)
            target = tmp_path / "backups" / f"b{n}.db"
            if n == 2:  # the CLI, as a user runs it
                monkeypatch.setattr(cli, "get_settings", lambda: settings)
                assert cli.main(["backup", str(target)]) == 0
                assert "backed up to" in capsys.readouterr().out
            else:
                backup_database(settings.db_url, target)
            backups.append((before, target))
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    for before, target in backups:
        copied = message_ids(target)
        assert set(before) <= set(copied)  # nothing committed before the backup is missing
        assert copied == list(range(copied[0], copied[0] + len(copied)))  # one consistent snapshot, no holes
        assert set(copied) <= set(committed)
    assert message_ids(settings.data_dir / "assistant.db") == sorted(committed)  # the live DB lost nothing
    assert not [p for p in (tmp_path / "backups").iterdir() if p.name.startswith(".")]  # no temp files left
    with sqlite3.connect(backups[0][1]) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file


def test_backup_refuses_what_it_should(live, tmp_path):
    settings, store = live
    store.create("browser:x")
    target = tmp_path / "one.db"
    backup_database(settings.db_url, target)
    with pytest.raises(BackupError, match="already exists"):
        backup_database(settings.db_url, target)
    backup_database(settings.db_url, target, overwrite=True)
    with pytest.raises(BackupError, match="live database"):
        backup_database(settings.db_url, settings.data_dir / "assistant.db", overwrite=True)
    with pytest.raises(BackupError, match="pg_dump"):
        backup_database("postgresql://u@h/db", target)
    with pytest.raises(BackupError, match="no database"):
        backup_database(f"sqlite:///{tmp_path / 'missing.db'}", tmp_path / "x.db")
    folder = tmp_path / "dated"
    folder.mkdir()
    result = backup_database(settings.db_url, folder)
    assert result["path"].startswith(str(folder)) and result["tables"]["conversations"] == 1
