"""JobRunner: long work (training, ingestion) as a background subprocess recorded in the DB.

A job is `python -m assistant.jobs run JOB_ID`, started in its own process group so it survives a UI
restart. The worker reads its config from the DB, calls the registered function for its kind with a
`JobContext`, and writes progress, metrics (jobs/<id>/metrics.jsonl) and a log (jobs/<id>/log.txt).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import select

from assistant.config import REPO_ROOT, Settings
from assistant.db import Database, Job, get_database, utcnow

log = logging.getLogger(__name__)

# kind -> "module:function". Each function is `fn(config: dict, ctx: JobContext) -> dict` (the result).
JOB_KINDS: dict[str, str] = {
    "sft": "assistant.training.sft:run_job",
    "reward": "assistant.training.reward:run_job",
    "rlhf": "assistant.training.rlhf:run_job",
    "image_train": "assistant.imaging.jobs:train_job",
    "ingest": "assistant.knowledge.jobs:ingest_job",
    "sleep": "assistant.jobs:sleep_job",  # a tiny real job for tests of the runner itself
}
ACTIVE = ("queued", "running")


class JobError(RuntimeError):
    """A job could not be started (unknown kind, duplicate, bad config)."""


class JobCancelled(Exception):
    """Raised inside a job when the user asked to cancel it."""


@dataclass
class JobInfo:
    id: str
    kind: str
    status: str
    progress: float
    message: str
    config: dict
    result: dict
    created_at: Any
    started_at: Any
    finished_at: Any

    @classmethod
    def from_row(cls, row: Job) -> JobInfo:
        return cls(
            row.id,
            row.kind,
            row.status,
            row.progress,
            row.message,
            row.config,
            row.result,
            row.created_at,
            row.started_at,
            row.finished_at,
        )


class JobRunner:
    """Starts, lists, cancels and reconciles jobs. Safe to create many times: all state is in the DB."""

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or get_database(settings)

    def job_dir(self, job_id: str) -> Path:
        return self.settings.jobs_dir / job_id

    def start(self, kind: str, config: dict, lock_key: str | None = None) -> str:
        """Start a job now; refuse (JobError) while another job holds the same lock key."""
        if kind not in JOB_KINDS:
            raise JobError(f"unknown job kind {kind!r}; known: {', '.join(sorted(JOB_KINDS))}")
        lock_key = lock_key or kind
        self.reconcile()
        with self.db.session() as s:
            busy = s.scalars(select(Job).where(Job.lock_key == lock_key, Job.status.in_(ACTIVE))).first()
            if busy is not None:
                raise JobError(
                    f"a {busy.kind} job ({busy.id}) is already {busy.status} for {lock_key!r}; "
                    "wait for it or cancel it first"
                )
            job = Job(kind=kind, lock_key=lock_key, config=json.loads(json.dumps(config, default=str)))
            s.add(job)
            s.flush()
            job_id = job.id
        job_dir = self.job_dir(job_id)
        job_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["ASSISTANT_DATA_DIR"] = str(self.settings.data_dir)
        env["ASSISTANT_DATABASE_URL"] = self.db.url
        env["ASSISTANT_ADAPTERS_DIR"] = str(self.settings.adapters_dir)
        env["ASSISTANT_MODEL_CACHE_DIR"] = str(self.settings.models_dir)
        env["ASSISTANT_MODEL"] = self.settings.model
        env["ASSISTANT_KNOWLEDGE_DIR"] = str(self.settings.knowledge_dir)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        with open(job_dir / "log.txt", "ab") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "assistant.jobs", "run", job_id],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(REPO_ROOT),
                env=env,
                start_new_session=True,  # survives the UI process
            )
        with self.db.session() as s:
            row = s.get(Job, job_id)
            if row.status == "queued":
                row.pid = proc.pid
        return job_id

    def get(self, job_id: str) -> JobInfo:
        with self.db.session() as s:
            row = s.get(Job, job_id)
            if row is None:
                raise JobError(f"no job {job_id!r}")
            return JobInfo.from_row(row)

    def list(self, kind: str | None = None, limit: int = 50) -> list[JobInfo]:
        self.reconcile()
        with self.db.session() as s:
            query = select(Job).order_by(Job.created_at.desc()).limit(limit)
            if kind:
                query = query.where(Job.kind == kind)
            return [JobInfo.from_row(r) for r in s.scalars(query)]

    def cancel(self, job_id: str) -> JobInfo:
        """Ask the job to stop at its next check; kill it if it does not within a few seconds."""
        with self.db.session() as s:
            row = s.get(Job, job_id)
            if row is None:
                raise JobError(f"no job {job_id!r}")
            if row.status not in ACTIVE:
                return JobInfo.from_row(row)
            row.cancel_requested = True
            pid = row.pid
        if pid and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)  # the worker turns SIGTERM into JobCancelled
        return self.get(job_id)

    def wait(self, job_id: str, timeout: float = 600.0, poll: float = 0.5) -> JobInfo:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.reconcile()
            info = self.get(job_id)
            if info.status not in ACTIVE:
                return info
            time.sleep(poll)
        raise TimeoutError(f"job {job_id} still running after {timeout:.0f} s")

    def metrics(self, job_id: str) -> list[dict]:
        path = self.job_dir(job_id) / "metrics.jsonl"
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written right now
                continue
        return rows

    def log_tail(self, job_id: str, chars: int = 4000) -> str:
        path = self.job_dir(job_id) / "log.txt"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def reconcile(self) -> None:
        """Mark jobs whose process died (crash, reboot) as failed, so nothing stays 'running' forever."""
        with self.db.session() as s:
            for row in s.scalars(select(Job).where(Job.status.in_(ACTIVE))):
                if row.pid is None:
                    if (utcnow() - row.created_at).total_seconds() > 60:
                        row.status, row.message, row.finished_at = "failed", "worker never started", utcnow()
                    continue
                if not _alive(row.pid):
                    row.status = "cancelled" if row.cancel_requested else "failed"
                    row.message = row.message or "the job process exited unexpectedly; see its log"
                    row.finished_at = utcnow()


def _alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class JobContext:
    """What a running job sees: its settings and config, and ways to report progress and metrics."""

    def __init__(self, job_id: str, settings: Settings, db: Database) -> None:
        self.job_id = job_id
        self.settings = settings
        self.db = db
        self.dir = settings.jobs_dir / job_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self._metrics = open(self.dir / "metrics.jsonl", "a", buffering=1)  # noqa: SIM115
        self._last_db_write = 0.0

    def progress(self, fraction: float, message: str = "", force: bool = False) -> None:
        """Record progress (0..1); throttled so a fast loop does not hammer the DB."""
        now = time.monotonic()
        if not force and now - self._last_db_write < 0.5 and fraction < 1.0:
            return
        self._last_db_write = now
        with self.db.session() as s:
            row = s.get(Job, self.job_id)
            row.progress = max(0.0, min(1.0, float(fraction)))
            if message:
                row.message = message
            cancel = row.cancel_requested
        if cancel:
            raise JobCancelled()

    def metric(self, step: int, **values: float) -> None:
        self._metrics.write(json.dumps({"step": step, "time": time.time(), **values}) + "\n")

    def log(self, message: str) -> None:
        print(message, flush=True)

    def check_cancelled(self) -> None:
        with self.db.session() as s:
            if s.get(Job, self.job_id).cancel_requested:
                raise JobCancelled()


def _resolve(kind: str) -> Callable[[dict, JobContext], dict]:
    module_name, func_name = JOB_KINDS[kind].split(":")
    return getattr(importlib.import_module(module_name), func_name)


def run_worker(job_id: str) -> int:
    """Entry point of the job subprocess."""
    settings = Settings()
    db = get_database(settings)
    with db.session() as s:
        row = s.get(Job, job_id)
        if row is None:
            print(f"no job {job_id}", file=sys.stderr)
            return 2
        row.status, row.started_at, row.pid = "running", utcnow(), os.getpid()
        kind, config = row.kind, dict(row.config)

    def _on_term(_signum, _frame):  # noqa: ANN001
        raise JobCancelled()

    signal.signal(signal.SIGTERM, _on_term)
    ctx = JobContext(job_id, settings, db)
    status, message, result = "succeeded", "done", {}
    try:
        ctx.log(f"job {job_id} ({kind}) started with config {json.dumps(config, default=str)}")
        result = _resolve(kind)(config, ctx) or {}
    except JobCancelled:
        status, message = "cancelled", "cancelled by the user"
    except Exception as exc:  # noqa: BLE001 - every failure becomes a visible job message
        traceback.print_exc()
        status, message = "failed", f"{type(exc).__name__}: {exc}"
    with db.session() as s:
        row = s.get(Job, job_id)
        row.status, row.message, row.finished_at = status, message, utcnow()
        row.result = json.loads(json.dumps(result, default=str))
        if status == "succeeded":
            row.progress = 1.0
    ctx.log(f"job {job_id} {status}: {message}")
    return 0 if status == "succeeded" else 1


def sleep_job(config: dict, ctx: JobContext) -> dict:
    """Counts to `steps`, sleeping between steps: exercises progress, metrics and cancel."""
    steps = int(config.get("steps", 10))
    for step in range(steps):
        time.sleep(float(config.get("interval", 0.1)))
        ctx.metric(step, loss=1.0 / (step + 1))
        ctx.progress((step + 1) / steps, f"step {step + 1}/{steps}")
    if config.get("fail"):
        raise ValueError("asked to fail")
    return {"steps": steps}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        sys.exit(run_worker(sys.argv[2]))
    print("usage: python -m assistant.jobs run JOB_ID", file=sys.stderr)
    sys.exit(2)
