"""The Adapters tab: adapters with their cards, delete, promote/rollback, and LoRA SFT training as a job."""

from __future__ import annotations

import json
import shutil
from dataclasses import fields

import gradio as gr
import pandas as pd

from assistant.adapters import BASE, AdapterError
from assistant.jobs import JobError
from assistant.storage import InvalidName, check_name
from assistant.training.sft import SFTConfig
from assistant.ui.access import Access, PermissionDenied, check_admin
from assistant.ui.job_monitor import build_job_monitor

ERRORS = (AdapterError, JobError, InvalidName, ValueError, FileExistsError, PermissionDenied)
ACTIONS = {"promote": "promote an adapter", "rollback": "roll back the default adapter", "delete": "delete an adapter"}


def _table(services) -> pd.DataFrame:  # noqa: ANN001
    default = services.adapters.default()
    rows = []
    for c in services.adapters.list():
        m = c.metrics
        rows.append({"name": c.name + (" ★" if c.name == default else ""), "method": c.method,
                     "base model": c.base_model, "description": c.error or c.description,
                     "held-out loss": f"{m.get('eval_loss_before', '')} → {m.get('eval_loss_after', '')}",
                     "created": c.created})
    return pd.DataFrame(rows or [{"name": "(none)", "method": "", "base model": "", "description": "",
                                  "held-out loss": "", "created": ""}])


def build_adapters_tab(services, access: Access | None = None) -> None:  # noqa: ANN001
    settings = services.settings
    gr.Markdown("LoRA adapters in `adapters/` (★ = default for new conversations). Switching one in the chat "
                "never reloads the base model.")
    table = gr.Dataframe(_table(services), interactive=False, wrap=True)

    def show(name: str | None):
        if not name:
            return ""
        try:
            return json.dumps(services.adapters.get(name).to_dict(), indent=2, ensure_ascii=False)
        except ERRORS as exc:
            return json.dumps({"error": str(exc)})

    names = services.adapters.names()
    with gr.Row():
        # the first adapter shows as chosen, so its card is shown too (it was empty until another was picked)
        choice = gr.Dropdown(names, value=names[0] if names else None, label="Adapter", scale=3)
        refresh = gr.Button("Refresh", size="sm")
        promote = gr.Button("Promote to default", size="sm", variant="primary")
        rollback = gr.Button("Roll back", size="sm")
        delete = gr.Button("Delete", size="sm", variant="stop")
    card = gr.Code(show(names[0] if names else None), language="json", label="card.json")
    message = gr.Markdown()
    history = gr.Dataframe(pd.DataFrame(services.adapters.history() or [{"at": "", "action": "", "adapter": "",
                                                                          "previous": ""}]),
                           label="Promotion history", interactive=False)

    def refreshed(msg: str = ""):
        hist = services.adapters.history() or [{"at": "", "action": "", "adapter": "", "previous": ""}]
        return (_table(services), gr.update(choices=services.adapters.names()), msg,
                pd.DataFrame([{k: v for k, v in h.items() if k != "evaluation"} for h in hist]))

    def act(action: str, name: str | None, request: gr.Request | None = None):
        try:
            check_admin(access, request, ACTIONS[action])
            if action == "rollback":
                return refreshed(f"default is now **{services.adapters.rollback() or BASE}**")
            if not name:
                raise ValueError("pick an adapter first")
            if action == "promote":
                services.adapters.record_promotion(name, "promote", {"by": "ui"})
                return refreshed(f"**{name}** is now the default")
            services.adapters.delete(name)
            return refreshed(f"deleted **{name}**")
        except ERRORS as exc:
            return refreshed(f"⚠️ {exc}")

    outputs = [table, choice, message, history]
    refresh.click(lambda: refreshed(), None, outputs, api_visibility="private")
    choice.change(show, choice, card, api_visibility="private")
    def on_promote(name: str | None, request: gr.Request):
        return act("promote", name, request)

    def on_rollback(name: str | None, request: gr.Request):
        return act("rollback", name, request)

    def on_delete(name: str | None, request: gr.Request):
        return act("delete", name, request)

    promote.click(on_promote, choice, outputs, api_name="promote_adapter")
    rollback.click(on_rollback, choice, outputs, api_name="rollback_adapter")
    delete.click(on_delete, choice, outputs, api_name="delete_adapter")

    gr.Markdown("### Train a LoRA adapter (SFT)\nA JSONL file with one `{\"messages\": [...]}` per line; the last "
                "message of each is the assistant reply to learn. Runs as a background job (it survives closing "
                "the page).")
    with gr.Row():
        upload = gr.File(label="training JSONL", file_types=[".jsonl"], scale=2, elem_id="sft-data")
        eval_upload = gr.File(label="held-out JSONL (optional)", file_types=[".jsonl"], scale=2)
    form: dict[str, gr.components.Component] = {}
    defaults = SFTConfig(name="", data="")
    with gr.Row():
        for f in fields(SFTConfig):
            if f.name in ("data", "eval_data"):
                continue
            value = getattr(defaults, f.name)
            info = f.metadata.get("help")
            if isinstance(value, bool):
                form[f.name] = gr.Checkbox(value=value, label=f.name, info=info, elem_id=f"sft-{f.name}")
            elif isinstance(value, int | float):
                form[f.name] = gr.Number(value=value, label=f.name, info=info, min_width=140, elem_id=f"sft-{f.name}")
            elif isinstance(value, list):
                form[f.name] = gr.Textbox(value=", ".join(value), label=f.name, info=info, elem_id=f"sft-{f.name}")
            else:
                form[f.name] = gr.Textbox(value=value, label=f.name, info=info, elem_id=f"sft-{f.name}")
    start = gr.Button("Start training", variant="primary", elem_id="sft-start")
    job_id = build_job_monitor(services, "SFT job", elem_prefix="sft")

    def start_job(request: gr.Request, train_file, eval_file, *values):  # noqa: ANN001 - request first: Gradio fills it
        config = dict(zip(form.keys(), values, strict=True))
        try:
            check_admin(access, request, "train an adapter")
            name = check_name(str(config["name"]).strip(), "adapter name")
            if train_file is None:
                raise ValueError("upload a training JSONL first")
            for key in ("rank", "alpha", "epochs", "max_steps", "batch_size", "max_length", "seed",
                        "behaviour_prompts"):
                config[key] = int(config[key])
            config["target_modules"] = [t.strip() for t in str(config["target_modules"]).split(",") if t.strip()]
            staged = settings.uploads_dir / "training"
            staged.mkdir(parents=True, exist_ok=True)
            config["data"] = str(shutil.copy(train_file, staged / f"{name}.train.jsonl"))
            config["eval_data"] = str(shutil.copy(eval_file, staged / f"{name}.eval.jsonl")) if eval_file else ""
            config["name"] = name
            SFTConfig.from_dict(config)
            start_from = str(config.get("init_adapter") or "").strip()
            if start_from and not (settings.adapters_dir / check_name(start_from, "adapter name")).is_dir():
                raise FileNotFoundError(f"no installed adapter {start_from!r} to continue training from")
            if (settings.adapters_dir / name).exists() and not config["overwrite"]:
                raise FileExistsError(f"adapter {name!r} already exists; tick overwrite or pick another name")
            new_id = services.jobs.start("sft", config, lock_key=f"adapter:{name}")
            return new_id, f"started job `{new_id}` for **{name}**"
        except ERRORS as exc:
            return gr.update(), f"⚠️ {exc}"

    start.click(start_job, [upload, eval_upload, *form.values()], [job_id, message], api_name="train_adapter")
