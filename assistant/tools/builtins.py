"""The built-in tools. Each returns a dict: `text` for the model and the user, and `images` (file paths) if any."""

from __future__ import annotations

import datetime as dt
import inspect
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from assistant.tools.calculator import evaluate


@dataclass
class TurnContext:
    """Who is calling: set around each tool call so tools that act on the conversation know which one."""

    owner: str
    conversation_id: str | None = None


CURRENT_TURN: ContextVar[TurnContext | None] = ContextVar("current_turn", default=None)


class SearchArgs(BaseModel):
    query: str = Field(description="what to look up in the user's documents and the shipped notes")
    k: int = Field(4, ge=1, le=20, description="how many passages")


class DrawArgs(BaseModel):
    prompt: str = Field(description="what to draw, e.g. 'digit 7', 'two red circles and a blue star', '画一个数字3'")
    # No fixed default: the drawing service reads a count from the prompt ("three red circles"), else draws 4.
    n: int | None = Field(None, ge=1, le=64, description="how many images (default: the prompt's count, else 4)")
    model: str = Field("auto", description="image model, e.g. diffusion-shapes, gan-digits; auto picks one")
    seed: int | None = Field(None, description="random seed for reproducible images")
    temperature: float | None = Field(None, ge=0.0, le=3.0,
                                      description="noise scale: lower = more typical, higher = more varied")
    like: int | None = Field(None, description="seed of an earlier image: draw more like that one")


class TrainArgs(BaseModel):
    model: Literal["vae", "gan", "diffusion", "ssl"] = Field(description="which kind of image model")
    dataset: Literal["digits", "shapes"] = Field("digits", description="training data")
    epochs: int = Field(20, ge=1, le=500, description="passes over the data")


class InpaintArgs(BaseModel):
    model: str = Field("ssl-digits", description="masked-SSL model, e.g. ssl-digits or ssl-shapes")
    mask_ratio: float = Field(0.25, gt=0.0, lt=1.0, description="share of the image to hide and fill in")


class AdapterArgs(BaseModel):
    name: str = Field(description="adapter name, or 'base' for the bare base model")


class CalculatorArgs(BaseModel):
    expression: str = Field(description="arithmetic, e.g. '17*23' or 'sqrt(2)^2'")


class NoArgs(BaseModel):
    pass


def turn_owner() -> str | None:
    """The owner of the chat turn a tool runs in; None without a turn (the CLI: a trusted caller, shared data)."""
    turn = CURRENT_TURN.get()
    return turn.owner if turn is not None else None


def _call_with_settings(function, settings, **kwargs):  # noqa: ANN001, ANN202
    """Call an imaging service function, passing settings if it takes them."""
    if "settings" in inspect.signature(function).parameters:
        kwargs["settings"] = settings
    return function(**kwargs)


