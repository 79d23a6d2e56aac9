"""LoRA adapters on a tiny random Qwen2: logits change, base restored exactly, training touches only LoRA."""

import json

import pytest
import torch

from assistant.adapters import AdapterError
from assistant.llm.engine import GenerationParams
from assistant.training.chat_data import TrainingDataError, read_chat_jsonl
from assistant.training.sft import SFTConfig, train_sft


def write_chat(path, n, reply="Short answer."):
    lines = [json.dumps({"messages": [{"role": "user", "content": f"Question {i}?"},
                                      {"role": "assistant", "content": reply}]}) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def trained(settings, tmp_path):
    data = write_chat(tmp_path / "train.jsonl", 12)
    card = train_sft(SFTConfig(name="tiny", data=str(data), max_steps=3, batch_size=4, learning_rate=5e-3,
                               behaviour_prompts=1, rank=4), settings)
    return card


def logits(services, adapter):
    engine = services.llm
    prompt, _ = engine.build_prompt([{"role": "user", "content": "hello"}], 8)
    ids = engine.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    from assistant.llm.engine import GENERATION_LOCK

    with GENERATION_LOCK, torch.no_grad():
        services.adapters.activate(adapter)
        return engine.model(**ids).logits[0, -1].clone()


def test_training_writes_an_adapter_with_a_card(trained, settings):
    folder = settings.adapters_dir / "tiny"
    assert (folder / "adapter_config.json").exists() and (folder / "adapter_model.safetensors").exists()
    card = json.loads((folder / "card.json").read_text())
    assert card["base_model"] == settings.model and card["metrics"]["steps"] == 3
    assert card["metrics"]["eval_loss_after"] < card["metrics"]["eval_loss_before"]
    assert not [p for p in settings.adapters_dir.iterdir() if p.name.startswith(".")]  # no temp folders left
    # portable: no path of this machine's model cache, no peft boilerplate README beside our card
    assert json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"] == settings.model
    assert not (folder / "README.md").exists()
    from assistant.llm.gguf_lora import export_state

    assert export_state(folder) == "current"  # the GGUF LoRA for the llama.cpp engine is made with the adapter


def test_adapter_changes_logits_and_base_is_restored_exactly(trained, services):
    base = logits(services, None)
    adapted = logits(services, "tiny")
    again = logits(services, None)
    assert not torch.allclose(base, adapted)
    assert torch.equal(base, again)


def test_switching_is_per_request_without_reloading(trained, services):
    engine = services.llm
    prompt, _ = engine.build_prompt([{"role": "user", "content": "Question 1?"}], 8)
    params = GenerationParams(temperature=0.0, max_new_tokens=4)
    base_text, _ = engine.generate(prompt, params, None)
    tuned_text, _ = engine.generate(prompt, params, "tiny")  # first use wraps the model with peft once
    wrapped = engine.model
    for adapter in (None, "tiny", None):
        engine.generate(prompt, params, adapter)
        assert engine.model is wrapped  # switching never rebuilds or reloads the model
    assert engine.generate(prompt, params, None)[0] == base_text
    assert engine.generate(prompt, params, "tiny")[0] == tuned_text


def test_one_step_changes_only_lora_parameters(settings, tmp_path):
    from peft import LoraConfig, get_peft_model

    from assistant.training.sft import collate, encode, load_base_for_training

    model, tokenizer, _ = load_base_for_training(settings)
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=["q_proj", "v_proj"]))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = collate([encode(tokenizer, [{"role": "user", "content": "hi"},
                                        {"role": "assistant", "content": "hello"}], 64)], tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(**batch).loss.backward()
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    assert changed and all("lora_" in n for n in changed)
    assert any("lora_B" in n for n in changed)


def test_bad_training_lines_are_reported_with_line_numbers(tmp_path):
    path = write_chat(tmp_path / "t.jsonl", 20)
    path.write_text(path.read_text() + "not json\n" + json.dumps({"messages": [{"role": "user", "content": "x"}]}))
    data = read_chat_jsonl(path)
    assert len(data.examples) == 20 and data.skipped[0].startswith("line 21") and data.skipped[1].startswith("line 22")
    (tmp_path / "bad.jsonl").write_text("nope\n" * 5 + path.read_text())
    with pytest.raises(TrainingDataError, match="refusing"):
        read_chat_jsonl(tmp_path / "bad.jsonl")


def test_hostile_corrupt_and_foreign_adapters(trained, services, settings):
    registry = services.adapters
    for name in ("../x", "a/b", "bad name!", "..", ""):
        with pytest.raises(AdapterError):
            registry.get(name)
    (settings.adapters_dir / "broken").mkdir()
    with pytest.raises(AdapterError, match="corrupt"):
        registry.get("broken")
    assert any(c.name == "broken" and c.error for c in registry.list())
    card_path = settings.adapters_dir / "tiny" / "card.json"
    card = json.loads(card_path.read_text())
    card["base_model"] = "some-other-model"
    card_path.write_text(json.dumps(card))
    with pytest.raises(AdapterError, match="some-other-model"):
        registry.check_compatible("tiny")


def test_existing_name_is_refused(trained, settings, tmp_path):
    data = write_chat(tmp_path / "again.jsonl", 4)
    with pytest.raises(FileExistsError):
        train_sft(SFTConfig(name="tiny", data=str(data), max_steps=1), settings)


def test_preload_makes_adapters_resident_without_changing_the_answer(trained, services, settings):
    """The app's warm-up loads adapters ahead of the first switch; the base stays active, a bad one is named."""
    (settings.adapters_dir / "broken").mkdir()
    base = logits(services, None)
    loaded, problems = services.adapters.preload()
    assert loaded == ["tiny"] and len(problems) == 1 and problems[0].startswith("broken")
    assert services.adapters.active is None
    assert torch.equal(logits(services, None), base)
    assert not torch.allclose(logits(services, "tiny"), base)
