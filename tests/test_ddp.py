"""SFT as a DDP job: two CPU processes (gloo) under `accelerate launch` on the tiny model.

Both ranks train on disjoint shards, end with bit-identical LoRA weights, and the adapter rank 0 saves is those
weights; the job's progress, metrics, cancel and failure work as in one process.
"""

import re
import time

import psutil
import pytest
from safetensors.torch import load_file

from assistant.jobs import JobRunner
from assistant.training.ddp import epoch_batches, tensors_digest
from tests.test_sft import sft_config


def test_epoch_batches_give_each_rank_its_own_slice_and_the_same_number_of_steps():
    examples = list(range(10))
    assert epoch_batches(examples, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]  # one process: as before
    rank0, rank1 = epoch_batches(examples, 2, 0, 2), epoch_batches(examples, 2, 1, 2)
    assert rank0 == [[0, 1], [4, 5], [8, 9]] and rank1 == [[2, 3], [6, 7], [0, 1]]  # the pass filled from its start
    assert epoch_batches([0], 2, 1, 2) == [[0, 0]]


def rank_lines(log: str, pattern: str) -> dict[int, str]:
    return {int(rank): rest for rank, rest in re.findall(rf"^rank (\d)/2[: ]{pattern}", log, re.MULTILINE)}


@pytest.mark.slow
def test_sft_job_trains_on_two_processes(settings, tmp_path):
    settings.train_processes = 2
    runner = JobRunner(settings)
    job_id = runner.start("sft", sft_config(tmp_path, "ddp", max_steps=3, batch_size=2), lock_key="adapter:ddp")
    info = runner.wait(job_id, timeout=400)
    log = runner.log_tail(job_id, 200_000)
    assert info.status == "succeeded", log
    shards = {rank: set(eval(indices)) for rank, indices in rank_lines(log, r" step 1 trains on examples (.*)").items()}
    assert set(shards) == {0, 1} and len(shards[0]) == len(shards[1]) == 2 and not shards[0] & shards[1]
    digests = rank_lines(log, r" trained 3 steps, LoRA weights sha256 (\w+)")
    assert set(digests) == {0, 1} and digests[0] == digests[1]  # DDP kept the ranks in step
    saved = load_file(str(settings.adapters_dir / "ddp" / "adapter_model.safetensors"))
    assert tensors_digest(saved) == digests[0]  # the adapter is exactly what rank 0 held
    assert sum(float(v.abs().sum()) for k, v in saved.items() if "lora_B" in k) > 0  # LoRA B starts at zero
    losses = [m for m in runner.metrics(job_id) if "loss" in m]
    assert [m["step"] for m in losses] == [1, 2, 3]  # rank 0 alone reports
    assert info.progress == 1.0 and info.result["metrics"]["processes"] == 2


@pytest.mark.slow
def test_cancel_stops_every_rank_and_a_failing_rank_fails_the_job(settings, tmp_path):
    settings.train_processes = 2
    runner = JobRunner(settings)
    job_id = runner.start("sft", sft_config(tmp_path, "ddp-stop", max_steps=100000, batch_size=2),
                          lock_key="adapter:ddp-stop")
    deadline = time.monotonic() + 300
    # training under way on both ranks: a step's metric is written just before its progress, so wait for both
    while not (runner.metrics(job_id) and runner.get(job_id).progress > 0.1) and time.monotonic() < deadline:
        time.sleep(0.5)
    pids = {int(pid) for pid in re.findall(r"^rank \d/2 \(pid (\d+)\)", runner.log_tail(job_id, 200_000), re.M)}
    assert len(pids) == 2 and runner.get(job_id).progress > 0.1
    runner.cancel(job_id)
    info = runner.wait(job_id, timeout=120)
    assert info.status == "cancelled", runner.log_tail(job_id)
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert list(settings.adapters_dir.iterdir()) == []  # neither the adapter nor a temp folder

    failing = runner.start("sft", sft_config(tmp_path, "ddp-bad", data=str(tmp_path / "missing.jsonl")),
                           lock_key="adapter:ddp-bad")
    info = runner.wait(failing, timeout=300)
    assert info.status == "failed" and re.search(r"training rank \d of 2 failed", info.message), info.message
