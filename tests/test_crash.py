"""Crash safety: each test SIGKILLs a real process mid-way, then checks nothing committed is lost, nothing
half-written is visible, a killed job shows as failed with its log, and the next run works.

The kill point is detected, never guessed: a job's own progress (its metrics file, log or DB message), a line a
writer prints after each commit, or a fault-injection point (`assistant.storage.crash_point`, switched on by
`ASSISTANT_CRASH_POINT`) where the process creates a marker file and waits to be killed.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from assistant.jobs import JobRunner

REPO = Path(__file__).resolve().parent.parent
RESULTS: dict[str, bool] = {}


def wait_for(condition: Callable[[], object], timeout: float, what: str, proc_alive=None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc_alive is not None and not proc_alive():
            raise AssertionError(f"the process ended before {what}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def kill_job(runner: JobRunner, job_id: str, condition: Callable[[], object], timeout: float = 90) -> None:
    """Wait until `condition` holds while the job runs, then SIGKILL its whole process group."""
    def alive() -> bool:
        return runner.get(job_id).status in ("queued", "running")

    try:
        wait_for(lambda: runner.get(job_id).pid is not None, 30, "the worker to start")
        wait_for(condition, timeout, "the kill point", alive)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; job: {runner.get(job_id)}; log:\n{runner.log_tail(job_id)}") from None
    os.killpg(runner.get(job_id).pid, signal.SIGKILL)
    time.sleep(0.2)


def assert_failed_with_log(runner: JobRunner, job_id: str) -> None:
    info = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        runner.reconcile()
        info = runner.get(job_id)
        if info.status not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert info.status == "failed", info
    assert "SIGKILL" in info.message and "see its log" in info.message, info.message
    log = runner.log_tail(job_id, 100_000)
    assert f"job {job_id}" in log and "started with config" in log  # what the worker wrote before dying
    assert "marked failed" in log and "SIGKILL" in log  # the runner's line saying why it stopped


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def db_ok(settings) -> None:  # noqa: ANN001
    with sqlite3.connect(settings.data_dir / "assistant.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def record(name: str) -> None:
    RESULTS[name] = True


# --- 1. knowledge ingestion -------------------------------------------------------------------------------
def test_kill_during_ingestion(settings, tmp_path):
    from assistant.knowledge.index import KnowledgeIndex
    from assistant.knowledge.service import KnowledgeBase

    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "seed.md").write_text("# Seed\n\nThe harbour pilot boards at buoy seventeen.\n")
    settings = settings.model_copy(update={"knowledge_dir": knowledge})
    kb = KnowledgeBase(settings)
    kb.sync_folder()
    version, chunks = kb.index.version, len(kb.index)
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    big = settings.uploads_dir / "big.txt"
    big.write_text("\n".join(f"Line {i}: tide tables, mooring lines and harbour fees for berth {i % 97}."
                             for i in range(1000)))
    runner = JobRunner(settings)
    job_id = runner.start("ingest", {"paths": [str(big)]}, lock_key="knowledge")
    kill_job(runner, job_id, lambda: "embedding" in runner.get(job_id).message)
    assert_failed_with_log(runner, job_id)
    # The live index is the previous, complete version; no half-written version is visible.
    fresh = KnowledgeBase(settings)
    assert fresh.index.version == version and len(fresh.index) == chunks
    assert fresh.search("harbour pilot buoy", k=1)[0].source == "knowledge/seed.md"
    assert [p.name for p in settings.index_dir.glob("v-*")] == [version]
    # Restart: the same ingestion runs to the end and tidies the killed writer's temp folder.
    again = runner.start("ingest", {"paths": [str(big)]}, lock_key="knowledge")
    info = runner.wait(again, timeout=180)
    assert info.status == "succeeded", runner.log_tail(again)
    index = KnowledgeIndex(settings.index_dir, kb.embeddings).load()
    assert "uploads/big.txt" in index.files and len(index) > chunks
    assert not [p for p in settings.index_dir.iterdir() if p.name.startswith((".tmp-", ".old-"))]
    record("ingestion")


# --- 2. LoRA SFT job, killed while its finished adapter waits to be renamed into place ---------------------------
def write_chat(path: Path, n: int) -> str:
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Question {i}?"},
                                                     {"role": "assistant", "content": "Short answer."}]}) + "\n"
                            for i in range(n)))
    return str(path)


def test_kill_sft_job_while_writing_the_adapter(settings, tmp_path, monkeypatch):
    from assistant.adapters import AdapterRegistry

    config = {"name": "crashy", "data": write_chat(tmp_path / "chat.jsonl", 12), "max_steps": 2, "batch_size": 4,
              "learning_rate": 5e-3, "rank": 4, "behaviour_prompts": 1}
    marker = tmp_path / "sft-at-rename"
    monkeypatch.setenv("ASSISTANT_CRASH_POINT", "atomic_dir:before-rename")
    monkeypatch.setenv("ASSISTANT_CRASH_MARKER", str(marker))
    runner = JobRunner(settings)
    job_id = runner.start("sft", config, lock_key="adapter:crashy")
    monkeypatch.delenv("ASSISTANT_CRASH_POINT")
    kill_job(runner, job_id, marker.exists, timeout=120)
    # The adapter was complete in its temp folder, but never renamed: nothing is visible, nothing is listed.
    assert [p for p in settings.adapters_dir.iterdir() if p.name.startswith(".tmp-crashy")]
    assert visible(settings.adapters_dir) == []
    assert_failed_with_log(runner, job_id)
    registry = AdapterRegistry(settings)
    assert registry.list() == [] and list(settings.adapters_dir.iterdir()) == []  # the dead writer's temp is gone
    # Restart: the same training (same lock, same name) runs to the end.
    again = runner.start("sft", config, lock_key="adapter:crashy")
    info = runner.wait(again, timeout=180)
    assert info.status == "succeeded", runner.log_tail(again)
    assert registry.names() == ["crashy"] and registry.get("crashy").metrics["steps"] == 2
    record("sft")


# --- 3. RLHF (KTO) job, killed between optimisation steps -------------------------------------------------------
def seed_votes(settings, n: int = 4) -> list[int]:  # noqa: ANN001
    from assistant.services import Services

    services = Services(settings)
    ids = []
    for i in range(n):
        conv = services.conversations.create("user:ann")
        question = f"Tell me about topic {i}"
        services.conversations.add_message(conv.id, "user", question)
        # A reply the model wrote, with the exact input it was given: what RLHF learns from.
        model_input = {"messages": [{"role": "user", "content": question}], "cot_mode": "direct"}
        reply = services.conversations.add_message(conv.id, "assistant", "Sure." if i % 2 else "A long answer " * 5,
                                                   meta={"adapter": None, "cot_mode": "direct",
                                                         "model_input": model_input})
        services.feedback.vote("user:ann", reply, bool(i % 2))
        ids.append(reply)
    return ids


def test_kill_rlhf_job_mid_training(settings):
    from assistant.adapters import AdapterRegistry

    votes = seed_votes(settings)
    runner = JobRunner(settings)
    config = {"method": "kto", "name": "rl-crash", "start_from": "base", "steps": 500, "batch_size": 2,
              "min_votes": 2, "evaluate": False, "max_length": 96, "learning_rate": 1e-2}
    job_id = runner.start("rlhf", config, lock_key="rlhf", owner="user:admin")
    kill_job(runner, job_id, lambda: len(runner.metrics(job_id)) >= 2, timeout=150)
    assert_failed_with_log(runner, job_id)
    assert runner.get(job_id).owner == "user:admin"
    registry = AdapterRegistry(settings)
    assert registry.list() == [] and visible(settings.adapters_dir) == []
    db_ok(settings)
    with sqlite3.connect(settings.data_dir / "assistant.db") as db:
        assert sorted(r[0] for r in db.execute("SELECT message_id FROM votes")) == sorted(votes)
    again = runner.start("rlhf", {**config, "steps": 2}, lock_key="rlhf", owner="user:admin")
    info = runner.wait(again, timeout=240)
    assert info.status == "succeeded", runner.log_tail(again)
    assert registry.names() == ["rl-crash"]
    record("rlhf")


# --- 4. image training, killed after an epoch: the rerun resumes from the saved run state ------------------------
def test_kill_image_training_and_resume(settings):
    import torch

    from assistant.imaging.engine import list_checkpoints, load_checkpoint, user_checkpoints_dir

    runner = JobRunner(settings)
    config = {"model": "vae", "dataset": "digits", "name": "vae-crash", "epochs": 200, "batch_size": 64,
              "evaluate": False, "device": "cpu"}
    job_id = runner.start("image_train", config, lock_key="image:vae-crash")
    state_path = user_checkpoints_dir(settings) / ".runs" / "vae-crash.pt"
    kill_job(runner, job_id, lambda: "epoch 2/200" in runner.log_tail(job_id, 100_000), timeout=120)
    assert_failed_with_log(runner, job_id)
    checkpoints = user_checkpoints_dir(settings)
    assert visible(checkpoints) == [] and "vae-crash" not in {c["name"] for c in list_checkpoints(settings)}
    done = torch.load(state_path, map_location="cpu", weights_only=False)["epoch"]
    assert done >= 1  # epoch 1's run state was saved before epoch 2 was logged
    killed_steps = max(m["step"] for m in runner.metrics(job_id))
    again = runner.start("image_train", {**config, "epochs": done + 1}, lock_key="image:vae-crash")
    info = runner.wait(again, timeout=120)
    assert info.status == "succeeded", runner.log_tail(again)
    steps = [m["step"] for m in runner.metrics(again)]
    assert steps[0] > 1 and steps[0] <= killed_steps + 1  # resumed after the last saved epoch, not from step 1
    assert load_checkpoint("vae-crash", settings).kind == "vae" and not state_path.exists()
    record("image training")


# --- 5. a burst of votes (and the messages they vote on), writer killed mid-burst ------------------------------
VOTE_WRITER = r"""
import sys
from pathlib import Path
from assistant.config import Settings
from assistant.services import Services
services = Services(Settings(data_dir=Path(sys.argv[1]), adapters_dir=Path(sys.argv[2]), auto_index_knowledge=False))
store = services.conversations
conv = None
for i in range(100000):
    if i % 10 == 0:
        conv = store.create("browser:burst", title=f"burst {i}").id
    user = store.add_message(conv, "user", f"question {i}")
    reply = store.add_message(conv, "assistant", f"answer {i}", meta={"adapter": None})
    services.feedback.vote("browser:burst", reply, i % 3 != 0, f"reason {i}")
    print(conv, user, reply, flush=True)  # all three are committed when this line is written
