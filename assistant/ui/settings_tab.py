"""The Settings tab: what is running (model, quantization, device, paths) and how to change it."""

from __future__ import annotations

import json

import gradio as gr

from assistant.startup import StartupStatus

WHY_DEFAULT = (
    "**Why llama.cpp on CPU?** Measured on this 2-core CPU (docs/bench_generation.md): llama.cpp decodes the "
    "packaged Q4_K_M GGUF about three times as fast as the best torch path (dynamic int8) and needs no torch copy "
    "of the model, so the app serves with it and keeps torch for training and scoring. Among the torch modes, "
    "int8 is fastest, then bitsandbytes nf4, then bf16, then fp32. On CUDA, `auto` uses torch with bitsandbytes "
    "nf4."
)


def build_settings_tab(services, status: StartupStatus) -> None:  # noqa: ANN001
    settings = services.settings
    gr.Markdown("What this server runs with. The administrator sets these when starting the app.")
    gr.Markdown(WHY_DEFAULT)
    view = settings.model_dump(mode="json", exclude={"auth"})
    view["resolved_device"] = settings.resolved_device()
    view["resolved_quant"] = settings.resolved_quant()
    view["resolved_engine"] = settings.resolved_engine()
    gr.Code(json.dumps(view, indent=2), language="json", label="Current settings")

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
