"""AdapterRegistry: list, validate, load, switch and delete LoRA adapters without reloading the base model.

Each adapter is `adapters/<name>/` holding peft files plus `card.json`. Adapters stay resident once loaded:
switching is peft's `set_adapter` (milliseconds); "base model" disables the adapter layers, which gives the
base model's logits exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from assistant.config import Settings
from assistant.db import Promotion, get_database
from assistant.storage import InvalidName, atomic_write_json, check_name, clean_stale_temps

BASE = "base model"  # how the UI names "no adapter"


class AdapterError(ValueError):
    """Unknown, corrupt or incompatible adapter: the message says which and why."""


@dataclass
class AdapterCard:
    name: str
    base_model: str = ""
    method: str = "lora-sft"
    description: str = ""
    data: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    target_modules: list[str] = field(default_factory=list)
    error: str = ""  # set when the folder is unusable (shown in listings instead of hiding it)

    def to_dict(self) -> dict:
        return asdict(self)


def write_card(folder: Path, card: AdapterCard) -> None:
    card.created = card.created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    atomic_write_json(folder / "card.json", {k: v for k, v in card.to_dict().items() if k != "error"})


def save_adapter(model, folder: Path, card: AdapterCard) -> None:  # noqa: ANN001 - a PeftModel
    """Write the peft files and our card into `folder` (a temp folder of `atomic_dir`).

    The folder is portable: peft records the base model's local path (a cache folder of this machine) and writes a
    boilerplate README; the card is our model card, so the config names the base model as the settings do.
    """
    model.save_pretrained(str(folder))
    # A model loaded from an adapter saves under its adapter name; flatten so the folder is one adapter.
    nested = folder / "default"
    if nested.is_dir():
        for item in nested.iterdir():
            item.rename(folder / item.name)
        nested.rmdir()
    (folder / "README.md").unlink(missing_ok=True)
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = card.base_model
    atomic_write_json(config_path, config)
    write_card(folder, card)
    # The llama.cpp engine serves adapters as GGUF LoRAs: export now, inside the same atomic folder.
    from assistant.llm.gguf_lora import SUPPORTED_ARCHS, export_gguf_lora

    arch = getattr(getattr(model, "config", None), "model_type", "")
    if arch in SUPPORTED_ARCHS:
        export_gguf_lora(folder, arch)


class AdapterRegistry:
    """The one place that knows which adapters exist and which one is active in the model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.adapters_dir
        self.engine = None  # the engine serving now (the latest attached)
        self._serving: EngineAdapters | None = None
        self._lock = threading.RLock()  # "adapter-registry": guards what is resident and the peft wrapping

    # --- discovery ------------------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        try:
            check_name(name, "adapter name")
        except InvalidName as exc:
            raise AdapterError(str(exc)) from exc
        return self.root / name

    def list(self) -> list[AdapterCard]:
        clean_stale_temps(self.root)
        if not self.root.exists():
            return []
        cards = []
        for child in sorted(self.root.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                try:
                    cards.append(self.get(child.name))
                except AdapterError as exc:
                    cards.append(AdapterCard(name=child.name, error=str(exc)))
        return cards

    def names(self) -> list[str]:
        """Every usable adapter folder, whatever base model it was trained for (for managing them)."""
        return [c.name for c in self.list() if not c.error]

    def serving_base(self) -> str:
        """The base model adapters must fit: the one the serving engine was loaded with (else the setting)."""
        from assistant.llm.packaged import canonical_model_name

        return self._serving.base if self._serving is not None else canonical_model_name(self.settings.model)

    def fits(self, card: AdapterCard, base: str | None = None) -> bool:
        """Made for `base` (default: the serving base model); a card that names no base model fits any."""
        from assistant.llm.packaged import canonical_model_name

        return not card.base_model or canonical_model_name(card.base_model) == (base or self.serving_base())

    def fitting_names(self) -> list[str]:
        """The adapters the serving model can use: those trained for another base model are not offered."""
        return [c.name for c in self.list() if not c.error and self.fits(c)]

    def other_base_names(self) -> list[str]:
        """Adapters left out of the lists because they were trained for another base model."""
        return [c.name for c in self.list() if not c.error and not self.fits(c)]

    def answer_names(self) -> list[str]:
        """Adapters that write answers for the serving model: all that fit it but those reserved for the tool
        decisions (ASSISTANT_TOOLS_ADAPTER, ASSISTANT_CLIENT_TOOLS_ADAPTER)."""
        reserved = {self.settings.tools_adapter, self.settings.client_tools_adapter}
        return [n for n in self.fitting_names() if n not in reserved]

    def get(self, name: str) -> AdapterCard:
        """The adapter's card, after checking the folder is complete and made for this base model."""
        folder = self.folder(name)
        if not folder.is_dir():
            known = ", ".join(c.name for c in self.list() if not c.error) if self.root.exists() else ""
            raise AdapterError(f"unknown adapter {name!r}" + (f"; available: {known}" if known else ""))
        config_path = folder / "adapter_config.json"
        weights = [p for p in ("adapter_model.safetensors", "adapter_model.bin") if (folder / p).exists()]
        if not config_path.exists() or not weights:
            raise AdapterError(f"adapter {name!r} is corrupt: adapter_config.json or adapter weights missing")
        if weights[0].endswith(".safetensors"):
            try:
                from safetensors import safe_open

                with safe_open(str(folder / weights[0]), framework="numpy") as handle:
                    handle.keys()
            except Exception as exc:  # noqa: BLE001 - any unreadable header is a corrupt adapter
                raise AdapterError(f"adapter {name!r} is corrupt: unreadable weights ({exc})") from exc
        try:
            config = json.loads(config_path.read_text())
            raw = json.loads((folder / "card.json").read_text()) if (folder / "card.json").exists() else {}
        except json.JSONDecodeError as exc:
            raise AdapterError(f"adapter {name!r} is corrupt: {exc}") from exc
        known_fields = AdapterCard.__dataclass_fields__
        card = AdapterCard(**{**{k: v for k, v in raw.items() if k in known_fields}, "name": name})
        card.name = name
        targets = config.get("target_modules") or []
        card.target_modules = sorted(targets) if isinstance(targets, list) else [str(targets)]
        return card

    def check_compatible(self, name: str, serving: EngineAdapters | None = None) -> AdapterCard:
        """The card, or AdapterError when the adapter cannot run on `serving` (default: the engine serving now)."""
        card = self.get(name)
        serving = serving or self._serving
        base = serving.base if serving is not None else self.serving_base()
        if not self.fits(card, base):
            raise AdapterError(
                f"adapter {name!r} was trained for base model {card.base_model!r}, but the loaded base model is "
                f"{base!r}"
            )
        engine = serving.engine if serving is not None else None
        if engine is not None and engine.loaded.quant == "int8":
            extra = set(card.target_modules) - set(self.settings.lora_targets)
            if extra:
                raise AdapterError(
                    f"adapter {name!r} targets {sorted(extra)}, which are int8-quantized in this model; only "
                    f"{self.settings.lora_targets} can take adapters with ASSISTANT_QUANT=int8"
                )
        return card

    # --- the model ------------------------------------------------------------------------------
    def attach(self, engine, base: str | None = None) -> None:  # noqa: ANN001 - LLMEngine (avoids an import cycle)
        """Serve adapters on `engine` from now on; `base` is the model it was loaded for (default: the setting).

        Each engine gets its own record of resident adapters (`engine.adapters`): after a model switch, a reply
        still decoding on the old engine activates adapters on that engine, never on the new one.
        """
        from assistant.llm.packaged import canonical_model_name

        with self._lock:
            self._serving = EngineAdapters(self, engine, canonical_model_name(base or self.settings.model))
            self.engine = engine
            engine.adapters = self._serving

    def activate(self, name: str | None) -> None:
        """Make `name` the active adapter of the serving engine (None = the base model); called under MODEL_LOCK."""
        self._serving.activate(name)

    def preload(self, limit: int = 8) -> tuple[list[str], list[str]]:
        """Make adapters resident before anyone asks: a first load costs seconds, a later switch milliseconds.

        Returns (loaded, problems); an adapter that cannot load (corrupt, wrong targets) is skipped and named. Those
        trained for another base model are skipped silently: the lists do not offer them (`other_base_names`).
        """
        from assistant.llm.base import MODEL_LOCK

        loaded, problems = [], []
        for card in [c for c in self.list() if c.error or self.fits(c)][:limit]:
            name = card.name
            if card.error:
                problems.append(f"{name}: {card.error}")
                continue
            with MODEL_LOCK:  # held per adapter (never across a yield), so a waiting chat turn gets in between
                previous = self.active
                try:
                    self.activate(name)
                    loaded.append(name)
                except (AdapterError, OSError, ValueError, RuntimeError) as exc:
                    problems.append(f"{name}: {exc}")
                finally:
                    self.activate(previous)
        return loaded, problems

    def unload(self, name: str) -> None:
        if self._serving is not None:
            self._serving.unload(name)

    @property
    def active(self) -> str | None:
        return self._serving.active if self._serving is not None else None

    # --- files ----------------------------------------------------------------------------------
    def delete(self, name: str) -> None:
        folder = self.folder(name)
        if not folder.is_dir():
            raise AdapterError(f"unknown adapter {name!r}")
        if self.engine is not None:
            from assistant.llm.base import MODEL_LOCK

            with MODEL_LOCK:
                self.unload(name)
        trash = self.root / f".old-{name}-{uuid.uuid4().hex[:6]}"
        folder.rename(trash)  # atomic: the adapter disappears from listings at once
        shutil.rmtree(trash, ignore_errors=True)
        if self.default() == name:
            self.record_promotion(None, action="rollback", evaluation={"reason": f"{name} deleted"})

    # --- promotion (the default adapter) ---------------------------------------------------------
    def default(self) -> str | None:
        """The promoted adapter new conversations use (None = base model)."""
        db = get_database(self.settings)
        with db.session() as s:
            row = s.scalars(select(Promotion).order_by(Promotion.id.desc())).first()
            return row.adapter if row else None

    def serving_default(self) -> str | None:
        """The promoted adapter when it fits the serving model; None (the base model) when it was trained for
        another one: the promotion stays, and applies again when its base model is back."""
        name = self.default()
        if name is None:
            return None
        try:
            return name if self.fits(self.get(name)) else None
        except AdapterError:
            return None

    def record_promotion(self, name: str | None, action: str = "promote", evaluation: dict | None = None) -> None:
        if name is not None:
            self.get(name)
        db = get_database(self.settings)
        with db.session() as s:
            previous = s.scalars(select(Promotion).order_by(Promotion.id.desc())).first()
            s.add(
                Promotion(
                    action=action,
                    adapter=name,
                    previous=previous.adapter if previous else None,
                    evaluation=evaluation or {},
                )
            )

    def rollback(self) -> str | None:
        """Go back to the adapter that was default before the last promotion; returns the new default."""
        db = get_database(self.settings)
        with db.session() as s:
            rows = list(s.scalars(select(Promotion).order_by(Promotion.id.desc())).all())
        previous = rows[0].previous if rows else None
        if previous is not None and not (self.root / previous).is_dir():
            previous = None
        self.record_promotion(previous, action="rollback")
        return previous

    def history(self) -> list[dict]:
        db = get_database(self.settings)
        with db.session() as s:
            rows = s.scalars(select(Promotion).order_by(Promotion.id.desc()).limit(50)).all()
            return [
                {
                    "at": str(r.created_at),
                    "action": r.action,
                    "adapter": r.adapter or BASE,
                    "previous": r.previous or BASE,
                    "evaluation": r.evaluation,
                }
                for r in rows
            ]


class EngineAdapters:
    """The adapters resident in one engine, and which is active there (what `engine.adapters` is).

    The registry knows the adapter folders; this knows one loaded model. The engine calls `activate` from the thread
    that runs it, under MODEL_LOCK.
    """

    def __init__(self, registry: AdapterRegistry, engine, base: str) -> None:  # noqa: ANN001 - LLMEngine
        self.registry = registry
        self.engine = engine
        self.base = base  # the canonical model name the engine was loaded for
        self.loaded: set[str] = set()
        self.active: str | None = None

    def check_compatible(self, name: str) -> AdapterCard:
        return self.registry.check_compatible(name, self)

    def activate(self, name: str | None) -> None:
        with self.registry._lock:
            if name in (None, "", "none", BASE):
                self.engine.set_active_adapter(None, any_loaded=bool(self.loaded))
                self.active = None
                return
            if name not in self.loaded:
                self._load(name)
            self.engine.set_active_adapter(name, any_loaded=True)
            self.active = name

    def _load(self, name: str) -> None:
        self.check_compatible(name)
        started = time.perf_counter()
        self.engine.load_adapter(name, str(self.registry.folder(name)))
        self.loaded.add(name)
        self.registry.load_seconds = time.perf_counter() - started

    def unload(self, name: str) -> None:
        with self.registry._lock:
            if name in self.loaded:
                if self.active == name:
                    self.active = None
                self.loaded.discard(name)
                self.engine.unload_adapter(name, sorted(self.loaded))
