"""The model decides tool calls (default model, llama.cpp, the shipped `tools` adapter, grammar), and a tool with
side effects never runs without the user's yes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def services(tmp_path_factory, default_hf_dir):
    from assistant.config import Settings
    from assistant.services import Services

    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), model_cache_dir=MODEL_CACHE,
                        auto_index_knowledge=False, engine="llamacpp", threads=2, chat_rate_per_minute=0)
    return Services(settings)


def _turn(services, message: str, history_from: str | None = None):  # noqa: ANN202
    from assistant.chat import TurnRequest

    return services.chat.run(TurnRequest(owner="tester", message=message, conversation_id=history_from,
                                         knowledge_mode="off", tools_enabled=True,
                                         params={"temperature": 0.0, "max_new_tokens": 32}))


def test_the_tools_adapters_are_shipped_and_used_for_the_decision_only(services, monkeypatch):
    assert {"tools", "tools-client"} <= set(services.adapters.names())
    assert services.tools.decision_adapter() == "tools"
    assert services.tools.decision_adapter(client=True) == "tools-client"
    assert not {"tools", "tools-client"} & set(services.adapters.answer_names())
    # the two differ: `tools` is `tools-client` trained further on the top-up
    from safetensors.torch import load_file

    ours, client = (load_file(services.adapters.folder(name) / "adapter_model.safetensors")
                    for name in ("tools", "tools-client"))
    assert ours.keys() == client.keys() and any(not ours[k].equal(client[k]) for k in ours)
    # a client's tools fall back to `tools` when `tools-client` is missing, and to none when both are
    monkeypatch.setattr(services.settings, "client_tools_adapter", "no-such-adapter")
    assert services.tools.decision_adapter(client=True) == "tools"
    monkeypatch.setattr(services.settings, "tools_adapter", "")
    assert services.tools.decision_adapter(client=True) is None and services.tools.decision_adapter() is None


def test_a_drawing_request_runs_the_image_tool_and_a_follow_up_draws_again(services):
    first = _turn(services, "please draw three red circles")
    assert [c["name"] for c in first.tool_calls] == ["generate_images"]
    assert first.images and all(Path(p).is_file() for p in first.images)
    again = _turn(services, "draw another one", history_from=first.conversation_id)
    assert [c["name"] for c in again.tool_calls] == ["generate_images"]
    assert "circle" in again.tool_calls[0]["arguments"]["prompt"]


def test_a_drawing_cites_no_sources_even_when_retrieval_is_always_on(services):
    """Retrieval serves a reply the model writes; the tenth session's browser try showed "Sources (2)" under images."""
    from assistant.chat import TurnRequest

    services.knowledge.add_upload("circles.md", b"# Circles\n\nA red circle is drawn with a compass; no corners.")
    message = "please draw three red circles"
    assert services.knowledge_hits(message, always=True, owner="local")  # the upload would be cited
    result = services.chat.run(TurnRequest(owner="local", message=message, knowledge_mode="always",
                                           tools_enabled=True, params={"temperature": 0.0, "max_new_tokens": 32}))
    assert [c["name"] for c in result.tool_calls] == ["generate_images"] and result.images
    assert result.sources == []


@pytest.mark.parametrize("message", [
    "Can you draw a conclusion from these facts: sales rose, costs fell.",
    "My flight is at 10:30-11:45, what should I pack?",
])
def test_trigger_words_in_harmless_requests_call_no_tool(services, message):
    result = _turn(services, message)
    assert result.tool_calls == [] and result.pending_call is None
    assert services.jobs.list() == []


def test_nothing_runs_on_train_my_dog(services):
    """Whatever the model makes of it (the 0.5B model still proposes training here: docs/bench_tools.md), no tool
    runs and no job starts: training is a side effect and waits for a yes."""
    result = _turn(services, "I want to train my dog to recognise shapes and colours")
    assert result.tool_calls == [] and result.images == []
    assert result.pending_call is None or result.pending_call["name"] == "train_image_model"
    assert services.jobs.list() == []


def test_a_training_request_waits_for_consent(services):
    result = _turn(services, "Train a GAN on the shapes dataset for 2 epochs, please.")
    assert result.pending_call is not None and result.pending_call["name"] == "train_image_model"
    assert result.pending_call["arguments"]["model"] == "gan"
    assert result.tool_calls == [] and services.jobs.list() == []  # nothing ran before the yes
    done = services.chat.confirm("tester", result.message_id, accept=True)
    jobs = services.jobs.list()
    assert done.tool_calls[0]["name"] == "train_image_model" and len(jobs) == 1
    for job in jobs:
        services.jobs.cancel(job.id)


def test_the_cli_prints_a_proposed_call_and_runs_nothing_without_yes(tmp_path):
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path / "data"), "ASSISTANT_MODEL_CACHE_DIR": str(MODEL_CACHE),
           "ASSISTANT_AUTO_INDEX_KNOWLEDGE": "false", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "assistant", "chat", "train a VAE on digits for 1 epoch",
                          "--json", "--knowledge", "off"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout)
    assert data["pending_call"]["name"] == "train_image_model" and data["engine"] == "llamacpp"
    jobs = subprocess.run([sys.executable, "-m", "assistant", "jobs", "list", "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert json.loads(jobs.stdout or "[]") == []
