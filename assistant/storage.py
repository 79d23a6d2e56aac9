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


@contextmanager
def atomic_dir(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp folder beside `final`; on success rename it into place, on error remove it.

    The temp folder starts with '.' so listings (adapters, checkpoints) never show a half-written one.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} already exists")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            # Swap via a second rename so a reader never sees the folder missing for long.
            old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def clean_stale_temps(folder: Path) -> None:
    """Remove temp folders a killed process left behind."""
    if not folder.exists():
        return
    for child in folder.iterdir():
        if child.name.startswith((".tmp-", ".old-")):
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
