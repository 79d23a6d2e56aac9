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
    assert row["reply"] == result.answer and row["prompt"] == [{"role": "user", "content": "hi"}]
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
