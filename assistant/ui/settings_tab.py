"""The Settings tab: what is running (model, quantization, device, paths) and how to change it."""

from __future__ import annotations

import json

import gradio as gr

from assistant import live_settings
from assistant.adapters import BASE, AdapterError
from assistant.prompts import COT_MODES
from assistant.startup import StartupStatus
from assistant.ui.access import Access, PermissionDenied, check_admin

WHY_DEFAULT = (
    "**Why llama.cpp on CPU?** Measured on this 2-core CPU (docs/bench_generation.md): llama.cpp decodes the "
    "packaged Q4_K_M GGUF about three times as fast as the best torch path (dynamic int8) and needs no torch copy "
    "of the model, so the app serves with it and keeps torch for training and scoring. Among the torch modes, "
    "int8 is fastest, then bitsandbytes nf4, then bf16, then fp32. On CUDA, `auto` uses torch with bitsandbytes "
    "nf4."
)


def settings_json(services) -> str:  # noqa: ANN001
    settings = services.settings
    view = settings.model_dump(mode="json", exclude={"auth"})
    view["resolved_device"] = settings.resolved_device()
    view["resolved_quant"] = settings.resolved_quant()
    view["resolved_engine"] = settings.resolved_engine()
    return json.dumps(view, indent=2)


def defaults_values(services) -> list:  # noqa: ANN001
    """(default adapter, CoT mode, temperature, top-p, max new tokens) as the Settings tab shows them."""
    settings = services.settings
    return [
        services.adapters.default() or BASE,
        settings.default_cot_mode,
        settings.temperature,
        settings.top_p,
        settings.max_new_tokens,
    ]


def save_defaults(services, adapter: str | None, cot_mode: str, temperature, top_p, max_new_tokens) -> str:  # noqa: ANN001
    """Validate and apply the defaults for new chats (at once, and persisted); a message for the page.

    Every value is checked before anything changes: one bad value leaves all of them as they were.
    """
    name = None if adapter in (None, "", BASE) else adapter
    if name is not None:
        services.adapters.check_compatible(name)  # AdapterError with the reason (unknown, wrong base model…)
    live_settings.save(
        services.settings,
        {"default_cot_mode": cot_mode, "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens},
    )
    if name != services.adapters.default():
        # The default adapter is the promoted one: one source of truth for the chat, the API and the Adapters tab.
        services.adapters.record_promotion(name, "promote", {"by": "settings tab"})
    return "✅ Saved: new chats and turns use these defaults now (conversations keep their own options)."


def build_settings_tab(services, status: StartupStatus, access: Access | None = None) -> None:  # noqa: ANN001
    settings = services.settings
    gr.Markdown("What this server runs with. The administrator sets these when starting the app.")
    gr.Markdown(WHY_DEFAULT)
    with gr.Group(elem_id="settings-defaults"):
        gr.Markdown(
            "**Defaults for new chats** — applied at once, kept across restarts; a conversation keeps the options "
            "it was started with. Only an admin can change them."
        )
        with gr.Row():
            default_adapter = gr.Dropdown(
                [BASE, *services.adapters.answer_names()],
                value=lambda: defaults_values(services)[0],
                label="Default adapter",
                elem_id="default-adapter",
            )
            default_cot = gr.Radio(
                list(COT_MODES), value=lambda: settings.default_cot_mode, label="Chain of thought",
                elem_id="default-cot",
            )
        with gr.Row():
            temperature = gr.Number(
                value=lambda: settings.temperature, label="Temperature (0–2)", elem_id="default-temperature"
            )
            top_p = gr.Number(value=lambda: settings.top_p, label="Top-p (above 0, at most 1)", elem_id="default-top-p")
            max_new = gr.Number(
                value=lambda: settings.max_new_tokens,
                label=f"Max new tokens (1–{settings.max_new_tokens_cap})",
                precision=0,
                elem_id="default-max-new-tokens",
            )
        with gr.Row():
            save_button = gr.Button("Save defaults", variant="primary", size="sm", elem_id="save-defaults")
            reset_button = gr.Button("Reset to the server's values", size="sm", elem_id="reset-defaults")
        defaults_status = gr.Markdown("", elem_id="defaults-status")
    current = gr.Code(lambda: settings_json(services), language="json", label="Current settings")
    fields = [default_adapter, default_cot, temperature, top_p, max_new]

    def refreshed(message: str) -> tuple:
        values = defaults_values(services)
        adapter_update = gr.update(choices=[BASE, *services.adapters.answer_names()], value=values[0])
        return (message, settings_json(services), adapter_update, *values[1:])

    def on_save(adapter, cot_mode, temp, tp, max_new_tokens, request: gr.Request):  # noqa: ANN001
        try:
            check_admin(access, request, "change the defaults")
            message = save_defaults(services, adapter, cot_mode, temp, tp, max_new_tokens)
        except (PermissionDenied, AdapterError, ValueError) as exc:
            # the fields keep what was typed, so the person can fix the one bad value
            return (f"⚠️ Not saved: {exc}", gr.update(), *([gr.update()] * len(fields)))
        return refreshed(message)

    def on_reset(request: gr.Request):
        try:
            check_admin(access, request, "change the defaults")
        except PermissionDenied as exc:
            return (f"⚠️ {exc}", gr.update(), *([gr.update()] * len(fields)))
        live_settings.reset(settings)
        return refreshed("Reset: the values the server was started with apply again (the default adapter stays).")

    outputs = [defaults_status, current, *fields]
    save_button.click(on_save, fields, outputs, api_name="save_defaults")
    reset_button.click(on_reset, None, outputs, api_name="reset_defaults")

    def status_view() -> str:
        lines = [status.line()]
        if services.llm_loaded:  # never loads the model just to show this
            lines += [f"- {note}" for note in services.llm.loaded.notes]
        return "\n".join(lines)

    def settled() -> bool:
        """Warm-up is over: nothing left for the status line to change by itself."""
        return "…" not in status.line()

    def poll():
        return status_view(), gr.Timer(active=not settled())

    # The status is read on every page load (a callable value) and followed while the app warms up, so it never
    # says "loading…" after the footer says loaded.
    state = gr.Markdown(status_view, elem_id="settings-status")
    timer = gr.Timer(2.0, active=True)
    timer.tick(poll, None, [state, timer], queue=False, show_progress="hidden", api_visibility="private")
    refresh = gr.Button("Refresh status", size="sm")
    refresh.click(status_view, None, state, queue=False)
