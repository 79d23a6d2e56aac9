"""Training past one process: SFT, KTO and DPO jobs under `accelerate launch` (DDP over the LoRA weights).

The job worker (assistant/jobs.py) stays the one process the job runner knows. When more than one training process
is configured (`ASSISTANT_TRAIN_PROCESSES`, or one per CUDA device) it starts

    accelerate launch --config_file assistant/training/accelerate/ddp.yaml --num_processes N \
        --main_process_port PORT -m assistant.training.ddp JOB_ID

as its child, in its own process group, and waits. Every rank runs the job's usual function (`sft.run_job`,
`rlhf.run_job`) on its own shard of the data; DDP averages the gradients (accelerate for the SFT loop, trl's Trainer
for KTO/DPO). Rank 0 alone reports progress, metrics and log lines through a JobContext, writes the adapter (the same
atomic save as in one process) and hands the result back in a file; the other ranks only train. Cancel (SIGTERM to
the worker's process group) reaches the launcher, which stops every rank; a rank that fails fails the job with its
error. REINFORCE (`ppo`) is a hand-written loop of sampling and scoring and stays in one process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from assistant.config import REPO_ROOT, Settings
from assistant.jobs import log_line

ACCELERATE_CONFIG = Path(__file__).parent / "accelerate" / "ddp.yaml"
_RANK_OF_JOB = "ASSISTANT_DDP_JOB"  # set on the launched ranks: they train, they never launch again
RESULT_FILE = "ddp_result.json"


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of training processes (0, 1 outside `accelerate launch`)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main_process() -> bool:
    return rank_and_world()[0] == 0


def processes_for(kind: str, config: dict, settings: Settings) -> int:
    """How many processes this job trains in: 1 inside a launched rank and for REINFORCE, else the setting."""
    if os.environ.get(_RANK_OF_JOB) or (kind == "rlhf" and config.get("method") == "ppo"):
        return 1
    return settings.resolved_train_processes()


def accelerator(settings: Settings):  # noqa: ANN201 - accelerate.Accelerator | None
    """The Accelerator of a launched rank (its process group: NCCL on GPUs, gloo on the CPU); None in one process."""
    if rank_and_world()[1] <= 1:
        return None
    from accelerate import Accelerator

    return Accelerator(cpu=settings.resolved_device() == "cpu")


def epoch_batches(examples: list, batch_size: int, rank: int = 0, world: int = 1) -> list[list]:
    """This process's batches of one pass over `examples` (already shuffled, the same order on every rank).

    Global batch i is examples[i*B*W : (i+1)*B*W] and rank r takes its r-th slice of B, so the ranks see disjoint
    shards and one step of N processes covers N batches. With more than one process the pass is filled up from its
    start to whole global batches (as accelerate's `even_batches` does): every rank takes the same number of steps.
    """
    span = batch_size * world
    if world > 1 and len(examples) % span:
        missing = span - len(examples) % span
        examples = examples + (examples * (missing // max(len(examples), 1) + 1))[:missing]
    return [examples[i + rank * batch_size: i + (rank + 1) * batch_size] for i in range(0, len(examples), span)]


def tensors_digest(tensors: dict) -> str:
    """sha256 over named tensors: equal digests mean bit-identical weights."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def lora_digest(model) -> str:  # noqa: ANN001 - a PeftModel
    """The digest of the adapter weights as `save_pretrained` writes them (adapter_model.safetensors)."""
    from peft import get_peft_model_state_dict

    return tensors_digest(get_peft_model_state_dict(model))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(job_id: str, processes: int) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ACCELERATE_CONFIG),
            "--num_processes", str(processes), "--num_machines", "1", "--main_process_port", str(_free_port()),
            "-m", "assistant.training.ddp", job_id]


