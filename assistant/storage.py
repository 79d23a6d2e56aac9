"""Safe names and atomic writes: nothing the app stores is ever half-written."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class InvalidName(ValueError):
    """A user-supplied name that could escape its folder or is otherwise unusable."""


# Names Windows reserves for devices (with any extension): a folder copied there would break or hang.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def check_name(name: str, what: str = "name") -> str:
    """Accept `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}` without `..` or a device name (CON, NUL, …); refuse anything else."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise InvalidName(
            f"invalid {what} {name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    if name.split(".", 1)[0].lower() in _RESERVED:
        raise InvalidName(f"invalid {what} {name!r}: {name.split('.', 1)[0]} is a reserved device name")
    return name


def inside(base: Path, candidate: Path) -> Path:
    """Resolve `candidate` and make sure it lies within `base` (blocks `../../etc`)."""
    base = base.resolve()
    resolved = (base / candidate).resolve() if not candidate.is_absolute() else candidate.resolve()
    if resolved != base and base not in resolved.parents:
        raise InvalidName(f"path {str(candidate)!r} is outside {str(base)!r}")
    return resolved


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str))


_crash_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Fault injection for the crash tests (tests/test_crash.py); does nothing unless asked for.

    With `ASSISTANT_CRASH_POINT=<name>[@n]` the n-th time (default the first) this process passes `<name>`, it
    creates the file named by `ASSISTANT_CRASH_MARKER` and waits there to be killed (SIGKILL), so a test kills a
    writer at an exact point instead of after a guessed sleep.
    """
    wanted = os.environ.get("ASSISTANT_CRASH_POINT")
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    _crash_hits[name] = _crash_hits.get(name, 0) + 1
    if _crash_hits[name] != (int(nth) if nth.isdigit() else 1):
        return
    marker = os.environ.get("ASSISTANT_CRASH_MARKER")
    if marker:
        Path(marker).write_text(str(os.getpid()))
    import time

    time.sleep(120)  # the test kills us here; if it does not, carry on


def _temp_name(kind: str, final_name: str) -> str:
    """`.tmp-<name>~<pid>~<random>`: '~' never occurs in a checked name, so the writer's pid can be read back."""
    return f".{kind}-{final_name}~{os.getpid()}~{uuid.uuid4().hex[:8]}"


def _temp_owner(name: str) -> tuple[str, int] | None:
    """(final name, writer pid) of a temp made by `_temp_name`; None for another (older) naming."""
    body = name.split("-", 1)[1] if "-" in name else ""
    parts = body.rsplit("~", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) writes nothing more
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


@contextmanager
def atomic_dir(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp folder beside `final`; on success rename it into place, on error remove it.

    The temp folder starts with '.' so listings (adapters, checkpoints) never show a half-written one, and it
    carries the writer's pid so `clean_stale_temps` leaves a live writer's folder alone and, after a kill between
    the two renames of a replacement, puts the previous complete folder back.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} already exists")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / _temp_name("tmp", final.name)
    tmp.mkdir()
    try:
        yield tmp
        _fsync_tree(tmp)
        crash_point("atomic_dir:before-rename")
        if final.exists():
            # Swap via a second rename so a reader never sees the folder missing for long.
            old = final.parent / _temp_name("old", final.name)
            os.replace(final, old)
            crash_point("atomic_dir:swap")
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_tree(folder: Path) -> None:
    """Flush the files of a finished temp folder, so the rename never publishes data still only in the page cache."""
    for path in folder.rglob("*"):
        if path.is_file():
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            except OSError:
                pass  # a file system without fsync: the rename is still atomic
            finally:
                os.close(fd)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def clean_stale_temps(folder: Path) -> None:
    """Remove what killed writers left behind; never a live writer's temp folder.

    A process killed between the two renames of a replacement (`atomic_dir(overwrite=True)`) leaves the previous
    folder as `.old-<name>~<pid>~…` and nothing at `<name>`: that previous, complete folder is renamed back.
    Temps of the older naming (no pid) are removed as before.
    """
    if not folder.exists():
        return
    for child in sorted(folder.iterdir()):
        if not child.name.startswith((".tmp-", ".old-")):
            continue
        owner = _temp_owner(child.name)
        if owner is not None and _pid_alive(owner[1]):
            continue  # still being written (or swapped) by a running process
        if owner is not None and child.name.startswith(".old-") and child.is_dir():
            final = folder / owner[0]
            if not final.exists():
                try:
                    os.replace(child, final)
                    continue
                except OSError:
                    pass
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
