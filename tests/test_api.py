"""The OpenAI-compatible API end to end: `python app.py` with the default model (llama.cpp) on a free port, driven
by the official `openai` client and LangChain's `ChatOpenAI`, unchanged; and the `remote` engine in this process
talking to that server (two processes on loopback). Marked e2e: one model load, about a minute on 2 cores."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.app_server import free_port
from tests.conftest import MODEL_CACHE

REPO = Path(__file__).resolve().parent.parent
BASE = "qwen2.5-coder-0.5b-instruct"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real app in its own process, with an account `alice` and her API key (so keys are required)."""
    from assistant.config import Settings
    from assistant.db import get_database
    from assistant.users import ApiKeyStore, UserStore

    root = tmp_path_factory.mktemp("api")
    settings = Settings(data_dir=root / "data", model_cache_dir=MODEL_CACHE, auto_index_knowledge=False)
    db = get_database(settings)
    UserStore(db).add("alice", "a-long-password", "admin")
    key, _ = ApiKeyStore(db).create("alice", "tests")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "ASSISTANT_DATA_DIR": str(root / "data"),
           "ASSISTANT_MODEL_CACHE_DIR": str(MODEL_CACHE), "ASSISTANT_PORT": str(port), "ASSISTANT_ENGINE": "llamacpp",
           "ASSISTANT_AUTO_INDEX_KNOWLEDGE": "false", "ASSISTANT_CHAT_RATE_PER_MINUTE": "0", "ASSISTANT_THREADS": "2"}
    log = open(root / "app.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 240
    try:
        while True:  # up, and the model loaded (503 until then)
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError((root / "app.log").read_text()[-3000:])
            try:
                response = httpx.post(f"{url}/completions", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                                      json={"model": BASE, "prompt": "Hi", "max_tokens": 1})
                if response.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        yield {"url": url, "key": key, "settings": settings, "port": port}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server["url"], api_key=server["key"], max_retries=0, timeout=120)


def test_models_are_the_base_and_every_adapter(client):
    ids = [m.id for m in client.models.list()]
    assert ids[0] == BASE
    assert {f"{BASE}:concise", f"{BASE}:zh-tutor"} <= set(ids)


def test_chat_completion_is_stored_as_a_conversation_of_the_keys_user(client, server):
    reply = client.chat.completions.create(
        model=BASE, messages=[{"role": "user", "content": "What is 17 + 25?"}],
        max_tokens=24, temperature=0,
    )
    assert "42" in reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    # the UI's owner string for alice; the reply can be voted on like any chat reply
    from assistant.services import Services

    services = Services(server["settings"])
    conversation = services.conversations.get("user:alice", reply.model_extra["x_conversation_id"])
    assert [m["role"] for m in conversation.messages] == ["user", "assistant"]
    assert conversation.messages[1]["content"] == reply.choices[0].message.content
    vote = services.feedback.vote("user:alice", reply.model_extra["x_message_id"], True)
    assert vote["liked"] is True


def test_streaming_sends_chunks_in_openai_format(client):
    stream = client.chat.completions.create(
        model=BASE, messages=[{"role": "user", "content": "Count from 1 to 5."}], max_tokens=24, temperature=0,
        stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 3, "the reply should arrive in several chunks"
    assert "3" in "".join(pieces)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_n_gives_three_choices_from_one_batch(client):
    reply = client.chat.completions.create(
        model=BASE, messages=[{"role": "user", "content": "Name a fruit."}], max_tokens=12, temperature=1.0, n=3,
        seed=1,
    )
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert all(c.message.content for c in reply.choices)


def test_an_adapter_is_a_model_id(client):
    reply = client.chat.completions.create(
        model=f"{BASE}:zh-tutor", messages=[{"role": "user", "content": "What is a cat?"}], max_tokens=16,
        temperature=0,
    )
    text = reply.choices[0].message.content
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in text) >= 3, text


