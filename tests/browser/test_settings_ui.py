"""The Settings tab's defaults in Chromium: a bad value is refused with a message, a good one reaches a new chat."""

from __future__ import annotations

import os

import pytest

if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("playwright", reason="playwright is not installed (make install: requirements-dev.txt)")

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.helpers import choose_radio, open_app, wait_model  # noqa: E402


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
