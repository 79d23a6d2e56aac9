"""ChatEngine turns with a tiny real model: recording, regenerate, JSON contract, commands, bad input."""

import pytest

from assistant.chat import TurnRequest
from assistant.conversations import NotFound
from assistant.llm.engine import InputError


def ask(services, message, **kwargs):
    kwargs.setdefault("knowledge_mode", "off")
    return services.chat.run(TurnRequest(owner=kwargs.pop("owner", "alice"), message=message, **kwargs))


def test_turn_records_both_messages_with_meta(services):
    result = ask(services, "Hello there", tools_enabled=False)
    view = services.conversations.get("alice", result.conversation_id)
    assert [m["role"] for m in view.messages] == ["user", "assistant"]
    reply = view.messages[1]
    assert reply["content"] == result.answer and reply["id"] == result.message_id
    assert reply["meta"]["model"] == services.settings.model and reply["meta"]["cot_mode"] == "direct"
    assert reply["meta"]["user_message_id"] == view.messages[0]["id"]
    assert result.tokens > 0


def test_json_contract_has_the_stable_fields(services):
    data = ask(services, "Hi", tools_enabled=False).to_json()
    for key in (
        "answer",
        "reasoning",
        "model",
        "quant",
        "adapter",
        "sources",
        "tool_calls",
        "images",
        "tokens",
        "seconds",
    ):
        assert key in data


def test_regenerate_keeps_the_old_reply_as_an_alternative(services):
    first = ask(services, "Tell me something", tools_enabled=False, params={"temperature": 1.0, "seed": 1})
    second = services.chat.run(
        TurnRequest(
            owner="alice",
            message="",
            conversation_id=first.conversation_id,
            regenerate=True,
            knowledge_mode="off",
            tools_enabled=False,
        )
    )
    visible = services.conversations.get("alice", first.conversation_id)
    everything = services.conversations.get("alice", first.conversation_id, include_inactive=True)
    assert [m["role"] for m in visible.messages] == ["user", "assistant"]
    assert visible.messages[1]["id"] == second.message_id
    old = next(m for m in everything.messages if m["id"] == first.message_id)
    assert old["active"] is False
    assert visible.messages[1]["alternative_of"] == first.message_id
    assert old["meta"]["user_message_id"] == visible.messages[1]["meta"]["user_message_id"]


def test_bad_input_is_refused_and_nothing_is_stored(services):
    with pytest.raises(InputError, match="empty"):
        ask(services, "   ")
    with pytest.raises(InputError, match="limit"):
        ask(services, "x" * (services.settings.max_input_chars + 1))
    assert services.conversations.list("alice") == []


def test_a_system_prompt_the_window_cannot_hold_is_refused_before_anything_is_written(services):
    """A second hostile probe: a turn refused because the system prompt filled the window still created its
    conversation and stored the message (and a 10 MB system prompt); a Regenerate refused so hid the reply it was
    to replace, leaving the conversation without an answer."""
    first = ask(services, "Tell me something", tools_enabled=False)
    too_long = "Always answer in the voice of a pirate. " * 300  # 12,000 characters: allowed, but not in 1,024 tokens
    with pytest.raises(InputError, match="shorten the system prompt"):
        ask(services, "hi", system_prompt=too_long, remember_options=True, tools_enabled=False)
    assert [cid for cid, _ in services.conversations.list("alice")] == [first.conversation_id]
    for remember in (False, True):
        with pytest.raises(InputError, match="shorten the system prompt"):
            services.chat.run(TurnRequest(owner="alice", message="", conversation_id=first.conversation_id,
                                          regenerate=True, system_prompt=too_long, remember_options=remember,
                                          knowledge_mode="off", tools_enabled=False))
    view = services.conversations.get("alice", first.conversation_id)
    assert [m["id"] for m in view.messages][-1] == first.message_id  # the reply is still there
    assert view.generation.get("system_prompt") != too_long
    # over the limit the store and the export's import share, refused wherever it comes from
    over = "x" * 20_001
    with pytest.raises(ValueError, match="at most 20,000"):
        ask(services, "hi", system_prompt=over)
    with pytest.raises(ValueError, match="at most 20,000"):
        services.conversations.update("alice", first.conversation_id, generation={"system_prompt": over})
    with pytest.raises(ValueError, match="at most 20,000"):
        services.conversations.create("alice", generation={"system_prompt": over})
    assert len(services.conversations.list("alice")) == 1
    # a Regenerate that succeeds still replaces the reply
    again = services.chat.run(TurnRequest(owner="alice", message="", conversation_id=first.conversation_id,
                                          regenerate=True, knowledge_mode="off", tools_enabled=False))
    assert [m["id"] for m in services.conversations.get("alice", first.conversation_id).messages][-1] == \
        again.message_id


