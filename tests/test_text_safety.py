"""Control characters and bidi overrides never reach stored titles, messages or vote reasons (\\n and \\t do)."""

from __future__ import annotations

import pytest

from assistant.conversations import ConversationStore, clean_text
from assistant.db import Database
from tests.app_server import make_settings

HOSTILE = {
    "nul": "a\x00b",
    "esc": "\x1b[31mred\x1b[0m",
    "rlo": "abc\u202egpj.exe",
    "lre-pdf": "\u202ax\u202c\u202by\u202d",
    "isolates": "\u2066a\u2067b\u2068c\u2069",
    "c0": "\x01\x02\x07\x08\x0b\x0c\x0e\x1f",
    "del-c1": "\x7f\x85\x9b",
}


@pytest.fixture()
def store(tmp_path):
    settings = make_settings(tmp_path)
    settings.ensure_dirs()
    return ConversationStore(Database.for_url(settings.db_url))


def bad(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 32 and c not in "\n\t\r") or 0x7F <= ord(c) <= 0x9F
            or 0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069]


@pytest.mark.parametrize("kind", HOSTILE)
def test_clean_text_strips(kind):
    assert bad(clean_text(HOSTILE[kind])) == []


def test_clean_text_keeps_ordinary_text():
    text = "line one\n\tindented — ünïcödé 中文 العربية 🙂 \\x00 literally"
    assert clean_text(text) == text
    assert clean_text("\x1b[31mred\x1b[0m") == "[31mred[0m"
    assert clean_text("abc\u202egpj.exe") == "abcgpj.exe"


@pytest.mark.parametrize("kind", HOSTILE)
def test_stored_titles_and_messages_are_clean(store, kind):
    text = f"hi {HOSTILE[kind]}\nnext\tline"
    conv = store.create("browser:t", title=text)
    assert bad(store.get("browser:t", conv.id).title) == []
    store.rename("browser:t", conv.id, text)
    store.update("browser:t", conv.id, title=text)
    fresh = store.create("browser:t")
    message_id = store.add_message(fresh.id, "user", text, reasoning=text)
    view = store.get("browser:t", fresh.id)
    assert bad(view.title) == []  # the title taken from the first message
    stored = store.message(message_id)
    assert bad(stored["content"]) == [] and bad(stored["reasoning"]) == []
    assert "\n" in stored["content"] and "\t" in stored["content"]
    for _, title in store.list("browser:t"):
        assert bad(title) == []
