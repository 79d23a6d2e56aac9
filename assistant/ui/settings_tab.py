"""The Settings tab: what is running (model, quantization, device, paths) and how to change it."""

from __future__ import annotations

import json

import gradio as gr

from assistant.startup import StartupStatus

WHY_DEFAULT = (
    "**Why int8 on CPU?** Measured on this 2-core CPU (docs/benchmarks.md): torch dynamic int8 decodes faster "
    "than fp32 and far faster than bitsandbytes, which runs on CPU but slower than fp32. The layers LoRA adapters "
    "attach to stay in fp32 so adapters still switch at run time, and so do the few layers whose outlier weights "
    "int8 would ruin (`int8_outlier_ratio`). On CUDA, `auto` uses bitsandbytes nf4."
)


def build_settings_tab(services, status: StartupStatus) -> None:  # noqa: ANN001
    settings = services.settings
    gr.Markdown("Settings come from `ASSISTANT_*` environment variables or `assistant.toml`; restart to apply.")
    gr.Markdown(WHY_DEFAULT)
    view = settings.model_dump(mode="json", exclude={"auth"})
    view["resolved_device"] = settings.resolved_device()
    view["resolved_quant"] = settings.resolved_quant()
    gr.Code(json.dumps(view, indent=2), language="json", label="Current settings")
    def status_view() -> str:
        lines = [status.line()]
        if services.llm_loaded:  # never loads the model just to show this
            lines += [f"- {note}" for note in services.llm.loaded.notes]
        return "\n".join(lines)

    state = gr.Markdown(status_view())
    refresh = gr.Button("Refresh status", size="sm")
    refresh.click(status_view, None, state, queue=False)
