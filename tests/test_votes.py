"""Votes go through FeedbackStore exactly as the UI's like button does, and exports load with `datasets`."""

import pytest

from assistant.chat import TurnRequest
from assistant.feedback import FeedbackError


def reply(services, owner="alice", message="hi", conversation_id=None, regenerate=False):
    return services.chat.run(TurnRequest(owner=owner, message=message, conversation_id=conversation_id,
                                         knowledge_mode="off", tools_enabled=False, regenerate=regenerate,
                                         params={"temperature": 1.0}))


def test_vote_change_double_click_and_clear(services):
    store = services.feedback
    result = reply(services)
    assert store.vote("alice", result.message_id, True)["total_votes"] == 1
    store.vote("alice", result.message_id, True)  # double click: still one vote
    store.vote("alice", result.message_id, False, "too vague")
    [row] = store.rows()
    assert row["value"] == -1 and row["reason"] == "too vague"
    assert row["reply"] == result.answer and row["prompt"][-1] == {"role": "user", "content": "hi"}
    assert row["prompt"][0] == {"role": "system", "content": services.settings.system_prompt}
    assert row["model"] == services.settings.model and row["cot_mode"] == "direct"
    store.vote("alice", result.message_id, None)
    assert store.rows() == []


def test_bad_votes_are_refused(services):
    store = services.feedback
    result = reply(services)
    with pytest.raises(FeedbackError):
        store.vote("alice", 999999, True)
    with pytest.raises(FeedbackError):
        store.vote("mallory", result.message_id, True)  # someone else's reply
    with pytest.raises(FeedbackError, match="assistant"):
        store.vote("alice", result.user_message_id, True)
    assert store.rows() == []


def test_exports_kto_and_dpo_load_with_datasets(services, tmp_path):
    from datasets import load_dataset

    store = services.feedback
    with pytest.raises(FeedbackError, match="nothing to export"):
        store.export("kto")
    first = reply(services, message="Tell me a fact")
    second = reply(services, conversation_id=first.conversation_id, regenerate=True)
    store.vote("alice", first.message_id, False)
    store.vote("alice", second.message_id, True)
    kto = load_dataset("json", data_files=str(store.export("kto", tmp_path / "kto.jsonl")), split="train")
    assert sorted(kto["label"]) == [False, True]
    dpo = load_dataset("json", data_files=str(store.export("dpo", tmp_path / "dpo.jsonl")), split="train")
    assert len(dpo) == 1 and dpo[0]["chosen"][0]["content"] == second.answer
    assert dpo[0]["rejected"][0]["content"] == first.answer
    stats = store.stats()
    assert stats["total"] == 2 and stats["by_adapter"]["base"] == {"👎": 1, "👍": 1}
    assert stats["pairs"] == 1
    third = reply(services, conversation_id=first.conversation_id, regenerate=True)
    store.vote("alice", third.message_id, False)  # a second 👎 to the same message pairs with the 👍 too
    assert store.stats()["pairs"] == 2


def test_votes_train_on_what_the_model_saw_sources_included(services, monkeypatch, tmp_path):
    """A grounded reply's vote exports the system prompt with the retrieved sources, as the model got them."""
    from datasets import load_dataset

    from assistant.knowledge.search import Hit

    source = "The flux capacitor needs 1.21 gigawatts."
    monkeypatch.setattr(services, "knowledge_hits",
                        lambda query, always=False, owner=None: [Hit("notes.md", "p. 3", 0.9, source)])
    store = services.feedback
    first = services.chat.run(TurnRequest(owner="alice", message="How much power?", knowledge_mode="always",
                                          tools_enabled=False, params={"temperature": 1.0, "seed": 1}))
    second = services.chat.run(TurnRequest(owner="alice", message="", conversation_id=first.conversation_id,
                                           regenerate=True, knowledge_mode="always", tools_enabled=False,
                                           params={"temperature": 1.0, "seed": 2}))
    store.vote("alice", first.message_id, False)
    store.vote("alice", second.message_id, True)
    kto = load_dataset("json", data_files=str(store.export("kto", tmp_path / "kto.jsonl")), split="train")
    dpo = load_dataset("json", data_files=str(store.export("dpo", tmp_path / "dpo.jsonl")), split="train")
    for prompt in (*kto["prompt"], dpo[0]["prompt"]):
        system, user = prompt[0], prompt[-1]
        assert system["role"] == "system" and source in system["content"]
        assert "[1] (notes.md, p. 3)" in system["content"]
        assert user == {"role": "user", "content": "How much power?"}
    assert kto["legacy_context"] == [False, False] and kto["model_output"] == [True, True]
    [row] = [r for r in store.rows() if r["message_id"] == second.message_id]
    assert row["model_input"]["prompt"].count(source) == 1 and row["engine"] == services.llm.kind


def test_votes_on_tool_answers_and_old_replies_are_flagged_and_left_out_of_training(services, tmp_path):
    from sqlalchemy import select

    from assistant.db import Message

    store = services.feedback
    command = services.chat.run(TurnRequest(owner="alice", message="/calc 17*23"))
    old = reply(services, message="an old reply")
    with services.db.session() as s:  # a reply stored before model inputs were recorded
        message = s.scalars(select(Message).where(Message.id == old.message_id)).one()
        message.meta = {k: v for k, v in message.meta.items() if k != "model_input"}
    fresh = reply(services, message="a new reply")
    for result in (command, old, fresh):
        store.vote("alice", result.message_id, True)
    rows = {r["message_id"]: r for r in store.rows()}
    assert (rows[command.message_id]["legacy_context"], rows[command.message_id]["model_output"]) == (True, False)
    assert (rows[old.message_id]["legacy_context"], rows[old.message_id]["model_output"]) == (True, None)
    assert (rows[fresh.message_id]["legacy_context"], rows[fresh.message_id]["model_output"]) == (False, True)
    assert [r["prompt"][-1]["content"] for r in store.kto_rows()] == ["a new reply"]
    everything = store.kto_rows(include_legacy=True)
    assert len(everything) == 3 and sum(r["legacy_context"] for r in everything) == 2
