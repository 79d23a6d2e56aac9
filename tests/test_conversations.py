"""Conversations persist across a restart and stay private to their owner."""

import pytest

from assistant.conversations import ConversationStore, NotFound
from assistant.db import Database


def test_conversations_survive_a_restart(database_url):
    url = database_url
    store = ConversationStore(Database(url))
    conv = store.create("alice", cot_mode="step-by-step")
    store.add_message(conv.id, "user", "What is LoRA?")
    store.add_message(conv.id, "assistant", "Low-Rank Adaptation.", reasoning="thinking", meta={"adapter": "x"})
    # a new engine on the same file = the app restarted
    reopened = ConversationStore(Database(url))
    view = reopened.get("alice", conv.id)
    assert [m["content"] for m in view.messages] == ["What is LoRA?", "Low-Rank Adaptation."]
    assert view.messages[1]["reasoning"] == "thinking" and view.messages[1]["meta"] == {"adapter": "x"}
    assert view.cot_mode == "step-by-step"
    assert view.title == "What is LoRA?"


def test_owners_never_see_each_other(database_url):
    store = ConversationStore(Database(database_url))
    mine = store.create("alice")
    store.create("bob")
    assert [cid for cid, _ in store.list("alice")] == [mine.id]
    with pytest.raises(NotFound):
        store.get("bob", mine.id)
    with pytest.raises(NotFound):
        store.delete("bob", mine.id)
    assert store.get("alice", mine.id).id == mine.id


def test_rename_delete_and_bad_options(database_url):
    store = ConversationStore(Database(database_url))
    conv = store.create("alice")
    store.rename("alice", conv.id, "  My   chat ")
    assert store.list("alice") == [(conv.id, "My chat")]
    with pytest.raises(ValueError):
        store.rename("alice", conv.id, "   ")
    with pytest.raises(ValueError):
        store.update("alice", conv.id, cot_mode="telepathy")
    with pytest.raises(ValueError):
        store.update("alice", conv.id, knowledge_mode="sometimes")
    store.delete("alice", conv.id)
    assert store.list("alice") == []
