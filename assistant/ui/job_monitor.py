"""A reusable job panel: progress with time left, live loss plot, log tail and Cancel, polling the JobRunner."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from assistant.ui.jobs_panel import time_left


def build_job_monitor(services, label: str = "Job", elem_prefix: str | None = None) -> gr.State:  # noqa: ANN001
    """Render the panel; returns the gr.State holding the watched job id (set it to start watching).

    `elem_prefix` names the panel's parts in the page (`<prefix>-job-status`, `<prefix>-job-plot`) for tests."""
    job_id = gr.State(None)
    ids = {part: f"{elem_prefix}-job-{part}" if elem_prefix else None for part in ("status", "plot")}
    with gr.Group():
        status = gr.Markdown(f"*{label}: none running*", elem_id=ids["status"])
        # Hidden until the job logs its first value: an empty plot draws "Infinity" axes.
        plot = gr.LinePlot(pd.DataFrame({"step": [], "value": [], "series": []}), x="step", y="value",
                           color="series", height=220, label="loss", visible=False, elem_id=ids["plot"])
        with gr.Accordion("Log", open=False):
            log = gr.Code(language=None, lines=8, label="log tail")
        cancel = gr.Button("Cancel job", size="sm", variant="stop")
    timer = gr.Timer(2.0)

    def poll(current: str | None):
        if not current:
            return gr.update(), gr.update(), gr.update()
        info = services.jobs.get(current)
        rows = [{"step": m["step"], "value": v, "series": k} for m in services.jobs.metrics(current)
                for k, v in m.items() if k not in ("step", "time") and isinstance(v, int | float)]
        bar = "█" * int(info.progress * 20) + "░" * (20 - int(info.progress * 20))
        left = time_left(info)
        eta = f" — about {left} left" if left else ""
        text = f"**{label} `{current}`** — {info.status} `{bar}` {info.progress:.0%}{eta} — {info.message}"
        plot_update = gr.update(value=pd.DataFrame(rows), visible=True) if rows else gr.update(visible=False)
        return text, plot_update, services.jobs.log_tail(current, 3000)

    def do_cancel(current: str | None):
        if not current:
            return "*nothing to cancel*"
        info = services.jobs.cancel(current)
        return f"**{label} `{current}`** — cancel requested ({info.status})"

    timer.tick(poll, job_id, [status, plot, log], show_progress="hidden", api_visibility="private")
    cancel.click(do_cancel, job_id, status, api_visibility="private")
    return job_id
