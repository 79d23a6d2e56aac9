"""`python -m assistant backup PATH`: a consistent copy of the live SQLite database, taken with SQLite's online
backup API while the app keeps running.

Never copy `assistant.db` with cp/rsync/a download: a copy made during a write can miss the WAL or tear a page,
and a process that opens and closes the file outside SQLite drops SQLite's POSIX locks (see docs/reliability.md).
The backup reads one snapshot in a single read transaction (WAL readers never block the writer), writes it to a
temp file beside the destination, checks it, and renames it into place: PATH is either the old file or the
complete new one.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path


class BackupError(RuntimeError):
    pass


def sqlite_path(db_url: str) -> Path:
    if not db_url.startswith("sqlite:///"):
        raise BackupError(
            f"backup copies a SQLite database; this one is {db_url.split(':', 1)[0]} (use that server's own tool, "
            "e.g. pg_dump)"
        )
    return Path(db_url.removeprefix("sqlite:///")).expanduser().resolve()


def backup_database(db_url: str, destination: Path, overwrite: bool = False) -> dict:
    source = sqlite_path(db_url)
    if not source.exists():
        raise BackupError(f"no database at {source}")
    destination = Path(destination).expanduser()
    if destination.is_dir():
        destination = destination / f"assistant-{time.strftime('%Y%m%d-%H%M%S')}.db"
    destination = destination.resolve()
    if destination in (source, Path(f"{source}-wal"), Path(f"{source}-shm")):
        raise BackupError("the backup cannot replace the live database; pick another path")
    if destination.exists() and not overwrite:
        raise BackupError(f"{destination} already exists (pass --force to replace it)")
    destination.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # Read-only URI: the backup can never write to (or checkpoint) the live database.
        src = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)  # pages=-1: the whole database from one consistent snapshot
                dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
                check = dst.execute("PRAGMA integrity_check").fetchone()[0]
                if check != "ok":
                    raise BackupError(f"the backup failed its integrity check: {check}")
                tables = {
                    name: dst.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                    for (name,) in dst.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
                }
            finally:
                dst.close()
        finally:
            src.close()
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, destination)
        dir_fd = os.open(destination.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {
        "path": str(destination),
        "bytes": destination.stat().st_size,
        "tables": tables,
        "seconds": round(time.perf_counter() - started, 3),
    }
