"""The /v1 app in-process with the tiny random model: auth rules, error shapes and status codes, the bounded queue,
and a schemathesis contract run over the OpenAPI schema that must find no 500. (The real model and the official
clients are in tests/test_api.py.)"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

LOOPBACK = ("127.0.0.1", 50000)


@pytest.fixture()
def api_app(services):
    from assistant.api import create_api

    services.settings.api_max_body_bytes = 8192
    services.settings.api_queue_size = 0
    services.settings.max_new_tokens_cap = 32  # bounded work per generated request (more is a 400)
    return create_api(services)


def _loaded(client: TestClient, model: str) -> None:
    """Wait out the 503 of the first request (it starts loading the model)."""
    deadline = time.time() + 120
    while time.time() < deadline:
        response = client.post("/completions", json={"model": model, "prompt": "hi", "max_tokens": 1})
        if response.status_code != 503:
            assert response.status_code == 200, response.text
            return
        time.sleep(0.2)
    raise AssertionError("the model never loaded")


def _base(client: TestClient) -> str:
    return client.get("/models").json()["data"][0]["id"]


def test_without_keys_only_loopback_is_served(api_app):
    remote = TestClient(api_app, client=("10.0.0.7", 50000))
    response = remote.get("/models")
    assert response.status_code == 401 and response.json()["error"]["code"] == "no_api_keys"
    assert TestClient(api_app, client=LOOPBACK).get("/models").status_code == 200


def test_once_a_key_exists_every_client_needs_one(api_app, services):
    from assistant.users import ApiKeyStore

    store = ApiKeyStore(services.db)
    key, record = store.create("local")
    local = TestClient(api_app, client=LOOPBACK)
    assert local.get("/models").json()["error"]["code"] == "missing_api_key"
    assert local.get("/models", headers={"Authorization": "Bearer sk-asst-nope"}).status_code == 401
    assert local.get("/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert store.list()[0]["prefix"].startswith(key[:12]) and key not in str(store.list())
    store.revoke(record["id"])
    assert store.active_count() == 0


def test_errors_are_openai_shaped_with_the_right_status(api_app):
    client = TestClient(api_app, client=LOOPBACK)
    base = _base(client)
    cases = [
        ({"model": base, "messages": []}, 400),
        ({"model": base}, 400),  # FastAPI would say 422
        ({"model": base, "messages": [{"role": "wizard", "content": "hi"}]}, 400),
        ({"model": base, "messages": [{"role": "user", "content": "hi"}], "temperature": 9}, 400),
        ({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}, 404),
    ]
    for body, status in cases:
        response = client.post("/chat/completions", json=body)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()["error"]) >= {"message", "type", "code"}
    assert client.post("/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 400
    big = client.post("/chat/completions", json={"model": base, "messages": [{"role": "user", "content": "x" * 9000}]})
    assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"


def test_first_request_gets_503_while_loading_then_chats_are_stored(api_app, services):
    client = TestClient(api_app, client=LOOPBACK)
    base = _base(client)
    first = client.post("/chat/completions", json={"model": base, "messages": [{"role": "user", "content": "hi"}]})
    assert first.status_code == 503 and first.json()["error"]["code"] == "model_loading"
    _loaded(client, base)
    body = {"model": base, "messages": [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "hello"}], "max_tokens": 5, "temperature": 0}
    reply = client.post("/chat/completions", json=body).json()
    conversation = services.conversations.get("local", reply["x_conversation_id"])
    assert conversation.messages[-1]["id"] == reply["x_message_id"]
    # the client resends the chat so far: the same conversation continues
    follow = {**body, "messages": [*body["messages"], {"role": "assistant", "content": reply["choices"][0]["message"]
                                                      ["content"]}, {"role": "user", "content": "more"}]}
    again = client.post("/chat/completions", json=follow).json()
    assert again["x_conversation_id"] == reply["x_conversation_id"]
    with client.stream("POST", "/chat/completions", json={**body, "stream": True, "n": 2}) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]" and '"index": 1' in "".join(lines)


def test_a_full_queue_answers_429(api_app):
    client = TestClient(api_app, client=LOOPBACK)
    base = _base(client)
    _loaded(client, base)
    gate = api_app.state.api.gate
    gate.acquire()  # the one slot is busy and nobody may wait (api_queue_size=0)
    try:
        response = client.post("/completions", json={"model": base, "prompt": "hi", "max_tokens": 1})
        assert response.status_code == 429 and response.json()["error"]["type"] == "rate_limit_error"
    finally:
        gate.release()


@pytest.mark.slow
def test_contract_no_server_errors(api_app, services):
    """schemathesis: requests generated from our OpenAPI schema (valid and invalid) never get a 500."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from assistant.api.serving import EMBEDDING_MODEL as EMBEDDING
    from assistant.users import ApiKeyStore

    key, _ = ApiKeyStore(services.db).create("local")
    auth = {"Authorization": f"Bearer {key}"}
    client = TestClient(api_app, client=LOOPBACK, headers=auth)
    base = _base(client)
    _loaded(client, base)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/images"):
            continue  # drawing is torch work on 2 shared cores; tests/test_api.py covers it

        model = EMBEDDING if operation.path == "/embeddings" else base
        examples = 12 if operation.method.upper() == "POST" else 4

        @given(case=operation.as_strategy(), known_model=st.booleans())
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case, known_model: bool) -> None:  # noqa: ANN001
            if known_model and isinstance(case.body, dict) and "model" in case.body:
                case.body["model"] = model  # noqa: B023 - run() is called right below; past the 404
            if known_model and "model_id" in (case.path_parameters or {}):
                case.path_parameters["model_id"] = base
            # generous: a schema-constrained reply from the tiny model on two shared cores can take a while
            response = case.call(headers={**(case.headers or {}), **auth}, timeout=300)
            if response.status_code >= 500:
                failures.append((case.method, case.path, response.status_code, response.text[:300]))

        run()
    assert not failures, failures
