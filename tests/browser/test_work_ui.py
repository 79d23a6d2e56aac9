"""Long work and documents in Chromium: upload a document and get a cited answer from it; train a tiny adapter
and watch its progress and loss plot move; compare two adapters blind and see the pick counted."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("playwright", reason="playwright is not installed (make install: requirements-dev.txt)")

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.helpers import TURN_S, bot_messages, choose_radio, open_app, send, wait_model  # noqa: E402

FACT = "The Larkspur relay listens on port 4417 and rotates its keys every 9 days."


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def test_upload_a_document_ask_about_it_and_open_the_cited_source(page: Page, app, tmp_path):  # noqa: ANN001
    document = tmp_path / "larkspur-relay.md"
    document.write_text(f"# Larkspur relay\n\n## Network\n{FACT}\n\n## Support\nWrite to the operations desk.\n")
    open_app(page, app.url)
    wait_model(page)
    open_tab(page, "Knowledge")
    started = time.time()
    page.locator("#knowledge-files input[type=file]").set_input_files(str(document))
    page.locator("#knowledge-add").click()
    expect(page.locator("#knowledge-status")).to_contain_text("1 indexed", timeout=180_000)
    expect(page.locator("#knowledge-documents")).to_contain_text("uploads/larkspur-relay.md", timeout=30_000)
    # Gradio's cached copy is gone once indexed (a private upload's copy was served to anyone with its path)
    from gradio.utils import get_upload_folder

    assert not [copy for copy in Path(get_upload_folder()).rglob("larkspur-relay.md")
                if copy.stat().st_mtime >= started - 1]  # earlier runs' copies may be there

    open_tab(page, "Chat")
    choose_radio(page, "knowledge", "always")
    send(page, "Which port does the Larkspur relay listen on?")
    replies = [t for t in bot_messages(page).all_inner_texts() if "Sources (" not in t]
    assert replies and "4417" in replies[-1], replies  # the answer itself, not the folded sources under it
    sources = page.locator("#chatbot").get_by_text(re.compile(r"Sources \(\d+\)"))
    expect(sources).to_be_visible()
    sources.first.click()  # unfold: the numbered source with its document, section and text
    chatbot = page.locator("#chatbot")
    expect(chatbot).to_contain_text("[1] uploads/larkspur-relay.md")
    expect(chatbot).to_contain_text("rotates its keys every 9 days")
    expect(chatbot).to_contain_text("Network")


def test_train_a_tiny_adapter_and_watch_progress_and_loss(page: Page, app, tmp_path):  # noqa: ANN001
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Say hi number {i}."},
                                                     {"role": "assistant", "content": "Hi."}]}) + "\n"
                            for i in range(8)))
    open_app(page, app.url)
    open_tab(page, "Adapters")
    page.locator("#sft-data input[type=file]").set_input_files(str(data))
    for field, value in {"name": "browser-tiny", "max_steps": "3", "batch_size": "2", "max_length": "48",
                         "behaviour_prompts": "0"}.items():
        box = page.locator(f"#sft-{field} input, #sft-{field} textarea").first
        box.fill(value)
        box.press("Tab")
    page.locator("#sft-start").click()
    status = page.locator("#sft-job-status")
    expect(status).to_contain_text("running", timeout=120_000)
    expect(page.locator("#sft-job-plot")).to_be_visible(timeout=TURN_S * 1000)  # the first loss value is plotted
    expect(status).to_contain_text("succeeded", timeout=TURN_S * 1000)
    expect(status).to_contain_text("100%")
    open_tab(page, "Jobs")
    expect(page.locator("#jobs-table")).to_contain_text("succeeded", timeout=30_000)
    assert (app.adapters_dir / "browser-tiny" / "adapter.gguf").exists()  # exported for llama.cpp at once


def test_compare_two_adapters_blind_and_see_the_rating(page: Page, app):  # noqa: ANN001
    open_app(page, app.url)
    wait_model(page)
    page.locator("#arena").get_by_text("Compare two adapters").click()
    question = page.locator("#arena-question textarea")
    question.fill("Name one primary colour, in one word.")
    page.locator("#arena-go").click()
    status = page.locator("#arena-status")
    expect(status).to_contain_text("Which answer is better", timeout=TURN_S * 1000)
    assert page.locator("#arena-left").inner_text().strip() and page.locator("#arena-right").inner_text().strip()
    page.get_by_role("button", name="A is better").click()
    expect(status).to_contain_text(re.compile(r"Model A was \*?\*?\S+"), timeout=30_000)
    names = re.search(r"Model A was (.+?), model B was (.+?)\. Recorded", status.inner_text().replace("\n", " "))
    assert names is not None, status.inner_text()
    winner, loser = names.group(1), names.group(2)  # A was picked
    open_tab(page, "Feedback & Training")
    page.locator("#arena-refresh").click()
    ratings = page.locator("#arena-ratings")
    expect(ratings).to_contain_text(loser, timeout=30_000)
    expect(ratings).to_contain_text("needs 5 battles")  # one battle: no interval that pretends certainty
    text = ratings.inner_text()
    assert text.index(winner) < text.index(loser), text  # the picked adapter leads the ratings
