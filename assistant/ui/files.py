"""Handing files to the page without serving our folders.

Gradio serves only what it copied into its own cache (content-hash names) plus `allowed_paths`, which we leave
empty; the data dir is in `blocked_paths`, which also stops Gradio from copying anything out of it. So a file
from the data dir reaches a page in one of two ways: a picture as pixels (`image` / `images`: Gradio caches its
own copy), or a download staged outside the data dir first (`publish_download`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from assistant.security import load_generated_image

DOWNLOADS = "assistant-downloads"
KEEP_SECONDS = 3600


def image(path: str | Path | None, images_root: Path):  # noqa: ANN201 - PIL image or None
    return load_generated_image(path, images_root) if path else None


def images(paths: list, images_root: Path) -> list:
    return [img for img in (image(p, images_root) for p in paths or []) if img is not None]


def forget_upload(path: str | Path) -> None:
    """Delete Gradio's cached copy of an uploaded file once it has been read: a private upload's copy stayed in the
    shared cache, served to any logged-in user who had its path (a hostile probe). Only files in that cache."""
    from gradio.utils import get_upload_folder

    cache = Path(get_upload_folder()).resolve()
    copy = Path(path).resolve()
    if cache not in copy.parents:
        return
    copy.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the content-hash folder, now empty (or still holding another file)
        copy.parent.rmdir()


def publish_download(path: str | Path) -> str:
    """A copy of `path` under a random folder in the temp dir (older copies are swept), for a gr.File output."""
    root = Path(tempfile.gettempdir()) / DOWNLOADS
    root.mkdir(mode=0o700, exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        try:
            if now - old.stat().st_mtime > KEEP_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
    folder = root / uuid.uuid4().hex
    folder.mkdir(mode=0o700)
    return str(shutil.copy(path, folder / Path(path).name))


def publish_text(name: str, text: str) -> str:
    """`text` (UTF-8) as a download named `name`, staged like `publish_download` (for gr.DownloadButton)."""
    staging = Path(tempfile.mkdtemp(prefix="assistant-export-"))
    try:
        source = staging / Path(name).name
        source.write_text(text, encoding="utf-8")
        return publish_download(source)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
