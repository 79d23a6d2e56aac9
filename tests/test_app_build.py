"""Every tab of the real app builds: a tab that raises while being built shows "failed to load" instead of its
controls, which only a browser would otherwise notice."""

import gradio as gr

from assistant.ui.app import build_app


def test_every_tab_builds_without_an_error(services):
    app = build_app(services)
    failures = [block.value for block in app.blocks.values()
                if isinstance(block, gr.Markdown) and "failed to load" in str(block.value)]
    assert failures == []
    labels = {block.label for block in app.blocks.values() if isinstance(block, gr.Tab)}
    assert {"Chat", "Knowledge", "Adapters", "Images", "Feedback & Training", "Jobs", "Settings"} <= labels
