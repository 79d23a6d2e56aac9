"""The /v1 app in-process with the tiny random model: auth rules, error shapes and status codes, the bounded queue,
and a schemathesis contract run over the OpenAPI schema that must find no 500. (The real model and the official
clients are in tests/test_api.py.)"""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

LOOPBACK = ("127.0.0.1", 50000)
LOCAL_URL = "http://127.0.0.1:7860"  # the Host header a local client sends


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
    assert TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL).get("/models").status_code == 200


def test_without_keys_a_page_rebound_to_loopback_is_refused(api_app):
    """DNS rebinding: a page at evil.example whose name now resolves to 127.0.0.1 reaches us from loopback."""
    rebound = TestClient(api_app, client=LOOPBACK, base_url="http://evil.example:7860")
    response = rebound.get("/models")
    assert response.status_code == 401 and response.json()["error"]["code"] == "no_api_keys"
    assert TestClient(api_app, client=LOOPBACK, base_url="http://localhost:7860").get("/models").status_code == 200


def test_once_an_account_exists_the_api_needs_a_key_even_from_loopback(api_app, services):
    from assistant.users import UserStore

    users = UserStore(services.db)
    users.add("erin", "a-long-password", "user")
    try:
        response = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL).get("/models")
        assert response.status_code == 401 and "API key" in response.json()["error"]["message"]
    finally:
        users.delete("erin")
    assert TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL).get("/models").status_code == 200


def test_once_a_key_exists_every_client_needs_one(api_app, services):
    from assistant.users import ApiKeyStore

    store = ApiKeyStore(services.db)
    key, record = store.create("local")
    local = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL)
    assert local.get("/models").json()["error"]["code"] == "missing_api_key"
    assert local.get("/models", headers={"Authorization": "Bearer sk-asst-nope"}).status_code == 401
    assert local.get("/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert store.list()[0]["prefix"].startswith(key[:12]) and key not in str(store.list())
    store.revoke(record["id"])
    assert store.active_count() == 0


def test_errors_are_openai_shaped_with_the_right_status(api_app):
    client = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL)
    base = _base(client)
    cases = [
        ({"model": base, "messages": []}, 400),
        ({"model": base}, 400),  # FastAPI would say 422
        ({"model": base, "messages": [{"role": "wizard", "content": "hi"}]}, 400),
        ({"model": base, "messages": [{"role": "user", "content": "hi"}], "temperature": 9}, 400),
        ({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}, 404),
        # no coercion, as OpenAI: these were taken as n=2, a stream and max_tokens=1
        ({"model": base, "messages": [{"role": "user", "content": "hi"}], "n": "2"}, 400),
        ({"model": base, "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, 400),
        ({"model": base, "messages": [{"role": "user", "content": "hi"}], "max_tokens": True}, 400),
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
    client = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL)
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


def test_bad_schemas_and_tool_choices_are_400s_that_name_the_parameter(api_app):
    client = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL)
    base = _base(client)
    _loaded(client, base)
    hi = [{"role": "user", "content": "hi"}]

    def tools(parameters: dict) -> list[dict]:
        return [{"type": "function", "function": {"name": "lookup", "parameters": parameters}}]

    cases = [
        ({"tools": tools({"type": "banana"})}, "tools"),
        ({"tools": tools({"type": "object", "properties": [1]})}, "tools"),
        ({"tools": tools({"$ref": "#/defs/missing"})}, "tools"),
        # arguments are one JSON object: a string schema was accepted and a required call came back as text
        ({"tools": tools({"type": "string", "maxLength": 5}), "tool_choice": "required"}, "tools"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "banana"}}}},
         "response_format"),
        ({"response_format": {"type": "json_schema", "json_schema": {
            "name": "x", "schema": {"type": "string", "pattern": "(["}}}}, "response_format"),
        ({"tool_choice": {"type": "function", "function": {"name": "lookup"}}}, "tool_choice"),  # no tools sent
        ({"tools": tools({"type": "object"}), "tool_choice": {"type": "function", "function": {}}}, "tool_choice"),
    ]
    for extra, param in cases:
        response = client.post("/chat/completions", json={"model": base, "messages": hi, "max_tokens": 4, **extra})
        assert response.status_code == 400, (extra, response.text)
        error = response.json()["error"]
        assert error["param"] == param and error["type"] == "invalid_request_error", (extra, error)
        assert "Traceback" not in error["message"] and "AssertionError" not in error["message"]


