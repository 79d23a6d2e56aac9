"""`build_adapters`: a shipped adapter with a `then` stage is trained twice, the second time from the first."""

import json

import torch
from safetensors.torch import load_file

from assistant.training import build_adapters


def write_chat(path, reply: str, n: int = 12) -> None:
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Question {i}?"},
                                                     {"role": "assistant", "content": reply}]}) + "\n"
                            for i in range(n)))


def test_the_second_stage_continues_from_the_first(settings, tmp_path, monkeypatch):
    """0 steps in stage 2 leave stage 1's weights exactly (not a fresh LoRA); 2 steps on other data move them."""
    write_chat(tmp_path / "first.jsonl", "Short answer.")
    write_chat(tmp_path / "second.jsonl", "A rather different and much longer answer than before.")
    first = dict(data="first.jsonl", eval_data="first.jsonl", max_steps=2, learning_rate=5e-3, behaviour_prompts=0)
    monkeypatch.setattr(build_adapters, "DATA", tmp_path)
    monkeypatch.setattr(build_adapters, "SHIPPED", {
        "one": first,
        "idle": {**first, "then": dict(data="second.jsonl", max_steps=0, epochs=0)},
        "two": {**first, "then": dict(data="second.jsonl", max_steps=2)},
    })
    assert [s["data"] for s in build_adapters.stages("two")] == ["first.jsonl", "second.jsonl"]
    assert build_adapters.stages("two")[1]["init_adapter"] == "two" and len(build_adapters.stages("one")) == 1

    weights = {}
    for name in ("one", "idle", "two"):
        card = build_adapters.build(name, settings)
        weights[name] = load_file(settings.adapters_dir / name / "adapter_model.safetensors")
    assert card["hyperparameters"]["init_adapter"] == "two" and card["metrics"]["steps"] == 2
    assert all(torch.equal(weights["one"][k], weights["idle"][k]) for k in weights["one"])
    assert any(not torch.equal(weights["one"][k], weights["two"][k]) for k in weights["one"])