"""


def test_kill_vote_burst(settings):
    proc = subprocess.Popen([sys.executable, "-c", VOTE_WRITER, str(settings.data_dir), str(settings.adapters_dir)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    committed = []
    try:
        for line in proc.stdout:
            committed.append(line.split())
            if len(committed) >= 150:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(committed) >= 150, "the writer stopped early"
    db_ok(settings)
    with sqlite3.connect(settings.data_dir / "assistant.db") as db:
        messages = {r[0]: r[1] for r in db.execute("SELECT id, content FROM messages")}
        votes = {r[0]: r[1] for r in db.execute("SELECT message_id, value FROM votes")}
        convs = {r[0] for r in db.execute("SELECT id FROM conversations")}
    for i, (conv, user, reply) in enumerate(committed):
        assert conv in convs and messages[int(user)] == f"question {i}" and messages[int(reply)] == f"answer {i}"
        assert votes[int(reply)] == (1 if i % 3 else -1)
    # Restart: a new process on the same database votes again.
    from assistant.services import Services

    services = Services(settings)
    conv = services.conversations.create("browser:burst")
    reply = services.conversations.add_message(conv.id, "assistant", "after the crash", meta={"adapter": None})
    assert services.feedback.vote("browser:burst", reply, True)["total_votes"] >= len(committed) + 1
    record("vote burst")


# --- 6. adapter promotion: a retrained adapter replaces the old one and is promoted, killed mid-swap --------------
PROMOTER = r"""
import shutil, sys
from pathlib import Path
from assistant.adapters import AdapterRegistry
from assistant.config import Settings
from assistant.storage import atomic_dir
settings = Settings(data_dir=Path(sys.argv[1]), adapters_dir=Path(sys.argv[2]), auto_index_knowledge=False)
registry = AdapterRegistry(settings)
source = Path(sys.argv[3])
for i in range(1000):
    with atomic_dir(settings.adapters_dir / "cand", overwrite=True) as tmp:  # "retrained": a new version in place
        for f in source.iterdir():
            shutil.copy(f, tmp / f.name)
        (tmp / "version.txt").write_text(str(i))
    registry.record_promotion("cand", "promote", {"version": i})
    print("promoted", i, flush=True)
    registry.record_promotion("concise", "promote", {"version": i})
    print("promoted-concise", i, flush=True)
