"""The Images tab: train VAE/GAN/diffusion/SSL models with a live loss plot, sample by prompt, inpaint, see numbers.

Only calls `assistant.imaging.service` and the JobRunner; the running job's id lives in gr.State per session.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from assistant.config import Settings
from assistant.jobs import ACTIVE
from assistant.ui import files
from assistant.ui.access import Access, check_admin, owner_of


def _model_names(settings: Settings, kinds: tuple[str, ...]) -> list[str]:
    """The shared checkpoints: the page is built once for everyone (a user types the name of their own)."""
    from assistant.imaging.engine import SHARED_ONLY
    from assistant.imaging.service import list_image_models

    return [m["name"] for m in list_image_models(settings, SHARED_ONLY) if m.get("kind") in kinds]


def optional_number(text: str | None, what: str, low: float, high: float, whole: bool = False) -> float | int | None:
    """A number typed in an optional field: None when blank, else checked against [low, high]."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not {'a whole number' if whole else 'a number'}") from None
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low:g} and {high:g}, not {text}")
    return value


def _error(exc: Exception) -> str:
    return f"⚠️ {exc}"


def build_images_tab(settings: Settings, access: Access | None = None) -> None:
    """Build the components inside an already-open gr.Tab."""
    from assistant.imaging import service
    from assistant.jobs import JobRunner

    gen_models = _model_names(settings, ("diffusion", "gan", "vae"))
    ssl_models = _model_names(settings, ("ssl",))
    all_models = gen_models + ssl_models
    job_state = gr.State(None)

    with gr.Accordion("Train", open=False):
        with gr.Row():
            kind = gr.Dropdown(["vae", "gan", "diffusion", "ssl"], value="gan", label="model")
            dataset = gr.Dropdown(["digits", "shapes", "folder"], value="digits", label="dataset")
            folder = gr.Textbox(label="folder (for dataset=folder: one sub-folder per class)", scale=2)
            epochs = gr.Slider(1, 200, value=20, step=1, label="epochs")
        with gr.Row():
            train_btn = gr.Button("Train in the background", variant="primary")
            cancel_btn = gr.Button("Cancel")
        status = gr.Markdown()
        with gr.Row():
            # Hidden until the first logged loss: an empty plot draws "Infinity" axes.
            loss_plot = gr.LinePlot(pd.DataFrame({"step": [], "loss": []}), x="step", y="loss",
                                    title="training loss", height=260, visible=False)
            preview = gr.Image(label="samples during training", type="filepath", height=260)
        timer = gr.Timer(1.0, active=False)

    with gr.Accordion("Sample by prompt", open=True):
        with gr.Row():
            sample_model = gr.Dropdown(["auto", *gen_models], value="auto", label="model", allow_custom_value=True)
            prompt = gr.Textbox(label="prompt", scale=2,
                                placeholder="digit 7 · two small red triangles and a large blue circle · 画一个数字3")
            n = gr.Slider(1, settings.max_images, value=8, step=1, label="how many")
            seed = gr.Number(value=0, precision=0, label="seed (image i: seed + i)")
        with gr.Row():
            # blank = the checkpoint's own default (its card's "sampling"), so a tuned model is not overridden.
            # Text boxes: a gr.Number with value None shows and sends 0 (gradio-app/gradio#6728), so every draw
            # was made at temperature 0, guidance 0 and as a variation of image 0 (seen in a browser try).
            temperature = gr.Textbox(value="", placeholder="model default",
                                     label="temperature (blank: model default; lower: more typical)")
            guidance = gr.Textbox(value="", placeholder="model default", label="guidance, diffusion (blank: default)")
            like = gr.Textbox(value="", placeholder="none", label="more like the image with seed (optional)")
            variation = gr.Slider(0.05, 1.0, value=0.3, step=0.05, label="variation (with 'more like')")
        sample_btn = gr.Button("Draw", variant="primary")
        sample_info = gr.Markdown()
        gallery = gr.Gallery(label="samples", columns=8, height=260)

    with gr.Accordion("Inpaint (masked SSL)", open=False):
        with gr.Row():
            inpaint_model = gr.Dropdown(ssl_models or ["ssl-digits"], value=(ssl_models or ["ssl-digits"])[0],
                                        label="model", allow_custom_value=True)
            ratio = gr.Slider(0.05, 0.95, value=0.25, step=0.05, label="mask ratio")
            mask_kind = gr.Radio(["patches", "block"], value="patches", label="mask")
            upload = gr.Image(label="your image (optional)", type="filepath", height=120)
        inpaint_btn = gr.Button("Mask and fill")
        inpaint_info = gr.Markdown()
        rows = gr.Image(label="original / masked / filled", type="filepath")

    with gr.Accordion("Evaluation", open=False):
        with gr.Row():
            eval_model = gr.Dropdown(all_models, value=all_models[0] if all_models else None, label="model",
                                     allow_custom_value=True)
            eval_btn = gr.Button("Evaluate")
        eval_numbers = gr.JSON(label="metrics (test split)")
        eval_gallery = gr.Gallery(label="evaluation grids", columns=2, height=300)

    def start(kind_v: str, dataset_v: str, folder_v: str, epochs_v: float, request: gr.Request):
        try:
            if dataset_v == "folder" or folder_v:  # reads a folder of the server: not every user's to choose
                check_admin(access, request, "train on a folder of the server")
            out = service.train_image_model(kind_v, dataset_v, int(epochs_v), folder=folder_v or None,
                                            settings=settings, owner=owner_of(request),
                                            shared=access is None or access.role(request) == "admin")
        except Exception as exc:  # noqa: BLE001 - shown to the user
            return None, _error(exc), gr.Timer(active=False)
        return out["job_id"], f"started job `{out['job_id']}` → `{out['name']}`", gr.Timer(active=True)

    def poll(job_id: str | None):
        if not job_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=False)
        runner = JobRunner(settings)
        runner.reconcile()
        info = runner.get(job_id)
        rows_ = [r for r in runner.metrics(job_id) if "loss" in r]
        frame = pd.DataFrame({"step": [r["step"] for r in rows_], "loss": [r["loss"] for r in rows_]})
        plot = gr.update(value=frame, visible=True) if rows_ else gr.update(visible=False)
        image = runner.job_dir(job_id) / "samples.png"
        text = f"**{info.status}** {info.progress:.0%} · {info.message}"
        if info.status == "succeeded":
            metrics = info.result.get("metrics", {})
            text += "\n\n" + " · ".join(f"{k}: {v}" for k, v in metrics.items())
        done = info.status not in ACTIVE
        picture = files.image(image, runner.job_dir(job_id)) if image.exists() else None
        return text, plot, picture if picture is not None else gr.skip(), gr.Timer(active=not done)

    def cancel(job_id: str | None) -> str:
        if not job_id:
            return "no job running"
        return f"job {job_id}: {JobRunner(settings).cancel(job_id).status}"

    def draw(model_v: str, prompt_v: str, n_v: float, seed_v: float, temp_v: str, guid_v: str, like_v: str,
             var_v: float, request: gr.Request):
        try:
            out = service.generate_images(model_v, prompt_v or None, int(n_v), int(seed_v), settings=settings,
                                          viewer=owner_of(request),
                                          temperature=optional_number(temp_v, "temperature", 0.0, 3.0),
                                          guidance=optional_number(guid_v, "guidance", 0.0, 20.0),
                                          like=optional_number(like_v, "'more like' seed", 0, 2**31 - 1, whole=True),
                                          variation=float(var_v))
        except Exception as exc:  # noqa: BLE001
            return _error(exc), []
        return out["summary"], files.images(out["files"], settings.images_dir)

    def fill(model_v: str, ratio_v: float, mask_v: str, image_v: str | None, request: gr.Request):
        try:
            out = service.inpaint(image_v, ratio_v, model_v, mask=mask_v, settings=settings,
                                  viewer=owner_of(request))
        except Exception as exc:  # noqa: BLE001
            return _error(exc), None
        return out["summary"], files.image(out["grid"], settings.images_dir)

    def evaluate(model_v: str, request: gr.Request):
        try:
            out = service.evaluate_image_model(model_v, settings=settings, viewer=owner_of(request))
        except Exception as exc:  # noqa: BLE001
            return {"error": str(exc)}, []
        return ({**out["metrics"], "train_seconds": out["train_seconds"], "device": out["device"]},
                files.images(out["files"], settings.images_dir))

    train_btn.click(start, [kind, dataset, folder, epochs], [job_state, status, timer])
    timer.tick(poll, [job_state], [status, loss_plot, preview, timer], show_progress="hidden")
    cancel_btn.click(cancel, [job_state], [status])
    draw_inputs = [sample_model, prompt, n, seed, temperature, guidance, like, variation]
    sample_btn.click(draw, draw_inputs, [sample_info, gallery])
    prompt.submit(draw, draw_inputs, [sample_info, gallery])
    inpaint_btn.click(fill, [inpaint_model, ratio, mask_kind, upload], [inpaint_info, rows])
    eval_btn.click(evaluate, [eval_model], [eval_numbers, eval_gallery])
