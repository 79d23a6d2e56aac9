"""The Jobs tab, and a toast on every page when one of the user's jobs finishes.

Long work (ingestion, image training, SFT, RLHF, reward models) runs in background jobs, started from whichever tab
or from the chat by a tool. This lists them in one place with a progress bar, time left and Cancel.
"""

from __future__ import annotations

import datetime as dt

import gradio as gr
import pandas as pd

from assistant.jobs import ACTIVE, JobError, JobInfo
from assistant.ui.access import Access

HEADERS = ["job", "kind", "status", "progress", "time left", "message", "started (UTC)"]
POLL_SECONDS = 3.0


def progress_bar(fraction: float, width: int = 12) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "█" * filled + "░" * (width - filled) + f" {fraction:.0%}"


def time_left(info: JobInfo, now: dt.datetime | None = None) -> str:
    """Linear estimate from the time spent and the progress made; blank until there is something to go on."""
    if info.status != "running" or not info.started_at or info.progress <= 0.02:
        return ""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    spent = (now - info.started_at).total_seconds()
    left = spent * (1 - info.progress) / info.progress
    return f"{left / 60:.0f} min" if left >= 90 else f"{left:.0f} s"


def visible_jobs(services, access: Access | None, request: gr.Request | None) -> list[JobInfo]:  # noqa: ANN001
    """An admin, and the single user of an app without accounts, see every job; a user sees their own."""
    username = getattr(request, "username", None) if request is not None else None
    if access is None or not access.accounts_configured() or access.role(request) == "admin":
        return services.jobs.list(limit=30)
    return services.jobs.list(limit=30, owner=f"user:{username}")


def jobs_frame(jobs: list[JobInfo]) -> pd.DataFrame:
    rows = [[j.id, j.kind, j.status, progress_bar(j.progress), time_left(j), j.message[:160],
             str(j.started_at or j.created_at)[:19]] for j in jobs]
    return pd.DataFrame(rows, columns=HEADERS)


def build_jobs_tab(services, access: Access | None = None) -> None:  # noqa: ANN001
    gr.Markdown("Background work of every kind — document ingestion, image-model training, adapter training, "
                "reward models and RLHF — whether started from a tab or by a tool in the chat. Jobs beyond the "
                "server's limit wait in line and start by themselves; a toast says when one of yours finishes.")
    table = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True, label="jobs", elem_id="jobs-table",
                         column_widths=["11%", "8%", "8%", "15%", "8%", "37%", "13%"])
    with gr.Row():
        choice = gr.Dropdown(label="Job", choices=[], scale=3)
        cancel = gr.Button("Cancel job", variant="stop", scale=1)
    message = gr.Markdown()
    seen = gr.State({})  # job id -> status at the last poll (per page): what changed since is what the toast says
    timer = gr.Timer(POLL_SECONDS)

    def poll(known: dict, picked: str | None, request: gr.Request):  # noqa: ANN202
        jobs = visible_jobs(services, access, request)
        for job in jobs:
            before = known.get(job.id)
            if before in ACTIVE and job.status not in ACTIVE:
                note = f"{job.kind} job {job.id} {job.status}: {job.message[:200]}"
                (gr.Info if job.status == "succeeded" else gr.Warning)(note)
        active = [j.id for j in jobs if j.status in ACTIVE]
        # Keep the user's pick while that job is still active: the poll must not undo a choice every 3 s.
        keep = picked if picked in active else (active[0] if len(active) == 1 else None)
        return jobs_frame(jobs), gr.Dropdown(choices=active, value=keep), {j.id: j.status for j in jobs}

    def do_cancel(job_id: str | None, request: gr.Request) -> str:
        if not job_id:
            return "Pick a running or waiting job."
        if job_id not in {j.id for j in visible_jobs(services, access, request)}:
            return f"⚠️ no job {job_id!r} of yours"  # another user's job: as if it did not exist
        try:
            info = services.jobs.cancel(job_id)
        except JobError as exc:
            return f"⚠️ {exc}"
        return f"cancel requested for {info.kind} job `{job_id}` ({info.status})"

    timer.tick(poll, [seen, choice], [table, choice, seen], show_progress="hidden", api_visibility="private")
    cancel.click(do_cancel, choice, message, api_visibility="private")
