"""Conversation search, export and import: round trips, owners kept apart, bad files change nothing."""

from __future__ import annotations

import json

import pytest

from assistant import conversation_io as cio
from assistant.chat import TurnRequest
from assistant.conversations import ConversationStore, NotFound
from assistant.db import Conversation, Database, Message


@pytest.fixture()
def store(database_url) -> ConversationStore:
    return ConversationStore(Database(database_url))


def rich_conversation(store: ConversationStore, owner: str = "alice") -> str:
    """A conversation with everything an export carries: options, reasoning, sources, a regenerated reply."""
    conv = store.create(owner, cot_mode="step-by-step", knowledge_mode="always", tools_enabled=False,
                        generation={"temperature": 0.3, "max_new_tokens": 64, "system_prompt": "Be brief."})
    question = store.add_message(conv.id, "user", "How tall is the Eiffel tower? 100% sure_please")
    old = store.add_message(conv.id, "assistant", "About 300 m.", meta={"adapter": "concise", "tokens": 5})
    store.deactivate(owner, old)
    meta = {
        "model": "tiny", "cot_mode": "step-by-step", "params": {"temperature": 0.3}, "tokens": 9, "seconds": 0.5,
        "sources": [{"source": "paris.md", "location": "§2", "text": "330 m"}],
        "tool_calls": [{"name": "calc", "arguments": {"x": 1}, "result_text": "1", "images": ["/srv/x.png"]}],
        "user_message_id": question, "model_input": {"prompt": "secret prompt"}, "images": ["/srv/x.png"],
        "pending_call": None,
    }
    store.add_message(conv.id, "assistant", "It is **330 m** [1].", reasoning="Look it up.", meta=meta,
                      alternative_of=old)
    store.add_message(conv.id, "user", "Thanks!")
    return conv.id


def without_ids(document: dict) -> dict:
    """The content of an export: everything but the conversation ids and the export time."""
    return {
        **{k: v for k, v in document.items() if k != "exported_at"},
        "conversations": [{k: v for k, v in c.items() if k != "id"} for c in document["conversations"]],
    }


def counts(store: ConversationStore) -> tuple[int, int]:
    with store.db.session() as s:
        return s.query(Conversation).count(), s.query(Message).count()


def test_export_import_export_gives_the_same_content(store):
    first_id = rich_conversation(store)
    store.create("alice", title="Second chat")
    exported = cio.export_json(store, "alice")
    new_ids = cio.import_json(store, "bob", json.dumps(exported))
    again = cio.export_json(store, "bob")
    assert without_ids(again) == without_ids(exported)
    assert set(new_ids).isdisjoint({c["id"] for c in exported["conversations"]})  # new ids
    assert {cid for cid, _ in store.list("bob")} == set(new_ids)  # owned by the importer
    conv = exported["conversations"][[c["id"] for c in exported["conversations"]].index(first_id)]
    assert [m["active"] for m in conv["messages"]] == [True, False, True, True]
    assert conv["messages"][2]["alternative_of"] == 1  # a position in the list, not a database id
    # this server's file paths, the exact model input and message ids never travel
    text = json.dumps(exported)
    assert "/srv/x.png" not in text and "secret prompt" not in text and "user_message_id" not in text


def test_a_real_chat_turn_round_trips_and_is_titled_from_the_first_message(services):
    first = services.chat.run(TurnRequest(owner="alice", message="What is LoRA?", knowledge_mode="off",
                                          tools_enabled=False))
    services.chat.run(TurnRequest(owner="alice", message="", conversation_id=first.conversation_id,
                                  regenerate=True))
    store = services.conversations
    assert store.get("alice", first.conversation_id).title == "What is LoRA?"
    exported = cio.export_json(store, "alice")
    cio.import_json(store, "alice", json.dumps(exported))
    everything = cio.export_json(store, "alice")
    assert len(everything["conversations"]) == 2
    a, b = (without_ids({"conversations": [c]}) for c in everything["conversations"])
    assert a == b


