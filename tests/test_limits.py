"""Limits with clear errors: job sizes, running jobs per user and per server, uploads per user, chat rate."""

from __future__ import annotations

import pytest

from assistant.config import Settings
from assistant.jobs import JobError, JobRunner, JobsBusy, check_job_config
from assistant.limits import TokenBucket, check_chat_rate, reset
from assistant.llm.base import InputError


@pytest.fixture()
def limited(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", adapters_dir=tmp_path / "adapters", auto_index_knowledge=False,
                    max_jobs_running=2, max_jobs_per_user=1, max_uploads_per_user=2, max_upload_total_mb_per_user=1,
                    chat_rate_per_minute=6, chat_burst=2)


@pytest.mark.parametrize(("kind", "config", "message"), [
    ("image_train", {"epochs": 99_999_999}, "epochs=99999999 is out of bounds; use 1 to 500"),
    ("image_train", {"epochs": 0}, "epochs=0 is out of bounds"),
    ("image_train", {"batch_size": 10**6}, "batch_size=1000000 is out of bounds"),
    ("sft", {"max_steps": 10**9}, "max_steps=1000000000 is out of bounds; use 0 to 100000"),
    ("sft", {"epochs": "lots"}, "epochs must be a whole number"),
    ("sft", {"epochs": 2.5}, "epochs must be a whole number"),
    ("rlhf", {"steps": -1}, "steps=-1 is out of bounds"),
    ("rlhf", {"max_new_tokens": 10**7}, "max_new_tokens=10000000 is out of bounds"),
    ("reward", {"epochs": True}, "epochs must be a whole number"),
])
def test_job_sizes_are_bounded(limited, kind, config, message):
    with pytest.raises(JobError, match=message.replace("(", r"\(")):
        check_job_config(kind, config, limited)
    with pytest.raises(JobError, match="out of bounds|whole number"):
        JobRunner(limited).start(kind, config)
    assert JobRunner(limited).list() == []  # refused before anything is recorded


def test_rlhf_steps_zero_asks_for_the_methods_default(limited):
    check_job_config("rlhf", {"method": "auto", "steps": 0}, limited)  # accepted: resolved by the job
    with pytest.raises(JobError, match="steps=0 is out of bounds"):
        check_job_config("sleep", {"steps": 0}, limited)


def test_running_jobs_per_user_and_per_server(limited):
    runner = JobRunner(limited)
    first = runner.start("sleep", {"steps": 400, "interval": 0.05}, lock_key="a", owner="user:ann")
    try:
        with pytest.raises(JobsBusy, match=r"you already have 1 job\(s\) running or waiting .*at most 1 per user"):
            runner.start("sleep", {"steps": 1}, lock_key="b", owner="user:ann")
        second = runner.start("sleep", {"steps": 400, "interval": 0.05}, lock_key="c", owner="user:bob")
        # The server is full: the next jobs wait in line, say their place, and do not run yet.
        third = runner.start("sleep", {"steps": 1, "interval": 0.01}, lock_key="d", owner="user:cy")
        fourth = runner.start("sleep", {"steps": 1, "interval": 0.01}, lock_key="e", owner="user:dee")
        fifth = runner.start("sleep", {"steps": 1, "interval": 0.01}, lock_key="f", owner="user:eve")
        assert [runner.get(j).status for j in (third, fourth, fifth)] == ["waiting"] * 3
        assert "number 1 in line" in runner.get(third).message
        assert "number 2 in line" in runner.get(fourth).message
        with pytest.raises(JobsBusy, match="running or waiting"):  # a waiting job counts against its owner
            runner.start("sleep", {"steps": 1}, lock_key="g", owner="user:cy")
        assert runner.cancel(fifth).status == "cancelled"  # leaving the line needs no process
        assert {j.owner for j in runner.running() if j.status != "waiting"} == {"user:ann", "user:bob"}
        assert [j.id for j in runner.list(owner="user:ann")] == [first]
        runner.cancel(second)
        runner.wait(second, timeout=60)
        # The freed slot goes to the first in line, then (when it finishes) to the next: nobody polls for it.
        assert runner.wait(third, timeout=60).status == "succeeded"
        assert runner.wait(fourth, timeout=60).status == "succeeded"
        assert runner.get(fifth).status == "cancelled"
    finally:
        runner.cancel(first)
        runner.wait(first, timeout=60)


def test_uploads_per_user(limited, monkeypatch):
    from assistant.knowledge import service

    kb = service.KnowledgeBase(limited)
    # Indexing is not what is tested here: accept every stored file as indexed.
    monkeypatch.setattr(kb, "ingest", lambda paths, progress=None: service.IngestReport(
        [service.FileResult(str(p), f"uploads/{p.name}", "indexed", 1) for p in paths]))
    assert not kb.add_upload("a.txt", b"alpha text", owner="user:ann").errors
    assert not kb.add_upload("b.txt", b"beta text", owner="user:ann").errors
    assert not kb.add_upload("b.txt", b"beta text, new version", owner="user:ann").errors  # a replacement is fine
    report = kb.add_upload("c.txt", b"gamma text", owner="user:ann")
    assert "you already have 2 uploaded documents, the limit per user is 2" in report.errors[0].message
    assert not (limited.uploads_dir / "c.txt").exists()
    report = kb.add_upload("a.txt", b"mine now", owner="user:bob")
    assert "uploaded by another user" in report.errors[0].message
    assert (limited.uploads_dir / "a.txt").read_bytes() == b"alpha text"
    report = kb.add_upload("big.txt", b"x" * 1_100_000, owner="user:bob")
    assert "over the 1 MB per user" in report.errors[0].message
    assert kb.upload_usage("user:ann")["files"] == 2 and kb.upload_usage("user:bob")["files"] == 0


def test_chat_rate_per_user(limited):
    reset()
    check_chat_rate("user:ann", limited)
    check_chat_rate("user:ann", limited)  # a burst of 2
    with pytest.raises(InputError, match=r"too many messages: at most 6 a minute per user .*try again in \d+ s"):
        check_chat_rate("user:ann", limited)
    check_chat_rate("user:bob", limited)  # others are not held up
    unlimited = limited.model_copy(update={"chat_rate_per_minute": 0})
    for _ in range(50):
        check_chat_rate("user:ann", unlimited)


def test_token_bucket_refills():
    now = [0.0]
    bucket = TokenBucket(2, 1.0, clock=lambda: now[0])
    assert bucket.take("k") == 0 and bucket.take("k") == 0
    assert bucket.take("k") == pytest.approx(1.0)
    now[0] += 1.0
    assert bucket.take("k") == 0
