"""LoRA SFT as a background job: real subprocess training on the tiny model, restart survival, locks, cancel."""

import json
import time

import pytest
import torch

from assistant.jobs import JobError, JobRunner
from assistant.training.sft import SFTConfig


def write_chat(path, n, reply="Short answer."):
    lines = [json.dumps({"messages": [{"role": "user", "content": f"Question {i}?"},
                                      {"role": "assistant", "content": reply}]}) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def sft_config(tmp_path, name, **overrides) -> dict:
    config = {"name": name, "data": write_chat(tmp_path / f"{name}.jsonl", 12), "max_steps": 3, "batch_size": 4,
              "learning_rate": 5e-3, "rank": 4, "behaviour_prompts": 1}
    return {**config, **overrides}


def test_config_fields_all_have_help():
    from dataclasses import fields

    assert all(f.metadata.get("help") for f in fields(SFTConfig))  # the CLI flags and the UI form need them
    with pytest.raises(ValueError, match="unknown SFT settings: bogus"):
        SFTConfig.from_dict({"name": "x", "data": "y", "bogus": 1})


def test_sft_job_survives_a_ui_restart_and_refuses_a_second_training(settings, tmp_path):
    config = sft_config(tmp_path, "jobbed")
    job_id = JobRunner(settings).start("sft", config, lock_key="adapter:jobbed")
    with pytest.raises(JobError, match="already"):  # two trainings of one adapter at once: refused
        JobRunner(settings).start("sft", config, lock_key="adapter:jobbed")
    # The UI process that started it is gone; a new runner on the same data dir sees the job through.
    restarted = JobRunner(settings)
    info = restarted.wait(job_id, timeout=120)
    assert info.status == "succeeded", restarted.log_tail(job_id)
    losses = [m["loss"] for m in restarted.metrics(job_id) if "loss" in m]
    assert len(losses) == 3  # one live loss point per step for the plot
    card = json.loads((settings.adapters_dir / "jobbed" / "card.json").read_text())
    assert info.result["name"] == card["name"] == "jobbed"
    assert card["metrics"]["eval_loss_after"] < card["metrics"]["eval_loss_before"]


def test_cancelled_training_leaves_no_adapter_behind(settings, tmp_path):
    runner = JobRunner(settings)
    job_id = runner.start("sft", sft_config(tmp_path, "stopped", max_steps=100000), lock_key="adapter:stopped")
    deadline = time.monotonic() + 120
    while not runner.metrics(job_id) and time.monotonic() < deadline:  # wait until training is under way
        time.sleep(0.2)
    runner.cancel(job_id)
    info = runner.wait(job_id, timeout=60)
    assert info.status == "cancelled", runner.log_tail(job_id)
    assert list(settings.adapters_dir.iterdir()) == []  # neither the adapter nor a temp folder


def test_bad_training_file_is_refused_with_line_numbers_before_loading_anything(settings, tmp_path):
    from assistant.training.chat_data import TrainingDataError
    from assistant.training.sft import train_sft

    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n" * 3 + "\n".join(json.dumps({"messages": [{"role": "user", "content": "q"}]})
                                                 for _ in range(3)) + "\n")
    with pytest.raises(TrainingDataError, match="line 1.*line 4"):
        train_sft(SFTConfig(name="bad", data=str(path)), settings)
    assert list(settings.adapters_dir.iterdir()) == []


def test_adapter_loads_on_the_int8_cpu_model(settings, tmp_path):
    """The default CPU path quantizes every Linear except q_proj/v_proj; adapters must still load and switch."""
    from assistant.llm.engine import GENERATION_LOCK
    from assistant.services import Services
    from assistant.training.sft import train_sft

    train_sft(SFTConfig(**sft_config(tmp_path, "tiny8")), settings)
    services = Services(settings.model_copy(update={"quant": "int8"}))
    engine = services.llm
    ids = engine.tokenizer("hello", return_tensors="pt")
    with GENERATION_LOCK, torch.no_grad():
        base = engine.model(**ids).logits[0, -1].clone()
        services.adapters.activate("tiny8")
        adapted = engine.model(**ids).logits[0, -1].clone()
        services.adapters.activate(None)
        again = engine.model(**ids).logits[0, -1].clone()
    assert not torch.allclose(base, adapted) and torch.equal(base, again)


def test_the_frozen_base_is_bf16_exactly_on_hardware_with_bf16_for_every_job(settings):
    """auto: bf16 exactly where oneDNN computes in bf16 (emulated bf16 is slower than fp32), alike for SFT, RLHF, the
    reward model and the gate (the reward head is read in the dtype it was fitted in); an explicit setting wins."""
    from assistant.training.sft import load_base_for_training

    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    expected = "bfloat16" if native else "float32"
    assert settings.resolved_train_dtype() == expected
    model, _, _ = load_base_for_training(settings)
    assert next(model.parameters()).dtype == getattr(torch, expected)
    forced = settings.model_copy(update={"train_dtype": "float32"})
    assert forced.resolved_train_dtype() == "float32"
    model, _, _ = load_base_for_training(forced)
    assert next(model.parameters()).dtype == torch.float32


def test_continued_training_starts_from_the_installed_adapters_weights(settings, tmp_path):
    """init_adapter: step 0 is the installed adapter (same logits), the result keeps its rank and moves on."""
    from safetensors.torch import load_file

    from assistant.training.sft import train_sft

    train_sft(SFTConfig(**sft_config(tmp_path, "first", rank=4, target_modules=["q_proj", "v_proj"])), settings)
    first = load_file(settings.adapters_dir / "first" / "adapter_model.safetensors")
    zero_steps = sft_config(tmp_path, "again", init_adapter="first", rank=16, target_modules=["k_proj"],
                            max_steps=0, epochs=0)
    card = train_sft(SFTConfig(**zero_steps), settings)
    again = load_file(settings.adapters_dir / "again" / "adapter_model.safetensors")
    assert card["metrics"]["steps"] == 0 and card["hyperparameters"]["rank"] == 4
    assert card["target_modules"] == ["q_proj", "v_proj"] and set(again) == set(first)
    assert all(torch.equal(first[k], again[k]) for k in first)  # B of a fresh LoRA would be zeros
    # the held-out loss before training is the base's; with the installed adapter it starts lower already
    assert card["metrics"]["eval_loss_after"] < card["metrics"]["eval_loss_before"]
    moved = train_sft(SFTConfig(**sft_config(tmp_path, "third", init_adapter="first", max_steps=2)), settings)
    third = load_file(settings.adapters_dir / "third" / "adapter_model.safetensors")
    assert moved["metrics"]["steps"] == 2 and any(not torch.equal(first[k], third[k]) for k in first)
    with pytest.raises(FileNotFoundError, match="no installed adapter 'missing'"):
        train_sft(SFTConfig(**sft_config(tmp_path, "fourth", init_adapter="missing")), settings)