def test_sources_that_do_not_fit_beside_the_message_are_left_out_with_a_notice(services, monkeypatch):
    """Four long sources (~1,400 tokens) do not fit the tests' 1,024-token window beside the message: the turn
    answers without them and says so, instead of a prompt the engine refuses after the turn has written."""
    from assistant.knowledge.search import Hit

    hits = [Hit(f"doc{i}.md", f"p. {i}", 0.9, f"Part {i}: " + "the manual explains it at length " * 40)
            for i in range(1, 5)]
    monkeypatch.setattr(services, "knowledge_hits", lambda query, always=False, owner=None: hits)
    result = ask(services, "What does part 2 say?", knowledge_mode="always", tools_enabled=False)
    assert "did not fit" in " ".join(result.notices) and result.sources == []
    assert "Part 2: the manual" not in result.model_input["messages"][0]["content"]
    room = services.settings.context_tokens - result.model_input["params"]["max_new_tokens"]
    assert services.llm.count_tokens(result.model_input["prompt"]) <= room


def test_another_owner_cannot_continue_my_conversation(services):
    mine = ask(services, "secret", tools_enabled=False)
    with pytest.raises(NotFound):
        ask(services, "let me in", owner="mallory", conversation_id=mine.conversation_id)


def scripted(services, monkeypatch, reply=None, paths=None):
    """The real chat path, with the model's text fixed: what the chat does with a reply is then checkable."""
    engine = services.llm
    seen = {}

    def stream(prompt, params, adapter=None, stop_event=None, stats=None, json_schema=None, bias=None):
        seen["prompt"] = prompt
        if stats is not None:
            stats.tokens = len(reply.split())
        yield from (reply[i : i + 7] for i in range(0, len(reply), 7))  # in pieces, as a model streams

    def stream_many(prompt, params, n, adapter=None, stop_event=None, stats=None):
        seen["prompt"], seen["n"], seen["temperature"] = prompt, n, params.temperature
        yield [p[: len(p) // 2] for p in paths]
        yield list(paths)

    monkeypatch.setattr(engine, "stream", stream)
    monkeypatch.setattr(engine, "stream_many", stream_many)
    return seen


def test_step_by_step_splits_reasoning_from_the_answer(services, monkeypatch):
    text = ("12 - 5 = 7.\n\n7 + 8 = 15.<|end_of_thought|>\n"
            "<|begin_of_solution|>He has \\boxed{15} apples.<|end_of_solution|>")
    seen = scripted(services, monkeypatch, reply=text)
    result = ask(services, "Tom has 12 apples…", cot_mode="step-by-step", tools_enabled=False)
    assert (result.reasoning, result.answer) == ("12 - 5 = 7.\n\n7 + 8 = 15.", "He has \\boxed{15} apples.")
    assert seen["prompt"].endswith("<|begin_of_thought|>\n")  # the thought block is primed
    stored = services.conversations.message(result.message_id)
    assert stored["reasoning"] == result.reasoning and stored["content"] == result.answer
    assert "Think step by step" in stored["meta"]["model_input"]["messages"][0]["content"]


def test_self_consistency_votes_on_normalised_finals(services, monkeypatch):
    services.settings.self_consistency_paths = 4
    paths = ["7 / 3 per person.\n\nSo \\boxed{\\frac{7}{3}}", "Each gets 2.333", "It is \\boxed{5}", "\\boxed{7/3}"]
    seen = scripted(services, monkeypatch, paths=paths)
    result = ask(services, "Share 7 cakes among 3", cot_mode="self-consistency", tools_enabled=False)
    assert seen["n"] == 4 and seen["temperature"] >= 0.7  # sampled, not four greedy copies
    assert result.votes == [{"answer": "7/3", "count": 3, "paths": [1, 2, 4]},
                            {"answer": "5", "count": 1, "paths": [3]}]
    assert result.answer == "So \\boxed{\\frac{7}{3}}"  # the first winning path's own answer
    assert result.reasoning.count("**Path") == 4


def test_commands_run_without_the_model(services):
    result = ask(services, "/help")
    assert "/draw" in result.answer
    result = ask(services, "/calc 17*23")
    assert result.tool_calls[0]["name"] == "calculator" and "391" in result.answer
    assert "Unknown command" in ask(services, "/frobnicate").answer


def test_unknown_adapter_is_a_clear_error(services):
    from assistant.adapters import AdapterError

    with pytest.raises(AdapterError, match="unknown adapter"):
        ask(services, "hi", adapter="nope")
    with pytest.raises(AdapterError, match="invalid"):
        ask(services, "hi", adapter="../../etc")


def test_the_answering_model_reads_a_drawing_as_a_system_note_without_the_seed_hints(services):
    """The chat shows a drawing's seed and `like=` hint to the person; the model answering the next message reads
    only what was drawn, in its system prompt, not as a turn of its own it could copy into an unrelated answer
    (both seen in browser tries)."""
    first = ask(services, "Hello there")
    drawn = ask(services, "/draw 7", conversation_id=first.conversation_id)
    shown = services.conversations.get("alice", drawn.conversation_id).messages[-1]["content"]
    assert "like=" in shown and drawn.images
    result = ask(services, "What is a good name for a dog?", tools_enabled=False,
                 conversation_id=drawn.conversation_id)
    given = result.model_input["messages"]
    assert [m["role"] for m in given] == ["system", "user", "assistant", "user"]
    assert given[1]["content"] == "Hello there" and given[2]["content"] == first.answer
    assert '"/draw 7" → generate_images: ' in given[0]["content"] and "image(s) from" in given[0]["content"]
    assert not any("like=" in m["content"] or "seed" in m["content"] for m in given)


def test_a_drawing_call_that_leaves_out_groups_runs_as_decided_and_names_them(services, monkeypatch):
    """The model decides, code checks: a call that draws only the stars of "two large red stars and a small blue
    circle" runs as it is, and the reply names the circle and the command that draws both."""
    from assistant.tools.decision import format_call
    from assistant.ui.chat_tab import pending_view

    decision = format_call("generate_images", {"prompt": "large red stars", "n": 2, "model": "diffusion"})
    monkeypatch.setattr(services.llm, "generate", lambda *a, **k: (decision, None))
    result = ask(services, "draw two large red stars and a small blue circle", tools_enabled=True)
    call = result.tool_calls[0]
    assert call["how"] == "model" and call["arguments"]["prompt"] == "large red stars"
    assert call["result"]["labels"] == [[3, 0, 1]] * 2  # the model's call, not widened: two large red stars
    assert "one small blue circle" in result.answer
    command = "/draw two large red stars and one small blue circle with diffusion"
    assert f"`{command}`" in result.answer
    both = ask(services, command)  # the suggested command draws every group
    assert both.tool_calls[0]["result"]["labels"] == [[3, 0, 1]] * 2 + [[0, 2, 0]]
    # and so does the offer, once the user confirms it (the Confirm button): a new reply, the first one kept
    assert result.pending_call == {"name": "generate_images", "offer": True, "arguments": {
        "prompt": "two large red stars and one small blue circle", "model": "diffusion"}}
    assert pending_view((result.message_id, result.pending_call))[1].startswith("**Also run `generate_images(")
    confirmed = services.chat.confirm("alice", result.message_id)
    assert confirmed.tool_calls[0]["result"]["labels"] == [[3, 0, 1]] * 2 + [[0, 2, 0]]
    assert len(confirmed.images) == 3 and confirmed.message_id != result.message_id
    with pytest.raises(InputError, match="no proposed action"):  # once
        services.chat.confirm("alice", result.message_id)
    # a call that draws what was asked gets no note
    monkeypatch.setattr(services.llm, "generate", lambda *a, **k: (
        format_call("generate_images", {"prompt": "two large red stars and a small blue circle"}), None))
    again = ask(services, "draw two large red stars and a small blue circle", tools_enabled=True)
    assert "asks for" not in again.answer and len(again.tool_calls[0]["result"]["labels"]) == 3
    assert again.pending_call is None
