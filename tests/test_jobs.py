"""The JobRunner runs real subprocesses: progress, metrics, cancel, refusal of duplicates, restart survival."""

import os
import re
import signal
import time

import pytest

from assistant.config import Settings
from assistant.jobs import CancelSignal, JobCancelled, JobError, JobRunner


@pytest.fixture()
def runner(tmp_path, database_url):
    return JobRunner(Settings(data_dir=tmp_path / "data", database_url=database_url))


def test_job_runs_in_a_subprocess_and_reports(runner):
    job_id = runner.start("sleep", {"steps": 5, "interval": 0.05})
    info = runner.wait(job_id, timeout=60)
    assert info.status == "succeeded", runner.log_tail(job_id)
    assert info.progress == 1.0 and info.result["steps"] == 5
    # below the chat: a job's worker runs `job_niceness` steps nicer than the app that started it
    assert info.result["niceness"] == min(os.nice(0) + runner.settings.job_niceness, 19)
    assert [m["step"] for m in runner.metrics(job_id)] == [0, 1, 2, 3, 4]
    assert "succeeded" in runner.log_tail(job_id)


def test_failure_is_recorded_with_its_message(runner):
    info = runner.wait(runner.start("sleep", {"steps": 1, "interval": 0.01, "fail": True}), timeout=60)
    assert info.status == "failed" and "asked to fail" in info.message


def test_same_lock_key_is_refused_while_running_and_cancel_works(runner):
    job_id = runner.start("sleep", {"steps": 200, "interval": 0.05}, lock_key="adapter:x")
    with pytest.raises(JobError, match="already"):
        runner.start("sleep", {"steps": 1}, lock_key="adapter:x")
    time.sleep(1.0)
    runner.cancel(job_id)
    info = runner.wait(job_id, timeout=30)
    assert info.status == "cancelled", (info.message, runner.log_tail(job_id))
    # the lock is free again
    runner.wait(runner.start("sleep", {"steps": 1, "interval": 0.01}, lock_key="adapter:x"), timeout=60)


def test_a_cancel_that_arrives_during_a_database_call_is_raised_after_it():
    """SIGTERM inside a query would break a PostgreSQL connection and be recorded as a failure (CI stop 26)."""
    signals, previous = CancelSignal(), signal.getsignal(signal.SIGTERM)
    signals.install()
    finished_the_call = False
    try:
        with pytest.raises(JobCancelled), signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # Python runs the handler here, between bytecodes
            finished_the_call = True
        assert finished_the_call and signals.received
        with pytest.raises(JobCancelled):  # outside a database call it stops the job at once
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_job_that_mostly_queries_the_database_is_recorded_cancelled(runner):
    for attempt in range(4):  # the signal lands at a different point of the query loop each time
        job_id = runner.start("sleep", {"steps": 10**5, "interval": 0.0, "check_every_step": True})
        time.sleep(1.5 + 0.05 * attempt)
        runner.cancel(job_id)
        info = runner.wait(job_id, timeout=30)
        assert info.status == "cancelled", (attempt, info.message, runner.log_tail(job_id))


def test_another_users_busy_job_is_named_without_its_id(runner):
    """The id opens a job's log and Cancel: a refusal tells bob that carol's job runs, not which one it is."""
    carols = runner.start("sleep", {"steps": 200, "interval": 0.05}, lock_key="image:vae-digits", owner="user:carol")
    try:
        with pytest.raises(JobError, match="another user") as refused:
            runner.start("sleep", {"steps": 1}, lock_key="image:vae-digits", owner="user:bob")
        assert carols not in str(refused.value)
        with pytest.raises(JobError, match=carols):  # her own second try names it
            runner.start("sleep", {"steps": 1}, lock_key="image:vae-digits", owner="user:carol")
    finally:
        runner.cancel(carols)
        runner.wait(carols, timeout=30)


def test_startup_marks_the_jobs_of_a_killed_server_failed(services):
    """kill -9 of the app and its worker: at the next start the job is failed at once, not 'running' until
    someone lists the jobs."""
    import signal

    from assistant.startup import StartupStatus, warm_up

    runner = services.jobs
    job_id = runner.start("sleep", {"steps": 500, "interval": 0.05})
    deadline = time.time() + 60
    while runner.get(job_id).pid is None and time.time() < deadline:
        time.sleep(0.1)
    os.killpg(runner.get(job_id).pid, signal.SIGKILL)
    time.sleep(0.5)
    assert runner.get(job_id).status in ("queued", "running")  # nobody has looked yet
    warm_up(services, StartupStatus(), load_model=False).join(timeout=60)
    info = runner.get(job_id)
    assert info.status == "failed" and "SIGKILL" in info.message, info.message


def test_job_survives_a_ui_restart(tmp_path, database_url):
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    job_id = JobRunner(settings).start("sleep", {"steps": 10, "interval": 0.1})
    # the UI process goes away; a new one (new runner, same data dir) still sees the job finish
    info = JobRunner(Settings(data_dir=tmp_path / "data", database_url=database_url)).wait(job_id, timeout=60)
    assert info.status == "succeeded"


def test_unknown_kind(runner):
    with pytest.raises(JobError, match="unknown job kind"):
        runner.start("mine-bitcoin", {})


def test_log_lines_of_processes_sharing_a_log_never_interleave(tmp_path):
    """Ranks of a multi-process job share the worker's log file; with PYTHONUNBUFFERED (as CI runs) print() writes
    the text and the newline apart, and the lines of two ranks ran into each other (a DDP test read "[6, 8]rank 1…")."""
    import subprocess
    import sys

    script = (
        "import sys\nfrom assistant.jobs import log_line\nrank = sys.argv[1]\n"
        "for i in range(3000):\n    log_line(f'rank {rank}: line {i} ' + 'x' * 40)\n"
    )
    log = tmp_path / "log.txt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        workers = [subprocess.Popen([sys.executable, "-c", script, str(rank)], stdout=out, env=env) for rank in (0, 1)]
        assert [w.wait(timeout=120) for w in workers] == [0, 0]
    lines = log.read_text().splitlines()
    assert len(lines) == 6000
    assert all(re.fullmatch(r"rank [01]: line \d+ x{40}", line) for line in lines)
