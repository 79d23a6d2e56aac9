"""The Settings tab's defaults in Chromium: a bad value is refused with a message, a good one reaches a new chat."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("playwright", reason="playwright is not installed (make install: requirements-dev.txt)")

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.helpers import choose_radio, open_app, wait_model  # noqa: E402

SHIPPED_ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"


def test_defaults_are_validated_and_apply_to_the_next_new_chat(page: Page, app):  # noqa: ANN001
    open_app(page, app.url)
    wait_model(page)  # the page has also filled in its load-time values by then (typing earlier could be undone)
    page.get_by_role("tab", name="Settings").click()
    defaults = page.locator("#settings-defaults").first
    expect(defaults).to_be_visible()
    assert "failed to load" not in defaults.inner_text()
    temperature = page.locator("#default-temperature input")
    status = page.locator("#defaults-status")
    try:
        temperature.fill("5")
        page.locator("#save-defaults").click()
        expect(status).to_contain_text("temperature must be between 0 and 2", timeout=30_000)
        temperature.fill("0")
        choose_radio(page, "default-cot", "step-by-step")
        page.locator("#save-defaults").click()
        expect(status).to_contain_text("Saved", timeout=30_000)

        page.get_by_role("tab", name="Chat").click()
        page.locator("#new-chat").click()
        expect(page.locator("#cot input[value='step-by-step']")).to_be_checked(timeout=30_000)
    finally:  # the app is shared by the whole browser suite: put its defaults back
        page.get_by_role("tab", name="Settings").click()
        page.locator("#reset-defaults").click()
        expect(status).to_contain_text("Reset", timeout=30_000)


def test_the_chat_model_switches_without_a_restart_and_back(page: Page, app):  # noqa: ANN001
    """Settings → Chat model: mistakes are explained; a GGUF file by path (the default model's own file) takes over
    without a restart, the adapters trained for the alias are hidden and counted, and the chat answers; then back."""
    from tests.browser.conftest import MODEL_CACHE
    from tests.browser.helpers import bot_messages, send

    gguf = MODEL_CACHE.resolve() / "qwen2.5-0.5b-instruct" / "model.gguf"
    open_app(page, app.url)
    wait_model(page)
    page.get_by_role("tab", name="Settings").click()
    section = page.locator("#settings-model").first
    expect(section).to_contain_text("qwen2.5-coder-0.5b-instruct — installed & verified")
    expect(section).to_contain_text("qwen2.5-coder-1.5b-instruct — ")  # installed or not: this machine's business
    message, status = page.locator("#model-message"), page.locator("#model-status")
    try:
        choose_radio(page, "model-choice", "a GGUF file on this machine (give its path below)")
        page.locator("#model-path textarea, #model-path input").first.fill("/no/such/model.gguf")
        page.locator("#use-model").click()
        expect(message).to_contain_text("there is no file at /no/such/model.gguf", timeout=30_000)
        page.locator("#install-model").click()
        expect(message).to_contain_text("Install is for the packaged models", timeout=30_000)

        page.locator("#model-path textarea, #model-path input").first.fill(str(gguf))
        page.locator("#use-model").click()
        expect(message).to_contain_text("loading model.gguf…", timeout=30_000)
        # every shipped adapter (concise, zh-tutor and the two decision adapters) was trained for the packaged model
        shipped = sum((folder / "card.json").is_file() for folder in SHIPPED_ADAPTERS.iterdir())
        expect(status).to_contain_text(f"{shipped} adapter(s) hidden: trained for another base model",
                                       timeout=300_000)
        expect(status).to_contain_text(f"Serving: {gguf}")
        expect(page.locator("#footer")).to_contain_text("model.gguf · gguf", timeout=30_000)

        page.get_by_role("tab", name="Chat").click()
        page.locator("#new-chat").click()
        send(page, "What is 17 + 25? Answer in one short sentence.")
        assert "42" in bot_messages(page).last.inner_text()
    finally:  # the app is shared by the whole browser suite: its own model serves again
        page.get_by_role("tab", name="Settings").click()
        page.locator("#reset-model").click()
        expect(status).to_contain_text("the server's own model", timeout=300_000)
        expect(status).not_to_contain_text("hidden")