def test_a_required_tool_call_the_model_cannot_finish_is_an_error_not_text(api_app, services, monkeypatch):
    """tool_choice "required" promises a call: one cut off at the decision's token budget used to come back as a
    text answer (finish_reason "stop"); now it is a 422 that says why, and nothing is stored."""
    from assistant.api import serving

    client = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL)
    base = _base(client)
    _loaded(client, base)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"city": {"enum": ["Paris", "Rome"]}}, "required": ["city"]}}}]
    body = {"model": base, "messages": [{"role": "user", "content": "weather in Paris?"}], "max_tokens": 4,
            "tools": tools, "tool_choice": "required"}
    before = len(services.conversations.list("local"))
    monkeypatch.setattr(serving, "TOOL_DECISION_TOKENS", 3)  # '{"tool' at most: the call cannot be finished
    for stream in (False, True):
        response = client.post("/chat/completions", json={**body, "stream": stream})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "tool_call_unusable" and error["param"] == "tool_choice", error
        assert "at most 3 tokens" in error["message"], error
    assert len(services.conversations.list("local")) == before
    monkeypatch.setattr(serving, "TOOL_DECISION_TOKENS", 384)  # with its budget the (random) model's call is whole
    reply = client.post("/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["finish_reason"] == "tool_calls"


def test_slash_commands_are_builtin_tools_and_need_the_opt_in(api_app, services):
    """"/calc 6*7" is the calculator: an API client gets it only with x_builtin_tools (docs/api.md)."""
    client = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL)
    base = _base(client)
    _loaded(client, base)
    body = {"model": base, "messages": [{"role": "user", "content": "/calc 6*7"}], "max_tokens": 4, "temperature": 0}
    plain = client.post("/chat/completions", json=body).json()
    opted_in = client.post("/chat/completions", json={**body, "x_builtin_tools": True}).json()
    assert "42" in opted_in["choices"][0]["message"]["content"]
    assert "42" not in plain["choices"][0]["message"]["content"]  # the tiny model's own words, no calculator
    stored = services.conversations.get("local", plain["x_conversation_id"]).messages[-1]
    assert not (stored.get("meta") or {}).get("tool_calls")


def test_every_generating_route_counts_against_the_per_user_rate(api_app, services):
    """Not only plain chats: completions, JSON-mode chats, embeddings and images are generation too."""
    from assistant import limits

    client = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL)
    base = _base(client)
    _loaded(client, base)
    services.settings.chat_rate_per_minute, services.settings.chat_burst = 1, 2
    limits.reset()
    try:
        hi = [{"role": "user", "content": "hi"}]
        routes = [("/completions", {"model": base, "prompt": "hi", "max_tokens": 1}),
                  ("/chat/completions", {"model": base, "messages": hi, "max_tokens": 1,
                                         "response_format": {"type": "json_object"}}),
                  ("/embeddings", {"model": "all-minilm-l6-v2", "input": "hi"})]
        for route, body in routes:
            limits.reset()
            statuses = [client.post(route, json=body).status_code for _ in range(3)]
            assert statuses[:2] == [200, 200] and statuses[2] == 429, (route, statuses)
    finally:
        services.settings.chat_rate_per_minute = 0
        limits.reset()


