"""Assemble the Gradio app: one Blocks with the Chat, Knowledge, Adapters, Images, Feedback and Settings tabs."""

from __future__ import annotations

import importlib
import logging

import gradio as gr

from assistant.startup import StartupStatus
from assistant.ui.chat_tab import build_chat_tab
from assistant.ui.settings_tab import build_settings_tab

log = logging.getLogger(__name__)

# (tab label, module, builder, argument): feature tabs live in their own modules and take services or settings.
FEATURE_TABS = [
    ("Knowledge", "assistant.ui.knowledge_tab", "build_knowledge_tab", "settings"),
    ("Adapters", "assistant.ui.adapters_tab", "build_adapters_tab", "services"),
    ("Images", "assistant.ui.images_tab", "build_images_tab", "settings"),
    ("Feedback & Training", "assistant.ui.feedback_tab", "build_feedback_tab", "services"),
]


def build_app(services, status: StartupStatus | None = None) -> gr.Blocks:  # noqa: ANN001
    settings = services.settings
    status = status or StartupStatus()
    with gr.Blocks(title="Offline assistant", fill_width=True) as app:
        browser_id = gr.BrowserState(None, storage_key="assistant-browser-id")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat = build_chat_tab(services, browser_id)
            for label, module_name, builder, argument in FEATURE_TABS:
                with gr.Tab(label):
                    try:
                        build = getattr(importlib.import_module(module_name), builder)
                        build(services if argument == "services" else settings)
                    except Exception as exc:  # noqa: BLE001 - one broken tab must not take the app down
                        log.exception("tab %s failed to build", label)
                        gr.Markdown(f"⚠️ This tab failed to load: `{type(exc).__name__}: {exc}`")
            with gr.Tab("Settings"):
                build_settings_tab(services, status)
        footer = gr.Markdown(_footer(services, status), elem_id="footer")
        timer = gr.Timer(2.0)
        timer.tick(
            lambda: _footer(services, status),
            None,
            footer,
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )
        app.load(chat["on_load"], [browser_id], chat["load_outputs"], api_name="load")
    return app


def _footer(services, status: StartupStatus) -> str:  # noqa: ANN001
    settings = services.settings
    device = settings.resolved_device()
    return (
        f"<small>device: **{device}** · quantization: **{settings.resolved_quant()}** "
        f"(ASSISTANT_QUANT={settings.quant}) · {status.line()} · data: `{settings.data_dir}`</small>"
    )


def launch(services, status: StartupStatus, **kwargs) -> None:  # noqa: ANN001
    settings = services.settings
    app = build_app(services, status)
    # One generation at a time: the model is shared (see GENERATION_LOCK); other events are not limited.
    app.queue(default_concurrency_limit=settings.concurrency, max_size=64)
    auth = tuple(settings.auth.split(":", 1)) if settings.auth and ":" in settings.auth else None
    app.launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=auth,
        show_error=True,
        allowed_paths=[str(settings.data_dir), str(settings.images_dir)],
        **kwargs,
    )
