"""Searching, exporting and importing conversations in Chromium, from the chat tab's sidebar."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("playwright", reason="playwright is not installed (make install: requirements-dev.txt)")

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.helpers import (  # noqa: E402
    choose_radio,
    conversation_titles,
    open_app,
    send,
    user_messages,
    wait_model,
)


def download(page: Page, button: str) -> str:
    """Click an export button, then the download button it reveals; the downloaded file's text."""
    page.locator(button).click()
    link = page.locator("#download-export")
    expect(link).to_be_visible(timeout=30_000)
    with page.expect_download(timeout=30_000) as info:
        link.click()
    return Path(info.value.path()).read_text(encoding="utf-8")


def test_search_export_and_import_conversations(page: Page, app, tmp_path):  # noqa: ANN001
    open_app(page, app.url)
    wait_model(page)
    send(page, "/calc 6*7")  # commands answer without the model: two quick, distinct chats
    page.locator("#new-chat").click()
    expect(user_messages(page)).to_have_count(0, timeout=30_000)
    send(page, "/calc 12+30")
    conversation_titles(page, ["/calc 12+30", "/calc 6*7"])

    search = page.locator("#conversation-search input, #conversation-search textarea").first
    search.fill("6*7")
    assert conversation_titles(page, ["/calc 6*7"], timeout_s=30) == ["/calc 6*7"]
    expect(page.locator("#search-note")).to_contain_text("1 conversation match")
    search.fill("no-such-words")
    assert conversation_titles(page, [], timeout_s=30) == []
    expect(page.locator("#search-note")).to_contain_text("no conversation matches")
    search.fill("")
    assert conversation_titles(page, ["/calc 12+30", "/calc 6*7"], timeout_s=30) == ["/calc 12+30", "/calc 6*7"]

    page.locator("#export-import").get_by_text("Export or import").click()
    choose_radio(page, "export-scope", "all chats")
    document = json.loads(download(page, "#export-json"))
    assert [c["title"] for c in document["conversations"]] == ["/calc 12+30", "/calc 6*7"]
    assert "42" in document["conversations"][0]["messages"][1]["content"]
    choose_radio(page, "export-scope", "this chat")
    markdown = download(page, "#export-markdown")
    assert markdown.startswith("# /calc 12+30") and "**You**" in markdown and "6*7" not in markdown

    exported = tmp_path / "conversations.json"
    exported.write_text(json.dumps(document), encoding="utf-8")
    page.locator("#import-file input[type=file]").set_input_files(str(exported))
    expect(page.locator("#search-note")).to_contain_text("imported 2 conversations", timeout=30_000)
    expect(page.locator("#conversations label")).to_have_count(4, timeout=30_000)
    assert sorted(conversation_titles(page)) == ["/calc 12+30", "/calc 12+30", "/calc 6*7", "/calc 6*7"]

    # New chat lists every conversation again, so the search box is emptied with it (they never disagree).
    search.fill("6*7")
    assert conversation_titles(page, ["/calc 6*7", "/calc 6*7"], timeout_s=30) == ["/calc 6*7", "/calc 6*7"]
    page.locator("#new-chat").click()
    expect(search).to_have_value("", timeout=30_000)
    expect(page.locator("#search-note")).to_have_text("", timeout=30_000)
    expect(page.locator("#conversations label")).to_have_count(4, timeout=30_000)
