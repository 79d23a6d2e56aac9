"""End to end with the default packaged model: the real app on a free port, driven through gradio_client, and
the CLI's JSON contract. Marked e2e (they load the 0.5B model)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e

CHAT_DEFAULTS = ("default (promoted)", "direct", "off", False, 0.0, 0.9, 40, 48, 1.05, "You are a helpful assistant.")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(data_dir: Path, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(ASSISTANT_DATA_DIR=str(data_dir), ASSISTANT_MODEL_CACHE_DIR=str(MODEL_CACHE), PYTHONPATH=str(REPO),
               ASSISTANT_AUTO_INDEX_KNOWLEDGE="false", **extra)
    return env


@pytest.fixture()
def app_server(tmp_path, default_hf_dir):
    port = _free_port()
    log = open(tmp_path / "app.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env=_env(tmp_path / "data", ASSISTANT_PORT=str(port)))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 240
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((tmp_path / "app.log").read_text()[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(1)
    yield url, tmp_path
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def _chat(client, text: str, browser: str):
    job = client.submit(text, browser, *CHAT_DEFAULTS, api_name="/chat")
    updates = list(job)
    return updates[-1]


def test_app_chats_streams_and_keeps_history_per_browser(app_server):
    from gradio_client import Client

    from assistant.ui.chat_tab import COOKIE_MARKER

    url, _ = app_server
    alice, bob = Client(url, verbose=False), Client(url, verbose=False)
    # A browser's identity is the signed cookie the server sets with its first response; gradio_client keeps
    # cookies as a browser does. /load hands back only a marker for localStorage, never the token itself.
    alice_id = alice.predict(None, api_name="/load")[0]
    bob_id = bob.predict(None, api_name="/load")[0]
    assert alice_id == bob_id == COOKIE_MARKER
    job = alice.submit("What is 17 + 25?", alice_id, *CHAT_DEFAULTS, api_name="/chat")
    updates = list(job)
    assert len(updates) >= 3, "the reply should stream in several updates"
    final = updates[-1]
    chatbot = final[0]  # then the textbox, the conversation list, the status line and the Confirm row
    status = next(x for x in final if isinstance(x, str) and "tokens" in x)
    reply = chatbot["value"][-1]["content"][0]["text"] if isinstance(chatbot, dict) else chatbot[-1]["content"]
    assert "42" in str(reply)
    assert "tokens" in status
    # Bob's browser sees none of Alice's conversations
    loaded_bob = bob.predict(bob_id, api_name="/load")
    assert "17 + 25" not in json.dumps(loaded_bob, ensure_ascii=False)
    loaded_alice = alice.predict(alice_id, api_name="/load")
    assert "17 + 25" in json.dumps(loaded_alice, ensure_ascii=False)


def test_cli_json_contract_with_the_default_model(tmp_path, default_hf_dir):
    out = subprocess.run(
        [sys.executable, "-m", "assistant", "chat", "What is the capital of Japan?", "--json", "--no-tools",
         "--knowledge", "off", "--temperature", "0", "--max-new-tokens", "32"],
        cwd=REPO, env=_env(tmp_path / "data"), capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout)
    assert "Tokyo" in data["answer"]
    assert data["model"] == "qwen2.5-coder-0.5b-instruct" and data["adapter"] is None
    assert data["tokens"] > 0 and data["seconds"] > 0
    for key in ("reasoning", "sources", "tool_calls", "images"):
        assert key in data


def test_chat_turn_draws_a_seven_with_the_default_model(tmp_path, default_hf_dir):
    """The model (helped by the router) picks generate_images; the image file exists and shows the digit 7."""
    from assistant.chat import TurnRequest
    from assistant.config import Settings
    from assistant.services import Services

    settings = Settings(data_dir=tmp_path / "data", model_cache_dir=MODEL_CACHE, auto_index_knowledge=False)
    result = Services(settings).chat.run(TurnRequest(owner="e2e", message="draw a 7", knowledge_mode="off"))
    assert result.tool_calls and result.tool_calls[0]["name"] == "generate_images"
    assert result.images and all(Path(p).is_file() for p in result.images)
    assert result.tool_calls[0]["result"]["condition"] == {"digit": "7"} or "7" in json.dumps(
        result.tool_calls[0]["result"]["condition"])


def test_shipped_adapters_switch_on_the_default_int8_model(tmp_path, default_hf_dir):
    """The adapters in adapters/ load onto the default (int8 CPU) model, change its output, and switch back exactly."""
    import torch

    from assistant.config import Settings
    from assistant.llm.base import MODEL_LOCK as GENERATION_LOCK
    from assistant.services import Services

    settings = Settings(data_dir=tmp_path / "data", model_cache_dir=MODEL_CACHE, auto_index_knowledge=False,
                        engine="torch")
    services = Services(settings)
    shipped = services.adapters.names()
    assert {"concise", "zh-tutor"} <= set(shipped)
    engine = services.llm
    ids = engine.tokenizer("How does a bicycle gear work?", return_tensors="pt")
    with GENERATION_LOCK, torch.no_grad():
        base = engine.model(**ids).logits[0, -1].clone()
        adapted = {}
        for name in ("concise", "zh-tutor"):
            services.adapters.activate(name)
            adapted[name] = engine.model(**ids).logits[0, -1].clone()
        services.adapters.activate(None)
        again = engine.model(**ids).logits[0, -1].clone()
    assert torch.equal(base, again)
    assert not torch.allclose(base, adapted["concise"]) and not torch.allclose(base, adapted["zh-tutor"])
    assert not torch.allclose(adapted["concise"], adapted["zh-tutor"])
    # Through the chat path, per request: zh-tutor answers an English question in Chinese, the base does not.
    from assistant.chat import TurnRequest

    def reply(adapter: str) -> str:
        return services.chat.run(TurnRequest(owner="e2e", message="How many sides does a hexagon have?",
                                             adapter=adapter, knowledge_mode="off", tools_enabled=False, record=False,
                                             params={"temperature": 0.0, "max_new_tokens": 24})).answer

    def cjk(text: str) -> int:
        return sum("\u4e00" <= ch <= "\u9fff" for ch in text)

    assert cjk(reply("zh-tutor")) > 3 and cjk(reply("none")) == 0