def test_client_tools_come_back_as_tool_calls(client):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    reply = client.chat.completions.create(
        model=BASE, messages=[{"role": "user", "content": "What is the weather in Paris right now?"}], tools=tools,
        max_tokens=64,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert "paris" in json.loads(call.function.arguments)["city"].lower()
    # usage counts the decision: its prompt holds the tool list, its output the call's JSON
    assert reply.usage.prompt_tokens > 20 and reply.usage.completion_tokens >= len(call.function.arguments) // 8


def test_json_schema_response_parses(client):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    reply = client.chat.completions.create(
        model=BASE, messages=[{"role": "user", "content": "Invent a person: name and age."}], max_tokens=40,
        temperature=0, response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    person = json.loads(reply.choices[0].message.content)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)


def test_embeddings_and_images(client):
    vectors = client.embeddings.create(model="all-minilm-l6-v2", input=["a cat", "a dog"])
    assert [len(v.embedding) for v in vectors.data] == [384, 384]
    images = client.images.generate(model="gan-digits", prompt="the digit 7", n=2)
    pngs = [base64.b64decode(i.b64_json) for i in images.data]
    assert len(pngs) == 2 and all(p.startswith(b"\x89PNG") for p in pngs)


def test_errors_have_openai_shape_and_status(client, server):
    import openai

    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert unknown.value.body["code"] == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server["url"], api_key="sk-wrong", max_retries=0).models.list()
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=BASE, messages=[])
    response = httpx.post(f"{server['url']}/chat/completions", headers={"Authorization": f"Bearer {server['key']}"},
                          json={"model": BASE, "messages": [{"role": "user", "content": "x" * 20_001}]})
    assert response.status_code == 413 and response.json()["error"]["code"] == "input_too_large"


def test_langchain_chat_openai_unchanged(server):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=server["url"], api_key=server["key"], model=BASE, temperature=0, max_tokens=16,
                     max_retries=0)
    assert "42" in llm.invoke("What is 17 + 25?").content
    streamed = "".join(chunk.content for chunk in llm.stream("Say hello."))
    assert streamed.strip()


def test_remote_engine_streams_a_chat_turn_and_switches_adapters(server, tmp_path):
    """The app in this process with ASSISTANT_ENGINE=remote, decoding on the server process."""
    from assistant.chat import TurnRequest
    from assistant.config import Settings
    from assistant.llm.base import GenerationParams
    from assistant.llm.select import load_engine
    from assistant.services import Services

    settings = Settings(data_dir=tmp_path / "data", model_cache_dir=MODEL_CACHE, auto_index_knowledge=False,
                        engine="remote", remote_url=server["url"], remote_key=server["key"], tools_by_default=False)
    engine = load_engine(settings)
    assert engine.kind == "remote"
    services = Services(settings)
    services.set_llm(engine)
    ask = {"owner": "me", "message": "What is a cat?", "knowledge_mode": "off", "params": {"temperature": 0.0,
                                                                                          "max_new_tokens": 16}}
    updates = list(services.chat.turn(TurnRequest(adapter="none", **ask)))
    assert sum(1 for u in updates if not u.done and u.result.answer) >= 3, "the reply should stream"
    plain = updates[-1].result
    tutored = services.chat.run(TurnRequest(adapter="zh-tutor", **ask))
    assert plain.engine == "remote" and plain.answer and tutored.answer != plain.answer
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in tutored.answer) >= 3
    # self-consistency paths as one `n` request
    prompt, _ = engine.build_prompt([{"role": "user", "content": "Name a fruit."}], 8)
    texts = list(engine.stream_many(prompt, GenerationParams(temperature=1.0, max_new_tokens=8), 3))[-1]
    assert len(texts) == 3 and all(texts)
    with pytest.raises(ValueError, match="not served by the remote server"):
        engine.load_adapter("not-there", str(tmp_path))  # what the registry calls when an adapter is first used
    stopped = threading.Event()
    stopped.set()
    assert list(engine.stream(prompt, GenerationParams(), None, stopped)) == []
