"""Model loading, quantization, prompt fitting and streaming, on a tiny random Qwen2 (real code paths)."""

import sys
import threading
import types

import pytest
import torch

from assistant.llm.engine import GenerationParams, InputError, LLMEngine
from assistant.llm.loader import load_model, resolve_source
from assistant.llm.packaged import ModelSourceError, PackagedModel, assemble


@pytest.fixture()
def engine(settings):
    return LLMEngine(load_model(settings), settings)


def test_int8_quantizes_everything_but_the_lora_targets(settings):
    settings.quant = "int8"
    loaded = load_model(settings)
    dynamic_int8 = torch.ao.nn.quantized.dynamic.Linear
    kinds = {name.split(".")[-1]: isinstance(module, dynamic_int8) for name, module in loaded.model.named_modules()}
    assert not kinds["q_proj"] and not kinds["v_proj"]  # kept in fp32 for peft
    assert kinds["k_proj"] and kinds["down_proj"] and kinds["lm_head"]
    assert loaded.quant == "int8" and loaded.device == "cpu"


def test_int8_keeps_a_layer_with_outlier_weights_in_fp32():
    """One huge weight would make a per-tensor int8 scale round the rest to zero: that layer stays fp32."""
    from assistant.llm.loader import quantize_dynamic_int8

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 64), torch.nn.Linear(64, 64))
    with torch.no_grad():
        model[1].weight[3, 5] = 1000.0
    x = torch.randn(4, 64)
    expected = model(x)
    kept = quantize_dynamic_int8(model, keep=["2"])
    assert kept == ["1"]
    assert isinstance(model[0], torch.ao.nn.quantized.dynamic.Linear)
    assert type(model[1]) is torch.nn.Linear and type(model[2]) is torch.nn.Linear
    assert torch.allclose(model(x), expected, rtol=0.05, atol=0.05 * float(expected.abs().max()))


def test_unknown_model_names_everything_tried(settings):
    settings.model = "no-such-model"
    with pytest.raises(ModelSourceError) as err:
        resolve_source(settings)
    message = str(err.value)
    assert "packaged alias" in message and "local folder" in message and "ASSISTANT_ALLOW_HUB" in message


def test_missing_gguf_file(settings, tmp_path):
    settings.model = str(tmp_path / "missing.gguf")
    with pytest.raises(ModelSourceError, match="GGUF file not found"):
        resolve_source(settings)


def test_bad_checksum_is_refused(tmp_path, monkeypatch):
    for i in (1, 2):
        part = tmp_path / f"part{i}.bin"
        part.write_bytes(b"x" * 10)
        module = types.ModuleType(f"fake_part_{i}")
        module.get_part_path = lambda p=part: str(p)
        monkeypatch.setitem(sys.modules, f"fake_part_{i}", module)
    model = PackagedModel("fake", "fake", ("fake_part_1", "fake_part_2"), size=20, sha256="0" * 64)
    with pytest.raises(ModelSourceError, match="sha256"):
        assemble(model, tmp_path / "out")
    assert not (tmp_path / "out" / "model.gguf").exists()


def test_invalid_generation_settings(settings):
    with pytest.raises(InputError, match="temperature"):
        GenerationParams.from_settings(settings, temperature=5.0)
    with pytest.raises(InputError, match="max_new_tokens"):
        GenerationParams.from_settings(settings, max_new_tokens=10**6)


def test_huge_paste_is_cut_to_the_window_with_a_notice(engine):
    paste = "word " * 40_000  # ~200 KB
    prompt, notice = engine.build_prompt([{"role": "user", "content": paste}], max_new_tokens=64)
    assert "cut" in notice
    assert engine.count_tokens(prompt) <= engine.settings.context_tokens - 64


def test_old_turns_are_dropped_before_the_latest_question(engine):
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": "blah " * 200} for i in range(10)]
    prompt, notice = engine.build_prompt([*history, {"role": "user", "content": "latest?"}], max_new_tokens=64)
    assert "earlier message" in notice and "latest?" in prompt


def test_stream_yields_tokens_and_stop_ends_it(engine):
    params = GenerationParams(temperature=0.0, max_new_tokens=200)
    prompt, _ = engine.build_prompt([{"role": "user", "content": "hi"}], 200)
    stop = threading.Event()
    pieces = []
    for piece in engine.stream(prompt, params, stop_event=stop):
        pieces.append(piece)
        if len(pieces) == 3:
            stop.set()
    text, stats = engine.generate(prompt, GenerationParams(temperature=0.0, max_new_tokens=20))
    assert len(pieces) < 20 and text and stats.tokens > 0
    # greedy decoding is deterministic
    again, _ = engine.generate(prompt, GenerationParams(temperature=0.0, max_new_tokens=20))
    assert again == text


def test_stream_many_samples_rows_side_by_side_and_matches_single_greedy(engine):
    prompt, _ = engine.build_prompt([{"role": "user", "content": "hi"}], 12)
    greedy = GenerationParams(temperature=0.0, max_new_tokens=12, repetition_penalty=1.0)
    single, _ = engine.generate(prompt, greedy)
    snapshots = list(engine.stream_many(prompt, greedy, 3))
    assert len(snapshots) >= 2 and all(len(s) == 3 for s in snapshots)
    assert snapshots[-1] == [single] * 3  # the batched path decodes exactly what the single one does
    sampled, stats = [], None
    from assistant.llm.engine import GenerationStats

    stats = GenerationStats()
    for texts in engine.stream_many(prompt, GenerationParams(temperature=1.5, max_new_tokens=12, seed=1), 4,
                                    stats=stats):
        sampled = texts
    assert len(set(sampled)) > 1 and stats.tokens > 4  # the rows are independent samples


def _next_on_thread(generator):
    out = []
    thread = threading.Thread(target=lambda: out.append(next(generator)))
    thread.start()
    thread.join(60)
    return out[0]


def test_a_stream_resumed_and_closed_on_other_threads_leaves_the_model_usable(engine):
    """Gradio runs each next() of a sync generator on some worker thread: nothing may depend on which one."""
    prompt, _ = engine.build_prompt([{"role": "user", "content": "hi"}], 40)
    params = GenerationParams(temperature=0.0, max_new_tokens=40)
    expected, _ = engine.generate(prompt, params)
    stream = engine.stream(prompt, params)
    first = _next_on_thread(stream)
    second = _next_on_thread(stream)
    assert first and second
    closer = threading.Thread(target=stream.close)
    closer.start()
    closer.join(60)
    # the model was released: another turn (from yet another thread) runs to the end with the same greedy text
    results = []
    thread = threading.Thread(target=lambda: results.append(engine.generate(prompt, params)[0]))
    thread.start()
    thread.join(120)
    assert results == [expected]


def test_concurrent_generations_are_serialized_and_identical(engine):
    prompt, _ = engine.build_prompt([{"role": "user", "content": "hi"}], 8)
    results = []

    def worker():
        results.append(engine.generate(prompt, GenerationParams(temperature=0.0, max_new_tokens=8))[0])

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    single, _ = engine.generate(prompt, GenerationParams(temperature=0.0, max_new_tokens=8))
    assert results == [single] * 3  # interleaved decoding on one shared model would garble at least one
