"""Assemble the Gradio app: one Blocks with the Chat, Knowledge, Adapters, Images, Feedback and Settings tabs."""

from __future__ import annotations

import importlib
import logging

import gradio as gr
from starlette.middleware import Middleware

from assistant.security import BrowserCookie, FileRouteGuard, Identity, blocked_paths, check_binding
from assistant.startup import StartupStatus
from assistant.ui.access import Access
from assistant.ui.arena_panel import build_arena_panel
from assistant.ui.chat_tab import build_chat_tab, owner_for
from assistant.ui.settings_tab import build_settings_tab

log = logging.getLogger(__name__)

# (tab label, module, builder, argument): feature tabs live in their own modules and take services or settings.
# A builder may return (fn, inputs, outputs): run when its tab is opened, so what it shows is not the page load's.
FEATURE_TABS = [
    ("Knowledge", "assistant.ui.knowledge_tab", "build_knowledge_tab", "settings"),
    ("Adapters", "assistant.ui.adapters_tab", "build_adapters_tab", "services"),
    ("Images", "assistant.ui.images_tab", "build_images_tab", "settings"),
    ("Feedback & Training", "assistant.ui.feedback_tab", "build_feedback_tab", "services"),
    ("Jobs", "assistant.ui.jobs_panel", "build_jobs_tab", "services"),
]


def build_app(services, status: StartupStatus | None = None) -> gr.Blocks:  # noqa: ANN001
    settings = services.settings
    status = status or StartupStatus()
    # The secret in the data dir makes identities last across restarts; the signed id cannot be borrowed.
    identity = Identity.for_data_dir(settings.data_dir)
    access = Access.for_services(services)
    services.models.follow(status)  # a model switched in the Settings tab updates the footer's model line
    # uploads and page copies of images in Gradio's cache are swept hourly once a day old (a reload re-copies)
    with gr.Blocks(title="Offline assistant", fill_width=True, delete_cache=(3600, 86400)) as app:
        browser_id = gr.BrowserState(
            None, storage_key="assistant-browser-id", secret=identity.browser_state_secret
        )
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat = build_chat_tab(services, browser_id, identity)
                build_arena_panel(services, lambda request, value: owner_for(request, value, identity), browser_id)
            for label, module_name, builder, argument in FEATURE_TABS:
                with gr.Tab(label) as tab:
                    try:
                        build = getattr(importlib.import_module(module_name), builder)
                        on_show = build(services if argument == "services" else settings, access)
                        if on_show:
                            tab.select(*on_show, api_visibility="private")
                    except Exception as exc:  # noqa: BLE001 - one broken tab must not take the app down
                        log.exception("tab %s failed to build", label)
                        gr.Markdown(f"⚠️ This tab failed to load: `{type(exc).__name__}: {exc}`")
            with gr.Tab("Settings"):
                build_settings_tab(services, status, access)
        # a callable value is computed for each page load, so a reloaded page never shows the start-up state
        footer = gr.Markdown(lambda: _footer(services, status), elem_id="footer")
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
    engine = services.llm.kind if services.llm_loaded else settings.resolved_engine()
    if services.llm_loaded:
        quant = services.llm.loaded.quant
    else:  # llama.cpp serves the GGUF's own quantization; ASSISTANT_QUANT is the torch path's
        quant = "gguf" if engine == "llamacpp" else settings.resolved_quant()
    switching = services.models.note()  # "loading <model>… 12 s" while a switch is under way, or why it failed
    return (
        f"<small>engine: **{engine}** · device: **{settings.resolved_device()}** · quantization: **{quant}** "
        f"· {status.line()}{' · ' + switching if switching else ''}</small>"
    )


def launch_options(services, insecure: bool = False) -> dict:  # noqa: ANN001
    """The security-relevant arguments of `Blocks.launch`: where to listen, who may log in, what may be served."""
    settings = services.settings
    access = Access.for_services(services)
    warning = check_binding(settings.host, access.accounts_configured(), insecure)  # raises BindRefused
    if warning:
        log.warning(warning)
    blocked = blocked_paths(settings)
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "auth": access.gradio_auth(),
        # Nothing of the data dir is ever served by path: no allowed_paths, and the data dir, model cache and
        # adapters blocked outright. Pictures reach the page as pixels Gradio caches under a content hash.
        "allowed_paths": [],
        "blocked_paths": blocked,
        # refused by the upload route before a byte is stored (documents have their own, lower, max_upload_mb)
        "max_file_size": f"{settings.max_form_file_mb}mb",
        # the guard runs first; the page's identity cookie is set with the page, before any event runs
        "app_kwargs": {"middleware": [
            Middleware(FileRouteGuard, blocked=blocked),
            Middleware(BrowserCookie, identity=Identity.for_data_dir(settings.data_dir)),
        ]},
    }


def launch(services, status: StartupStatus, insecure: bool = False, **kwargs) -> gr.Blocks:  # noqa: ANN001
    settings = services.settings
    options = launch_options(services, insecure)
    app = build_app(services, status)
    if settings.api_enabled:
        # The OpenAI-compatible API (/v1) lives in the same server, in front of Gradio's routes; the file-route
        # guard middleware wraps both. It has its own auth (API keys; loopback only without any key).
        from starlette.routing import Mount

        from assistant.api import create_api

        options["app_kwargs"] = {**options["app_kwargs"], "routes": [Mount("/v1", app=create_api(services, status))]}
    # One generation at a time: the model is shared (see GENERATION_LOCK); other events are not limited.
    app.queue(default_concurrency_limit=settings.concurrency, max_size=64)
    app.launch(show_error=True, **{**options, **kwargs})
    return app
