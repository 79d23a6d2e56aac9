"""Work done once when the app starts, in a background thread: load the model, index the shipped knowledge."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from assistant.storage import atomic_write_json

log = logging.getLogger(__name__)


@dataclass
class StartupStatus:
    """What the footer shows while the app warms up; written by one thread, read by many."""

    model: str = "not loaded"
    knowledge: str = "not indexed"
    knowledge_progress: float = 0.0
    errors: list[str] = field(default_factory=list)
    model_started: float | None = None  # monotonic time the model load began (while loading)
    model_expected_s: float | None = None  # how long it took last time in this data dir
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # "startup-status"

    def set(self, **values: object) -> None:
        with self.lock:
            for key, value in values.items():
                setattr(self, key, value)

    def line(self) -> str:
        with self.lock:
            model = self.model
            if self.model_started is not None:
                # a first load assembles and converts the model: say how long so far, and what to expect
                model += f" {time.monotonic() - self.model_started:.0f} s"
                if self.model_expected_s:
                    model += f" (last time {self.model_expected_s:.0f} s)"
            parts = [f"model: {model}", f"knowledge: {self.knowledge}"]
            if 0 < self.knowledge_progress < 1:
                parts[-1] += f" ({self.knowledge_progress:.0%})"
            return " · ".join(parts + [f"⚠️ {e}" for e in self.errors[-2:]])


LAST_LOAD_FILE = "last_model_load.json"  # data dir: how long the last model load took, for the next start's estimate


def _last_load(path: Path) -> float | None:
    try:
        return float(json.loads(path.read_text(encoding="utf-8"))["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def loaded_line(engine) -> str:  # noqa: ANN001 - LLMEngine
    """How the footer names a loaded model (a GGUF given by path by its file name: every user sees the footer)."""
    info = engine.loaded
    name = Path(engine.name).name if "/" in engine.name and engine.name.endswith(".gguf") else engine.name
    return f"{name} · {info.quant} · {info.device} (loaded in {info.load_seconds:.1f} s)"


def warm_up(services, status: StartupStatus, load_model: bool = True) -> threading.Thread:  # noqa: ANN001
    """Start the warm-up thread and return it."""

    def run() -> None:
        # Jobs whose worker died with the last server (kill -9, reboot) are marked failed at once, not when someone
        # next lists the jobs; the ones waiting for a slot start.
        try:
            services.jobs.dispatch()
        except Exception:  # noqa: BLE001 - the app still serves; the Jobs tab retries
            log.exception("could not check the jobs left by the last run")
        # The model first: it takes seconds and is what the person came for; the first indexing of the
        # shipped documents takes a minute on a fresh machine (until it is saved, searches find no documents).
        if load_model:
            record = services.settings.data_dir / LAST_LOAD_FILE
            try:
                status.set(model="loading…", model_started=time.monotonic(), model_expected_s=_last_load(record))
                started = time.perf_counter()
                engine = services.llm
                seconds = time.perf_counter() - started
                with contextlib.suppress(OSError):
                    atomic_write_json(record, {"model": engine.name, "seconds": round(seconds, 1)})
                status.set(model=loaded_line(engine), model_started=None)
                resident, problems = services.adapters.preload()
                if resident:
                    status.set(model=f"{status.model} · adapters ready: {', '.join(resident)}")
                if problems:
                    status.set(errors=[*status.errors, *(f"adapter {p}" for p in problems)])
            except Exception as exc:  # noqa: BLE001
                log.exception("model loading failed")
                status.set(model="failed", model_started=None, errors=[*status.errors, f"model: {exc}"])
        if services.settings.auto_index_knowledge:
            try:
                status.set(knowledge="indexing…")
                started = time.perf_counter()

                def progress(fraction: float, message: str = "") -> None:
                    status.set(knowledge_progress=fraction, knowledge=f"indexing {message}".strip())

                report = services.knowledge.sync_folder(progress=progress)
                summary = getattr(report, "summary", lambda: "ready")()
                status.set(knowledge=f"{summary} in {time.perf_counter() - started:.1f} s", knowledge_progress=1.0)
            except Exception as exc:  # noqa: BLE001 - the chat still works without the index
                log.exception("knowledge indexing failed")
                status.set(knowledge="unavailable", errors=[*status.errors, f"knowledge: {exc}"])

    thread = threading.Thread(target=run, name="warm-up", daemon=True)
    thread.start()
    return thread