def test_a_refused_request_stores_nothing_and_costs_no_rate(api_app, services, monkeypatch):
    """A hostile probe (twenty-sixth session): a chat refused for an empty last message or the rate still stored a
    conversation with every resent history message (400 rows from one 19 KB request), and an invalid completion,
    embedding or image request used up the caller's rate."""
    from assistant import limits

    client = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL)
    base = _base(client)
    _loaded(client, base)

    def stored() -> int:
        return len(services.conversations.list("local"))

    before = stored()
    history = [{"role": "user", "content": "ORPHAN 1"}, {"role": "assistant", "content": "reply 1"}]
    empty = client.post("/chat/completions", json={"model": base, "messages": [*history,
                                                                               {"role": "user", "content": "  "}]})
    assert empty.status_code == 400 and "empty" in empty.json()["error"]["message"] and stored() == before
    # the second probe: a system prompt the window cannot hold was refused only after the turn had stored
    crowded = client.post("/chat/completions", json={"model": base, "max_tokens": 4, "messages": [
        {"role": "system", "content": "Speak like a pirate. " * 350}, *history, {"role": "user", "content": "ok"}]})
    assert crowded.status_code == 400 and "system prompt" in crowded.json()["error"]["message"], crowded.text
    assert stored() == before
    blank = client.post("/embeddings", json={"model": "all-minilm-l6-v2", "input": ["a cat", ""]})
    assert blank.status_code == 400 and blank.json()["error"]["param"] == "input"
    huge = client.post("/chat/completions", json={"model": base, "messages": history[:1], "max_tokens": 10**8})
    assert huge.status_code == 400 and huge.json()["error"]["param"] == "max_tokens", huge.text
    monkeypatch.setattr("assistant.api.serving.MAX_MESSAGES", 8)  # 512 messages would pass this test's body limit
    many = [{"role": "user", "content": f"m{i}"} for i in range(9)]
    too_many = client.post("/chat/completions", json={"model": base, "messages": many})
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "messages" and stored() == before
    services.settings.chat_rate_per_minute, services.settings.chat_burst = 1, 1
    limits.reset()
    try:
        ok = {"model": base, "messages": [*history, {"role": "user", "content": "next"}], "max_tokens": 1}
        assert client.post("/chat/completions", json=ok).status_code == 200 and stored() == before + 1
        over = client.post("/chat/completions", json={**ok, "messages": [{"role": "user", "content": "ORPHAN 2"},
                                                                          *ok["messages"][1:]]})
        assert over.status_code == 429 and stored() == before + 1
        limits.reset()
        refused = [("/completions", {"model": base, "prompt": "", "max_tokens": 1}),
                   ("/embeddings", {"model": "no-such-embedder", "input": "hi"}),
                   ("/images/generations", {"model": "no-such-model", "prompt": "a 7"})]
        for route, body in refused * 2:
            assert client.post(route, json=body).status_code in (400, 404), route
        assert client.post("/completions", json={"model": base, "prompt": "hi", "max_tokens": 1}).status_code == 200
    finally:
        services.settings.chat_rate_per_minute = 0
        limits.reset()


def test_text_that_is_not_unicode_is_a_400_that_names_the_parameter(api_app):
    """JSON can carry a lone surrogate; the embedder answered 500 and the chat a raw codec error."""
    client = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL)
    base = _base(client)
    bad = "\ud800 hi"  # json.dumps writes it as the escape "\\ud800"; httpx's json= would refuse to encode it
    cases = [("/embeddings", json.dumps({"model": "all-minilm-l6-v2", "input": [bad]}), "input"),
             ("/chat/completions", json.dumps({"model": base, "messages": [{"role": "user", "content": bad}]}),
              "messages"),
             ("/completions", json.dumps({"model": base, "prompt": bad}), "prompt")]
    for route, content, param in cases:
        response = client.post(route, content=content, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (route, response.text)
        error = response.json()["error"]
        assert error["param"] == param and "lone surrogate" in error["message"]
    long_id = "x" * 5000
    unknown = client.post("/embeddings", json={"model": long_id, "input": "hi"}).json()["error"]["message"]
    assert len(unknown) < 300  # the id is cut, not echoed whole


def test_a_full_queue_answers_429(api_app):
    client = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL)
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
    client = TestClient(api_app, client=LOOPBACK, base_url=LOCAL_URL, headers=auth)
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
