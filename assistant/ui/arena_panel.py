"""The Compare panel under the chat: one question, two anonymous adapters side by side, the user picks.

All logic is in `assistant.arena.Arena`; this module only lays out the panel and passes the user's clicks on.
"""

from __future__ import annotations

import gradio as gr

from assistant.adapters import AdapterError
from assistant.arena import ArenaError, display_name
from assistant.limits import RateLimited
from assistant.llm.base import InputError

ERRORS = (ArenaError, AdapterError, InputError, RateLimited)
PICKS = {"A is better": "left", "B is better": "right", "Tie": "tie", "Both are bad": "both-bad"}


def build_arena_panel(services, owner_of, browser_id: gr.BrowserState) -> None:  # noqa: ANN001
    """Build inside the caller's open block. `owner_of(request, browser value)` is the chat's own owner function
    and `browser_id` the page's identity, so compared conversations land in the user's own chat list."""
    arena = services.arena
    with gr.Accordion("Compare two adapters (blind)", open=False, elem_id="arena"):
        gr.Markdown("Ask once and get two answers from two adapters picked at random; their names stay hidden "
                    "until you choose. Your pick is stored as a preference pair for the next RLHF run and counts "
                    "in the adapters' ratings on the Feedback & Training tab.")
        with gr.Row():
            question = gr.Textbox(label="Question", placeholder="Explain LoRA in two sentences.", scale=5,
                                  max_lines=6, elem_id="arena-question")
            go = gr.Button("Compare", variant="primary", scale=1, elem_id="arena-go")
        status = gr.Markdown(elem_id="arena-status")
        with gr.Row(equal_height=True):
            with gr.Column():
                gr.Markdown("**Model A**")
                left = gr.Markdown(elem_id="arena-left")
            with gr.Column():
                gr.Markdown("**Model B**")
                right = gr.Markdown(elem_id="arena-right")
        with gr.Row():
            buttons = [gr.Button(label, interactive=False, size="sm") for label in PICKS]
        battle = gr.State(None)

    def locked(enabled: bool) -> list:
        return [gr.Button(interactive=enabled) for _ in buttons]

    def compare(text: str, browser_value, request: gr.Request):  # noqa: ANN001, ANN202
        owner = owner_of(request, browser_value)
        try:
            for update in arena.compare(owner, text):
                yield update.status, update.left, update.right, update.battle_id, *locked(update.battle_id is not None)
        except ERRORS as exc:
            yield f"⚠️ {exc}", "", "", None, *locked(False)

    def pick(label: str, battle_id: int | None, browser_value, request: gr.Request):  # noqa: ANN001, ANN202
        if battle_id is None:
            return "Compare first.", None, *locked(False)
        try:
            shown = arena.pick(owner_of(request, browser_value), battle_id, PICKS[label])
        except ERRORS as exc:
            return f"⚠️ {exc}", battle_id, *locked(True)
        a, b = display_name(shown["left"]), display_name(shown["right"])
        return (f"Model A was **{a}**, model B was **{b}**. Recorded: *{label}*. The conversation is in your "
                "chat list, continuing from the answer you preferred."), None, *locked(False)

    outputs = [status, left, right, battle, *buttons]
    go.click(compare, [question, browser_id], outputs, api_visibility="private")
    question.submit(compare, [question, browser_id], outputs, api_visibility="private")
    for button in buttons:
        button.click(pick, [button, battle, browser_id], [status, battle, *buttons], api_visibility="private")