def run_launched(ctx, processes: int) -> dict:  # noqa: ANN001 - JobContext
    """In the job worker: run the job on `processes` ranks and return rank 0's result."""
    for stale in [ctx.dir / RESULT_FILE, *ctx.dir.glob("ddp_error_rank*.txt")]:
        stale.unlink(missing_ok=True)
    command = launch_command(ctx.job_id, processes)
    ctx.log(f"training in {processes} processes: {' '.join(command[1:])}")
    env = {**os.environ, _RANK_OF_JOB: ctx.job_id, "ASSISTANT_TRAIN_PARENT_PID": str(os.getpid()),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    sys.stdout.flush()
    # Same process group as the worker (no new session): the runner's SIGTERM to the group reaches the launcher,
    # which stops the ranks (torchrun starts each in a session of its own). Output goes to the job's log.
    launcher = subprocess.Popen(command, env=env, cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL)
    try:
        code = launcher.wait()
    except BaseException:  # the worker's SIGTERM (a cancel) raises its own JobCancelled: stop the ranks first
        ctx.log("stopping the training processes")
        _stop(launcher)
        ctx.log(f"training processes stopped (accelerate launch exit status {launcher.returncode})")
        raise
    if code != 0:
        ctx.check_cancelled()  # rank 0 saw the cancel first and stopped: a cancel, not a failure
        errors = sorted(ctx.dir.glob("ddp_error_rank*.txt"))
        what = errors[0].read_text().strip() if errors else "a training process died without a Python error"
        raise RuntimeError(f"{what} (accelerate launch exited with status {code}); see the job log")
    result_path = ctx.dir / RESULT_FILE
    result = json.loads(result_path.read_text())
    result_path.unlink()
    return result


def _stop(launcher: subprocess.Popen, grace: float = 15.0) -> None:
    """After a cancel: give the launcher time to stop its ranks, then ask it once more, then kill it."""
    # The runner's SIGTERM went to the whole group, the launcher included; a second one would interrupt its
    # clean-up of the ranks, so it is sent only to a launcher that has not finished after the grace time.
    for ask in (None, signal.SIGTERM, signal.SIGKILL):
        if ask is not None:
            with contextlib.suppress(ProcessLookupError):
                launcher.send_signal(ask)
        try:
            launcher.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


class RankContext:
    """What a rank other than 0 gets instead of a JobContext: the same settings and folder, silent reporting."""

    def __init__(self, job_id: str, settings: Settings, rank: int) -> None:
        self.job_id, self.settings, self.rank = job_id, settings, rank
        self.dir = settings.jobs_dir / job_id

    def progress(self, fraction: float, message: str = "", force: bool = False) -> None:
        pass

    def metric(self, step: int, **values: float) -> None:
        pass

    def log(self, message: str) -> None:
        log_line(f"[rank {self.rank}] {message}")

    def check_cancelled(self) -> None:
        pass


def _exit_with_the_launcher() -> None:
    """A rank whose launcher is gone (killed outright) would wait in a collective forever: exit instead."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="launcher-watch").start()


def rank_main(job_id: str) -> int:
    """Entry point of each rank under `accelerate launch`: run the job's function; rank 0 reports and saves."""
    from assistant.db import Job, get_database
    from assistant.jobs import JobCancelled, JobContext, _resolve, cancel_signal
    from assistant.storage import atomic_write_json

    rank, world = rank_and_world()
    settings = Settings()
    db = get_database(settings)
    with db.session() as s:
        row = s.get(Job, job_id)
        kind, config = row.kind, dict(row.config)

    cancel_signal.install()  # raises JobCancelled, which unwinds, so a half-written adapter folder is removed
    _exit_with_the_launcher()
    ctx = JobContext(job_id, settings, db) if rank == 0 else RankContext(job_id, settings, rank)
    log_line(f"rank {rank}/{world} (pid {os.getpid()}) starts the {kind} job {job_id}")
    try:
        result = _resolve(kind)(config, ctx) or {}
    except JobCancelled:
        log_line(f"rank {rank}/{world}: cancelled")
        return 1
    except BaseException as exc:
        traceback.print_exc()
        with contextlib.suppress(OSError):
            (ctx.dir / f"ddp_error_rank{rank}.txt").write_text(
                f"training rank {rank} of {world} failed: {type(exc).__name__}: {exc}")
        return 1
    if rank == 0:
        atomic_write_json(ctx.dir / RESULT_FILE, result)
    log_line(f"rank {rank}/{world}: done")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: accelerate launch ... -m assistant.training.ddp JOB_ID", file=sys.stderr)
        sys.exit(2)
    sys.exit(rank_main(sys.argv[1]))
