"""What a person does in the chat, as Playwright steps (selectors are the app's elem_ids and ARIA labels)."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

TURN_DONE = re.compile(r"tokens in .* s ·|⚠️|stopped")
MODEL_LOADED_S = 300  # the first page of a session waits for the model to load
TURN_S = 300  # a loaded 2-core machine can be slow


def open_app(page: Page, url: str) -> None:
    """Wait for "load", then the message box (Gradio pages never reach "networkidle")."""
    page.goto(url, wait_until="load")
    page.locator("#message textarea").wait_for(timeout=60_000)


def wait_model(page: Page) -> None:
    expect(page.locator("#footer")).to_contain_text("loaded in", timeout=MODEL_LOADED_S * 1000)


def user_messages(page: Page):  # noqa: ANN201
    return page.locator("#chatbot [data-testid='user']")


def bot_messages(page: Page):  # noqa: ANN201
    return page.locator("#chatbot [data-testid='bot']")


def send(page: Page, text: str, wait: bool = True) -> str:
    """Type a message and press Enter; with `wait`, return the status line once the turn is done."""
    before = user_messages(page).count()
    box = page.locator("#message textarea")
    box.fill(text)
    box.press("Enter")
    expect(user_messages(page)).to_have_count(before + 1, timeout=60_000)
    return wait_turn(page) if wait else ""


def wait_turn(page: Page) -> str:
    status = page.locator("#chat-status")
    expect(status).to_have_text(TURN_DONE, timeout=TURN_S * 1000)
    return status.inner_text()


def click_and_wait_turn(page: Page, selector: str) -> str:
    """Click a button that starts a turn without a new user message (Regenerate) and wait for that turn."""
    status = page.locator("#chat-status")
    page.locator(selector).click()
    expect(status).not_to_have_text(TURN_DONE, timeout=30_000)  # the new turn has started…
    return wait_turn(page)  # …and finished


def last_reply(page: Page) -> str:
    return bot_messages(page).last.inner_text()


def conversation_titles(page: Page, expected: list[str] | None = None, timeout_s: float = 60.0) -> list[str]:
    """The sidebar's titles; with `expected`, poll until they match (a reloaded page fills the list after load)."""
    deadline = time.monotonic() + timeout_s
    while True:
        titles = [t.strip() for t in page.locator("#conversations label").all_inner_texts()]
        if expected is None or titles == expected or time.monotonic() > deadline:
            return titles
        page.wait_for_timeout(250)


def choose_radio(page: Page, elem_id: str, label: str) -> None:
    page.locator(f"#{elem_id} label").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).click()


def choose_dropdown(page: Page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(f"#{elem_id} input")).to_have_value(option)


def has_cjk(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))
