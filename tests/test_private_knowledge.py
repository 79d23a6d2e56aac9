"""Private upload collections: what one user uploads is searched by that user's chats only, through every path
that searches (chat turn, the search tool, the Knowledge tab's table and search), while the shared base stays
everyone's."""

from __future__ import annotations

from assistant.chat import TurnRequest
from assistant.knowledge.service import get_knowledge_base, has_private_documents, private_folder, search_collections
from assistant.ui.knowledge_tab import documents_table

SECRET = b"The secret word is pineapple-7731. Keep it between us."
SHARED = b"The office opens at 08:30 and the parking lot is behind building C."


def turn_sources(services, owner: str, question: str) -> list[str]:
    result = services.chat.run(TurnRequest(owner=owner, message=question, knowledge_mode="always",
                                           tools_enabled=False))
    return [s["text"] for s in result.sources]


def test_a_private_upload_reaches_its_owner_and_nobody_else(services):
    settings = services.settings
    alice, bob = "user:alice", "user:bob"
    report = get_knowledge_base(settings, alice).add_upload("notes.txt", SECRET, owner=alice)
    assert report.count("indexed") == 1, report.to_dict()
    get_knowledge_base(settings).add_upload("office.txt", SHARED, owner="user:admin")

    # Alice's chat sees her document; Bob's chat, asking the very same thing, sees only shared text.
    assert any("pineapple-7731" in text for text in turn_sources(services, alice, "What is the secret word?"))
    bob_sources = turn_sources(services, bob, "What is the secret word?")
    assert bob_sources and not any("pineapple" in text for text in bob_sources)
    assert any("08:30" in text for text in turn_sources(services, bob, "When does the office open?"))

    # The search tool the model calls searches as the turn's owner.
    for owner, sees in ((alice, True), (bob, False)):
        record = services.tools.call("search_knowledge", {"query": "secret word pineapple", "k": 4}, owner=owner)
        assert ("pineapple" in record["result_text"]) is sees, (owner, record)

    # The Knowledge tab lists and searches the shared base plus one's own documents.
    assert [row[:2] for row in documents_table(settings, alice)] == [["uploads/office.txt", "shared"],
                                                                  ["mine/notes.txt", "private"]]
    assert [row[0] for row in documents_table(settings, bob)] == ["uploads/office.txt"]
    assert not any("pineapple" in h.text for h in search_collections(settings, "pineapple", bob, k=10))
    assert not has_private_documents(settings, bob)

    # Nothing of Alice's is in the shared folders, and her folder name does not spell her name.
    assert not any(b"pineapple" in p.read_bytes() for p in settings.uploads_dir.rglob("*") if p.is_file())
    assert "alice" not in private_folder(settings, alice).name


def test_a_private_document_ranks_by_relevance_not_by_being_alone_in_its_index(services):
    """A one-document collection always puts its chunk first in its own ranking; merged with the shared base,
    it must still lose to the shared chunk that actually answers."""
    settings = services.settings
    alice = "user:alice"
    get_knowledge_base(settings, alice).add_upload("recipe.txt", b"Bake the bread at 220 degrees for 35 minutes.",
                                                   owner=alice)
    get_knowledge_base(settings).add_upload("office.txt", SHARED, owner="user:admin")
    hits = search_collections(settings, "When does the office open and where is parking?", alice, k=2)
    assert hits[0].source == "uploads/office.txt"
    hits = search_collections(settings, "How long do I bake the bread?", alice, k=2)
    assert hits[0].source == "mine/recipe.txt"


def test_deleting_a_private_document_removes_it_from_search_and_disk(services):
    settings = services.settings
    alice = "user:alice"
    mine = get_knowledge_base(settings, alice)
    mine.add_upload("notes.txt", SECRET, owner=alice)
    mine.delete("mine/notes.txt")
    assert not any("pineapple" in h.text for h in search_collections(settings, "pineapple secret", alice, k=5))
    assert not (mine.uploads_dir / "notes.txt").exists()