def test_search_finds_titles_and_text_of_the_owner_only(store):
    alice = rich_conversation(store)
    other = store.create("alice", title="Holiday plans")
    store.add_message(other.id, "user", "Pack the tent")
    bob = store.create("bob", title="Eiffel secrets of bob")
    store.add_message(bob.id, "user", "bob's private tower notes")

    assert [h.id for h in cio.search(store, "alice", "eiffel")] == [alice]  # case-insensitive, in a message
    assert [h.id for h in cio.search(store, "alice", "holiday")] == [other.id]  # in a title
    assert [h.id for h in cio.search(store, "alice", "tower THANKS")] == [alice]  # every word, anywhere
    assert cio.search(store, "alice", "tower tent") == []
    assert cio.search(store, "bob", "330") == [] and cio.search(store, "bob", "Eiffel tower")[0].id == bob.id
    assert cio.search(store, "alice", "private") == []  # bob's text never reaches alice
    assert cio.search(store, "alice", "300 m") == []  # an inactive (replaced) reply is not searched
    # LIKE wildcards in the query are literal characters
    assert [h.id for h in cio.search(store, "alice", "100%")] == [alice]
    assert [h.id for h in cio.search(store, "alice", "%")] == [alice]
    assert [h.id for h in cio.search(store, "alice", "_")] == [alice]
    assert cio.search(store, "alice", "sure%please") == []
    assert cio.search(store, "alice", "   ") == []
    assert "Eiffel" in cio.search(store, "alice", "eiffel")[0].snippet


def test_nobody_exports_another_owners_conversation(store):
    alice = rich_conversation(store)
    store.create("bob", title="Bob's own")
    with pytest.raises(NotFound):
        cio.export_json(store, "bob", [alice])
    with pytest.raises(NotFound):
        cio.export_markdown(store, "bob", [alice])
    everything = json.dumps(cio.export_json(store, "bob")) + cio.export_markdown(store, "bob")
    assert "Eiffel" not in everything and "Bob's own" in everything


def test_markdown_export_reads_like_the_chat(store):
    cid = rich_conversation(store)
    text = cio.export_markdown(store, "alice", [cid])
    assert text.startswith("# How tall is the Eiffel tower?")
    assert "**You**" in text and "It is **330 m** [1]." in text
    assert "<details><summary>Thinking</summary>" in text and "Look it up." in text
    assert "1. paris.md — §2" in text
    assert "About 300 m." not in text  # the replaced reply stays out of the readable export


def valid_export(store: ConversationStore) -> dict:
    rich_conversation(store)
    return cio.export_json(store, "alice")


def broken(document: dict, change) -> str:  # noqa: ANN001
    document = json.loads(json.dumps(document))
    change(document)
    return json.dumps(document)


