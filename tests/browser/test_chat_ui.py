"""The Chat tab in Chromium, as a person uses it: typing, clicking, reading what is on screen."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("playwright", reason="playwright is not installed (make install: requirements-dev.txt)")

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.helpers import (  # noqa: E402
    TURN_DONE,
    bot_messages,
    choose_dropdown,
    choose_radio,
    click_and_wait_turn,
    conversation_titles,
    has_cjk,
    last_reply,
    open_app,
    send,
    wait_model,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture()
def chat(page: Page, app) -> Page:  # noqa: ANN001
    open_app(page, app.url)
    wait_model(page)
    return page


def conversation_by_title(app, title: str) -> tuple[str, str]:  # noqa: ANN001
    """(owner, conversation id) of the one conversation with this title (titles are unique per test)."""
    from sqlalchemy import select

    from assistant.db import Conversation

    store = app.store()
    with store.db.session() as s:
        rows = s.execute(select(Conversation.owner, Conversation.id).where(Conversation.title == title)).all()
    assert len(rows) == 1, f"expected one conversation titled {title!r}, found {len(rows)}"
    return rows[0].owner, rows[0].id


def test_streamed_reply_then_stop(chat: Page):
    send(chat, "Write a long story about a dragon who learns to bake bread. Make it at least ten paragraphs.",
         wait=False)
    # Words of the reply, not a status line ("searching the knowledge base…" is shown in italics).
    chat.wait_for_function(
        "() => { const b = [...document.querySelectorAll('#chatbot [data-testid=bot]')].pop();"
        " return b && !b.querySelector('em') && b.innerText.length > 30; }",
        timeout=180_000,
    )
    first = len(bot_messages(chat).last.inner_text())
    chat.wait_for_function(  # it grows on screen while the model writes
        "(n) => [...document.querySelectorAll('#chatbot [data-testid=bot]')].pop().innerText.length > n + 20",
        arg=first,
        timeout=60_000,
    )
    expect(chat.locator("#chat-status")).not_to_have_text(TURN_DONE)  # still generating when Stop is pressed
    chat.locator("#stop").click()
    expect(chat.locator("#chat-status")).to_contain_text("stopped", timeout=30_000)
    time.sleep(1.0)
    settled = bot_messages(chat).last.inner_text()
    time.sleep(2.0)
    assert bot_messages(chat).last.inner_text() == settled, "text kept coming after Stop"


def test_votes_with_reason_reach_the_feedback_tab_when_it_is_opened(chat: Page, app):  # noqa: ANN001
    send(chat, "Name one fruit that is yellow.")
    chat.locator("#chatbot [aria-label='Like']").last.click()
    expect(chat.locator("#chat-status")).to_contain_text("👍 saved", timeout=30_000)
    send(chat, "Name one colour of the sky.")
    chat.locator("#vote-reason textarea, #vote-reason input").first.fill("too short, no explanation")
    chat.locator("#chatbot [aria-label='Dislike']").last.click()
    expect(chat.locator("#chat-status")).to_contain_text("👎 saved", timeout=30_000)
    with sqlite3.connect(app.data_dir / "assistant.db") as db:  # the page was loaded before these votes
        stored = db.execute("SELECT count(*) FROM votes").fetchone()[0]
    assert stored >= 2
    chat.get_by_role("tab", name="Feedback & Training").click()  # opening the tab shows the new votes: no Refresh
    expect(chat.locator("#feedback-summary")).to_contain_text(f"{stored} votes", timeout=30_000)
    table = chat.locator("#latest-votes")
    expect(table).to_contain_text("too short, no explanation", timeout=30_000)
    expect(table).to_contain_text("👍")
    expect(table).to_contain_text("👎")
    # The reason column is on screen, not cut off at the page's right edge.
    box = table.get_by_text("too short, no explanation").first.bounding_box()
    assert box is not None and box["x"] + 20 < chat.viewport_size["width"]


def test_regenerate_keeps_the_old_reply_as_an_alternative(chat: Page, app):  # noqa: ANN001
    question = "Answer in one short sentence: what colour is a ripe banana?"
    send(chat, question)
    click_and_wait_turn(chat, "#regenerate")
    owner, cid = conversation_by_title(app, question)
    messages = app.store().get(owner, cid, include_inactive=True).messages
    replies = [m for m in messages if m["role"] == "assistant"]
    assert len(replies) == 2
    assert [m["active"] for m in replies] == [False, True]
    assert replies[1]["alternative_of"] == replies[0]["id"]
    expect(bot_messages(chat)).to_have_count(1)  # the alternative is kept, not shown twice


def test_new_rename_switch_delete_and_reload(chat: Page, app):  # noqa: ANN001
    send(chat, "/calc 11+1")
    chat.locator("#new-chat").click()
    expect(bot_messages(chat)).to_have_count(0)
    # ＋ New chat must not store an empty conversation
    assert conversation_titles(chat, ["/calc 11+1"]) == ["/calc 11+1"]
    send(chat, "/calc 22+2")
    expect(chat.locator("#chatbot")).to_contain_text("24")
    assert conversation_titles(chat, ["/calc 22+2", "/calc 11+1"]) == ["/calc 22+2", "/calc 11+1"]
    chat.locator("#rename-delete").get_by_text("Rename or delete").click()
    title = chat.locator("#conversation-title input, #conversation-title textarea").first
    title.wait_for(state="visible")
    # the title box is filled by the page after a turn; type only once that update has landed
    chat.wait_for_timeout(500)
    title.fill("Arithmetic two")
    expect(title).to_have_value("Arithmetic two")
    chat.locator("#rename").click()
    expect(chat.locator("#conversations")).to_contain_text("Arithmetic two")
    choose_radio(chat, "conversations", "/calc 11+1")  # switch
    expect(chat.locator("#chatbot")).to_contain_text("12")
    expect(chat.locator("#chatbot")).not_to_contain_text("24")
    chat.reload(wait_until="load")
    chat.locator("#message textarea").wait_for()
    expect(chat.locator("#conversations")).to_contain_text("Arithmetic two")
    expect(chat.locator("#conversations")).to_contain_text("/calc 11+1")
    choose_radio(chat, "conversations", "Arithmetic two")
    expect(chat.locator("#chatbot")).to_contain_text("24")
    chat.locator("#rename-delete").get_by_text("Rename or delete").click()
    chat.locator("#delete").click()
    expect(chat.locator("#conversations")).not_to_contain_text("Arithmetic two")
    chat.reload(wait_until="load")
    chat.locator("#message textarea").wait_for()
    expect(chat.locator("#conversations")).to_contain_text("/calc 11+1")
    assert conversation_titles(chat, ["/calc 11+1"]) == ["/calc 11+1"]


def test_new_chat_starts_from_the_default_adapter_and_zh_tutor_answers_in_chinese(chat: Page):
    question = "What is the capital of France?"
    send(chat, question)
    base_reply = last_reply(chat)
    assert not has_cjk(base_reply), base_reply
    chat.locator("#new-chat").click()
    choose_dropdown(chat, "adapter", "zh-tutor")
    send(chat, question + " ")
    tutor_reply = last_reply(chat)
    assert has_cjk(tutor_reply), tutor_reply
    assert tutor_reply != base_reply
    expect(chat.locator("#chat-status")).to_contain_text("adapter: zh-tutor")
    chat.locator("#new-chat").click()  # a new chat does not inherit the last conversation's adapter
    expect(chat.locator("#adapter input")).to_have_value("default (promoted)")


def test_draw_shows_images_inline(chat: Page):
    send(chat, "/draw 5")
    images = chat.locator("#chatbot [data-testid='bot'] img")
    expect(images.first).to_be_visible(timeout=60_000)
    assert images.count() >= 1
    assert images.first.evaluate("img => img.naturalWidth") > 0, "the image did not load"


def test_step_by_step_reasoning_is_folded_under_thinking(chat: Page):
    choose_radio(chat, "cot", "step-by-step")
    send(chat, "A box holds 6 rows of 4 eggs. How many eggs are in the box?")
    thinking = chat.locator("#chatbot").get_by_text("Thinking").first
    expect(thinking).to_be_visible()
    text = chat.locator("#chatbot").inner_text()
    assert "\\boxed" not in text and "\\frac" not in text, "raw LaTeX on screen"
    chat.screenshot(path=os.path.join(ROOT, "docs", "screenshot-chat.png"))


def test_latex_in_every_delimiter_renders(chat: Page, app):  # noqa: ANN001
    send(chat, "/calc 5*5")
    owner, cid = conversation_by_title(app, "/calc 5*5")
    app.store().add_message(
        cid, "assistant", "Display \\[ x^2 + 1 \\] inline \\( y_1 \\) dollars $z^3$ and $$w = 2$$ so \\boxed{24}."
    )
    chat.reload(wait_until="load")
    chat.locator("#message textarea").wait_for()
    expect(bot_messages(chat).last.locator(".katex").first).to_be_visible(timeout=30_000)
    assert bot_messages(chat).last.locator(".katex").count() >= 5
    text = bot_messages(chat).last.inner_text()
    for raw in ("\\[", "\\(", "$z", "$$", "\\boxed"):
        assert raw not in text, f"{raw!r} shown raw: {text!r}"


def test_confirm_and_cancel_a_proposed_action(chat: Page, app):  # noqa: ANN001
    """A model proposal cannot be forced from a real model: the proposal is stored as the chat service stores it."""
    send(chat, "/calc 3+4")
    owner, cid = conversation_by_title(app, "/calc 3+4")
    store = app.store()

    def propose(arguments: dict) -> None:
        store.add_message(
            cid, "assistant", "I can switch the adapter for this. It changes something, so it runs only when you "
            "confirm.", meta={"pending_call": {"name": "switch_adapter", "arguments": arguments}},
        )
        chat.reload(wait_until="load")
        chat.locator("#message textarea").wait_for()

    row = chat.locator("#pending-call")
    expect(row).to_be_hidden()
    propose({"name": "zh-tutor"})
    expect(row).to_be_visible(timeout=30_000)
    expect(row).to_contain_text("switch_adapter")
    chat.locator("#cancel-call").click()
    expect(chat.locator("#chatbot")).to_contain_text("Cancelled", timeout=30_000)
    expect(row).to_be_hidden()
    expect(chat.locator("#adapter input")).to_have_value("default (promoted)")
    propose({"name": "concise"})
    expect(row).to_be_visible(timeout=30_000)
    chat.locator("#confirm-call").click()
    expect(chat.locator("#chatbot")).to_contain_text("now uses concise", timeout=60_000)
    expect(row).to_be_hidden()
    expect(chat.locator("#adapter input")).to_have_value("concise")
    chat.reload(wait_until="load")
    chat.locator("#message textarea").wait_for()
    expect(row).to_be_hidden()  # done once, never offered again


def test_an_offer_to_draw_every_named_group_draws_them_once_confirmed(chat: Page, app):  # noqa: ANN001
    """After a drawing call that left out a group, the reply offers the call that draws them all (stored as the tool
    step stores it: the model's partial call cannot be forced); Confirm draws 2 + 1 images as a new reply."""
    send(chat, "/calc 2+5")
    owner, cid = conversation_by_title(app, "/calc 2+5")
    arguments = {"prompt": "two large red stars and one small blue circle", "model": "diffusion"}
    app.store().add_message(cid, "assistant", "Drew two large red stars. Your message asks for 2 groups ...",
                            meta={"pending_call": {"name": "generate_images", "arguments": arguments, "offer": True}})
    chat.reload(wait_until="load")
    chat.locator("#message textarea").wait_for()
    row = chat.locator("#pending-call")
    expect(row).to_be_visible(timeout=30_000)
    expect(row).to_contain_text("Also run")
    expect(row).to_contain_text("draws every group your message names")
    chat.locator("#confirm-call").click()
    images = chat.locator("#chatbot [data-testid='bot'] img")  # the chat shows each image as its own bubble
    expect(images).to_have_count(3, timeout=60_000)
    assert images.first.evaluate("img => img.naturalWidth") > 0, "the image did not load"
    expect(row).to_be_hidden()