"""


def test_kill_adapter_promotion_mid_swap(settings, tmp_path):
    import shutil

    from assistant.adapters import AdapterRegistry

    shutil.copytree(REPO / "adapters" / "concise", settings.adapters_dir / "concise")
    marker = tmp_path / "mid-swap"
    env = {**os.environ, "PYTHONPATH": str(REPO), "ASSISTANT_CRASH_POINT": "atomic_dir:swap@4",
           "ASSISTANT_CRASH_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-c", PROMOTER, str(settings.data_dir), str(settings.adapters_dir),
                             str(REPO / "adapters" / "concise")], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env=env)
    try:
        wait_for(marker.exists, 90, "the writer to reach the swap", lambda: proc.poll() is None)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        out = proc.communicate()[0].split("\n")
    promoted = [line for line in out if line]
    assert promoted[-1] == "promoted-concise 3"  # versions 0-3 done; version 4 was killed mid-swap
    # Killed between the two renames: the complete previous version is under a hidden name, none at "cand".
    assert not (settings.adapters_dir / "cand").exists()
    registry = AdapterRegistry(settings)
    assert registry.names() == ["cand", "concise"]  # listing put the previous complete version back
    assert (settings.adapters_dir / "cand" / "version.txt").read_text() == "3"
    assert not [p for p in settings.adapters_dir.iterdir() if p.name.startswith(".")]
    history = registry.history()
    assert len(history) == 8 and history[0]["adapter"] == "concise" == registry.default()
    assert all(h["previous"] == older["adapter"] for h, older in zip(history, history[1:], strict=False))
    db_ok(settings)
    registry.record_promotion("cand", "promote", {"after": "crash"})  # restart: promotion works again
    assert registry.default() == "cand" and registry.get("cand").error == ""
    record("adapter promotion")


def test_cleanup_spares_a_live_writer_and_restores_a_swapped_out_folder(tmp_path):
    from assistant.storage import atomic_dir, clean_stale_temps

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = tmp_path / f".tmp-new~{os.getpid()}~abc"  # another process writing right now (here: this one)
    live.mkdir()
    (tmp_path / f".tmp-gone~{dead.pid}~abc").mkdir()  # its writer is dead
    (tmp_path / f".old-kept~{dead.pid}~abc").mkdir()  # killed mid-swap: the previous complete folder
    (tmp_path / f".old-kept~{dead.pid}~abc" / "x").write_text("previous")
    clean_stale_temps(tmp_path)
    assert live.exists() and not (tmp_path / f".tmp-gone~{dead.pid}~abc").exists()
    assert (tmp_path / "kept" / "x").read_text() == "previous"
    with atomic_dir(tmp_path / "kept", overwrite=True) as tmp:  # a normal replacement leaves nothing behind
        (tmp / "x").write_text("new")
    assert (tmp_path / "kept" / "x").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "kept"]


def test_zz_summary():
    """Prints the line docs/reliability.md quotes (run with -s)."""
    print(f"\nkills survived with nothing lost: {len(RESULTS)}/6 ({', '.join(RESULTS)})")