def make_builtin_tools(services) -> list[BaseTool]:  # noqa: ANN001 - Services
    settings = services.settings

    def search_knowledge(query: str, k: int = 4) -> dict:
        from assistant.knowledge.service import search_collections

        # The shared documents and the caller's own uploads; without a turn (CLI), the shared ones only.
        hits = search_collections(settings, query, turn_owner(), k=k)
        if not hits:
            return {"text": "No matching passages in the knowledge base.", "sources": []}
        lines = [f"[{i}] {h.source} ({h.location}): {h.text[:400]}" for i, h in enumerate(hits, 1)]
        return {"text": "\n".join(lines), "sources": [h.to_dict() for h in hits]}

    def generate_images(
        prompt: str,
        n: int | None = None,
        model: str = "auto",
        seed: int | None = None,
        temperature: float | None = None,
        like: int | None = None,
    ) -> dict:
        from assistant.imaging import service as imaging

        out = _call_with_settings(
            imaging.generate_images,
            settings,
            viewer=turn_owner(),  # the caller's own models and the shared ones
            model=model,
            prompt_or_class=prompt,
            n=None if n is None else min(n, settings.max_images),  # None: the prompt's count ("three …"), else 4
            seed=seed,
            temperature=temperature,
            like=like,
        )
        files = out.get("files", [])
        text = out.get("summary") or (
            f"{len(files)} image(s) from {out.get('model')} for {out.get('condition', prompt)!r}"
        )
        return {"text": text, "images": files, "final": True, **{k: v for k, v in out.items() if k != "files"}}

    def train_image_model(model: str, dataset: str = "digits", epochs: int = 20) -> dict:
        from assistant.imaging import service as imaging

        owner = turn_owner() or "local"
        if dataset.strip().lower().startswith("folder"):  # a server folder: admins choose that in the Images tab
            raise ValueError("training on a folder of the server is started from the Images tab (admins only); "
                             "from the chat choose digits or shapes")
        out = _call_with_settings(
            imaging.train_image_model, settings, model=model, dataset=dataset, epochs=epochs, owner=owner,
            shared=services.role(owner) == "admin",  # a user's training never replaces everyone's model
        )
        job = out.get("job_id")
        return {
            "text": f"Started training {model} on {dataset} for {epochs} epochs into `{out.get('name')}` (job {job}); "
            "follow it in the Images tab or with `python -m assistant jobs show " + str(job) + "`.",
            "final": True,
            **out,
        }

    def inpaint_image(model: str = "ssl-digits", mask_ratio: float = 0.25) -> dict:
        from assistant.imaging import service as imaging

        out = _call_with_settings(imaging.inpaint, settings, model=model, image=None, mask_ratio=mask_ratio,
                                  viewer=turn_owner())  # as generate_images: the caller's own and the shared
        files = out.get("files", [])
        return {
            "text": out.get("summary")
            or f"Inpainted test images with {model} ({mask_ratio:.0%} masked): rows show original, masked and filled.",
            "images": files,
            "final": True,
        }

    def list_adapters() -> dict:
        cards = services.adapters.list()
        default = services.adapters.default()
        lines = [
            f"- {c.name}{' (default)' if c.name == default else ''}: {c.description or c.method}"
            + (f" [unusable: {c.error}]" if c.error else "")
            + (f" [for {c.base_model}: not usable now]" if not c.error and not services.adapters.fits(c) else "")
            for c in cards
        ]
        return {"text": "Adapters:\n" + ("\n".join(lines) if lines else "(none)") + "\n- base: the bare base model"}

    def switch_adapter(name: str) -> dict:
        turn = CURRENT_TURN.get()
        target = None if name.strip().lower() in ("base", "none", "base model") else name.strip()
        if target is not None:
            services.adapters.check_compatible(target)
        if turn and turn.conversation_id:
            services.conversations.update(turn.owner, turn.conversation_id, adapter=target or "none")
        return {
            "text": f"This conversation now uses {target or 'the base model'}.",
            "adapter": target or "none",
            "final": True,
        }

    def calculator(expression: str) -> dict:
        return {"text": f"{expression} = {evaluate(expression)}"}

    def current_datetime() -> dict:
        now = dt.datetime.now().astimezone()
        return {"text": now.strftime("%A %d %B %Y, %H:%M %Z")}

    specs = [
        (
            search_knowledge,
            SearchArgs,
            "Search the user's documents and the assistant's notes (usage, VAE, GAN, LoRA, RLHF, retrieval).",
        ),
        (
            generate_images,
            DrawArgs,
            "Draw digits 0-9 or shapes (circle, square, triangle, star) in colours and sizes.",
        ),
        (train_image_model, TrainArgs, "Train a VAE, GAN, diffusion or masked-SSL image model in the background."),
        (inpaint_image, InpaintArgs, "Demo inpainting: hide patches of test images and fill them in."),
        (list_adapters, NoArgs, "List the chat model's LoRA adapters."),
        (switch_adapter, AdapterArgs, "Switch this conversation to another LoRA adapter (or 'base')."),
        (calculator, CalculatorArgs, "Evaluate arithmetic exactly."),
        (current_datetime, NoArgs, "The current date and time."),
    ]
    # Tools that change something (start a job, switch the model's adapter) run only after the user agrees.
    side_effects = {"train_image_model", "switch_adapter"}
    return [
        StructuredTool.from_function(
            func=f,
            name=f.__name__,
            description=d,
            args_schema=schema,
            metadata={"side_effect": f.__name__ in side_effects},
        )
        for f, schema, d in specs
    ]