BAD_FILES = {
    "not json": lambda d: "{not json",
    "a list": lambda d: "[]",
    "nested too deeply": lambda d: "[" * 100_000 + "]" * 100_000,
    "another format": lambda d: broken(d, lambda x: x.update(format="chatgpt")),
    "a newer version": lambda d: broken(d, lambda x: x.update(version=2)),
    "conversations not a list": lambda d: broken(d, lambda x: x.update(conversations={"a": 1})),
    "a system message": lambda d: broken(d, lambda x: x["conversations"][0]["messages"][0].update(role="system")),
    "a forward alternative": lambda d: broken(
        d, lambda x: x["conversations"][0]["messages"][1].update(alternative_of=3)
    ),
    "a number as text": lambda d: broken(d, lambda x: x["conversations"][0]["messages"][0].update(content=5)),
    "temperature out of range": lambda d: broken(
        d, lambda x: x["conversations"][0]["generation"].update(temperature=9)
    ),
    "NaN": lambda d: json.dumps(d).replace('"tokens": 9', '"tokens": NaN'),
    "an unknown cot mode": lambda d: broken(d, lambda x: x["conversations"][0].update(cot_mode="telepathy")),
    "a bad date": lambda d: broken(d, lambda x: x["conversations"][0].update(created_at="yesterday")),
    "a huge message": lambda d: broken(
        d, lambda x: x["conversations"][0]["messages"][0].update(content="x" * 1_000_001)
    ),
    # the first conversation is fine, the second is not: the import is all or nothing
    "a bad second conversation": lambda d: broken(d, lambda x: x["conversations"].append({"messages": "no"})),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_import_says_why_and_changes_nothing(store, name):
    data = BAD_FILES[name](valid_export(store))
    before = counts(store)
    with pytest.raises(cio.ImportError_) as error:
        cio.import_json(store, "bob", data)
    assert str(error.value)  # a message, not a traceback
    assert counts(store) == before and store.list("bob") == []


def test_an_oversized_file_is_refused_before_parsing(store, monkeypatch):
    monkeypatch.setattr(cio, "MAX_IMPORT_BYTES", 1000)
    with pytest.raises(cio.ImportError_, match="MB"):
        cio.import_json(store, "bob", b" " * 1001)


def test_an_import_drops_what_could_act_on_this_server(store):
    document = valid_export(store)
    reply = document["conversations"][0]["messages"][2]
    reply["meta"].update(
        pending_call={"name": "train_adapter", "arguments": {}},  # could be confirmed after the import
        images=["../../etc/passwd"],
        model_input={"prompt": "forged"},
    )
    document["conversations"][0]["title"] = "evil\u202etitle\x00"
    document["conversations"][0]["adapter"] = "not-installed"
    [cid] = cio.import_json(store, "bob", json.dumps(document), known_adapters={"concise"})
    view = store.get("bob", cid, include_inactive=True)
    meta = view.messages[2]["meta"]
    assert "pending_call" not in meta and "images" not in meta and meta["model_input"] is None
    assert "images" not in meta["tool_calls"][0]
    assert view.title == "eviltitle" and view.adapter is None


def test_the_cli_exports_imports_and_searches_per_owner(settings, monkeypatch, tmp_path, capsys):
    from assistant import cli
    from assistant.services import get_services

    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    rich_conversation(get_services(settings).conversations, owner="cli")
    out = tmp_path / "all.json"
    assert cli.main(["conversations", "export", "-o", str(out)]) == 0
    assert cli.main(["conversations", "export", "--format", "markdown"]) == 0
    assert "# How tall is the Eiffel tower?" in capsys.readouterr().out
    assert cli.main(["conversations", "import", str(out), "--owner", "user:bob", "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)["imported"]
    assert cli.main(["conversations", "search", "eiffel", "--owner", "user:bob", "--json"]) == 0
    assert [hit["id"] for hit in json.loads(capsys.readouterr().out)] == imported
    assert cli.main(["conversations", "search", "eiffel", "--owner", "user:eve", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    assert cli.main(["conversations", "import", str(bad), "--owner", "user:eve"]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert cli.main(["conversations", "list", "--owner", "user:eve", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_the_chat_tab_search_shows_only_the_callers_conversations(tmp_path):
    from assistant.services import Services
    from assistant.users import UserStore
    from tests.app_server import make_settings, start

    services = Services(make_settings(tmp_path))
    users = UserStore(services.db)
    users.add("alice", "alice-password-1", "user")
    users.add("bob", "bob-password-1", "user")
    mine = services.conversations.create("user:alice", title="Alice's plan")
    services.conversations.add_message(mine.id, "user", "the secret rendezvous")
    server = start(services)
    try:
        alice, bob = server.login("alice", "alice-password-1"), server.login("bob", "bob-password-1")
        found = server.call("search_conversations", ["rendezvous", None, None], cookies=alice)
        assert [value for _, value in found[0]["choices"]] == [mine.id] and "1 conversation" in found[1]
        for query in ("rendezvous", "plan", "%"):
            found = server.call("search_conversations", [query, mine.id, None], cookies=bob)
            assert found[0]["choices"] == [] and "no conversation" in found[1]
    finally:
        server.close()
