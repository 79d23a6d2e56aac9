"""Which chat model serves: the picker's catalogue, checking a choice, and switching models without a restart.

The choices are the packaged models (assistant/llm/packaged.py, each with its state on this machine) and any GGUF
file an admin names by its path on the server. A packaged model that is not installed is installed by the
`install_model` job (assistant/llm/install.py). Switching loads the new engine in a background thread while the
old one keeps answering; only once it has loaded is the choice saved (`model` in the live overrides,
assistant/live_settings.py) and the engine swapped into the services. A reply already decoding holds its own
reference to the old engine and finishes on it (its adapters stay its own: see `EngineAdapters`); the old model is
freed after the last such reply. A load that fails changes nothing and says why. The Settings tab and
`python -m assistant models …` both call this.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.llm.packaged import (
    DEFAULT_ALIAS,
    PACKAGED,
    PackagedModel,
    canonical_model_name,
    install_hint,
    installed_parts,
    is_verified,
    packaged_model,
)

log = logging.getLogger(__name__)
GGUF_MAGIC = b"GGUF"  # the first four bytes of every GGUF file


# --- checking a choice -------------------------------------------------------------------------------------------
def check_gguf_file(text: object) -> Path:
    """The path of a readable GGUF file on this server, or ValueError saying what is wrong with it."""
    if not isinstance(text, str | Path) or not str(text).strip():
        raise ValueError("give the path of a .gguf file on this server")
    path = Path(str(text).strip()).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{str(path)!r} is not an absolute path: give the full path of the .gguf file on the server")
    if not path.exists():
        raise ValueError(f"there is no file at {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the .gguf file inside it")
    if path.suffix.lower() != ".gguf":
        raise ValueError(f"{path.name} is not a .gguf file (llama.cpp serves GGUF models only)")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if magic != GGUF_MAGIC:
        raise ValueError(
            f"{path.name} is not a GGUF model: it does not start with the bytes 'GGUF' (damaged, "
            "still downloading, or another format renamed)"
        )
    return path.resolve()


def check_model(value: object) -> str:
    """A chat model choice as it is stored: a packaged alias that is installed, or the path of a GGUF file."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("choose a chat model: a packaged model or the path of a .gguf file")
    packaged = packaged_model(value)
    if packaged is not None:
        have = installed_parts(packaged)
        if have < len(packaged.parts):
            state = f"{have} of {len(packaged.parts)} parts installed" if have else "not installed"
            raise ValueError(f"{packaged.alias} is {state}; {install_hint(packaged)}")
        return packaged.alias
    spec = value.strip()
    if os.sep in spec or spec.lower().endswith(".gguf") or spec.startswith("~"):
        return str(check_gguf_file(spec))
    raise ValueError(f"unknown model {spec!r}: choose one of {', '.join(PACKAGED)}, or give the path of a .gguf file")


# --- the catalogue -------------------------------------------------------------------------------------------------
def human_size(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


@dataclass
class ModelChoice:
    """One packaged model and its state on this machine."""

    alias: str
    description: str
    size: int
    parts: int
    parts_installed: int
    verified: bool  # assembled and checked against its sha256
    installable: bool  # has a requirement file an install job can run
    default: bool

    @property
    def installed(self) -> bool:
        return self.parts_installed == self.parts

    @property
    def state(self) -> str:
        if self.installed:
            return "installed & verified" if self.verified else "installed (checked on first use)"
        if self.parts_installed:
            return f"not installed ({self.parts_installed} of {self.parts} parts)"
        return "not installed"

    def label(self) -> str:
        default = ", the default" if self.default else ""
        return f"{self.alias} — {self.state}, {human_size(self.size)}{default}"


def describe(model: PackagedModel, models_dir: Path) -> ModelChoice:
    return ModelChoice(
        model.alias,
        model.description,
        model.size,
        len(model.parts),
        installed_parts(model),
        is_verified(model, models_dir / model.folder),
        bool(model.requirements),
        model.alias == DEFAULT_ALIAS,
    )


def catalogue(settings) -> list[ModelChoice]:  # noqa: ANN001 - Settings
    return [describe(model, settings.models_dir) for model in PACKAGED.values()]


def install_lock(alias: str) -> str:
    """The JobRunner lock key of a model's install: a second install of the same model is refused while one runs."""
    return f"install-model:{alias}"


def start_install(services, alias: str, owner: str | None = None) -> str:  # noqa: ANN001 - Services
    """Start the `install_model` job for a packaged model; JobError (e.g. already running) or ValueError."""
    model = packaged_model(alias or "")
    if model is None:
        raise ValueError(f"unknown packaged model {alias!r}; known: {', '.join(PACKAGED)}")
    if not model.requirements and installed_parts(model) < len(model.parts):
        raise ValueError(f"{model.alias} comes with the app's requirements: run `make install`")
    return services.jobs.start("install_model", {"model": model.alias}, lock_key=install_lock(model.alias), owner=owner)


# --- switching the running model ---------------------------------------------------------------------------------
class ModelSwitch:
    """Loads another chat model beside the serving one and swaps it in when it is ready (one switch at a time)."""

    def __init__(self, services) -> None:  # noqa: ANN001 - Services
        self.services = services
        self.settings = services.settings
        self._lock = threading.Lock()  # "model-switch": one load at a time; guards the fields below
        self.loading: str | None = None  # the model being loaded
        self.started: float | None = None  # monotonic time the load began
        self.error = ""  # why the last switch failed (cleared by the next one)
        self.outcome: tuple[int, bool, str] = (0, True, "")  # (number, succeeded, message) of the latest switch
        self._thread: threading.Thread | None = None
        self._status = None  # the StartupStatus the footer shows, when the app runs

    def follow(self, status) -> None:  # noqa: ANN001 - StartupStatus
        """Keep the footer's model line in step with switches."""
        self._status = status

    # --- what serves ------------------------------------------------------------------------------------------
    def serving(self) -> str:
        """The model the engine serving now was loaded for (the setting when nothing is loaded yet)."""
        return self.services.adapters.serving_base()

    def server_model(self) -> str:
        """The model the server was started with (before any override)."""
        from assistant.live_settings import server_value

        return canonical_model_name(str(server_value(self.settings, "model")))

    def note(self) -> str:
        """A line for the footer and the Settings tab: a switch under way or its failure; empty otherwise."""
        with self._lock:
            if self.loading:
                return f"loading {_short(self.loading)}… {time.monotonic() - (self.started or 0):.0f} s"
            return f"⚠️ {self.error}" if self.error else ""

    def hidden_adapters(self) -> str:
        """How many adapters the lists leave out because they were trained for another base model."""
        hidden = self.services.adapters.other_base_names()
        if not hidden:
            return ""
        return (
            f"{len(hidden)} adapter(s) hidden: trained for another base model than {_short(self.serving())} "
            f"({', '.join(hidden)}); they come back with their base model"
        )

    # --- switching --------------------------------------------------------------------------------------------
    def use(self, value: str) -> str:
        """Start loading `value` (alias or GGUF path) in the background; ValueError when it cannot be used."""
        if self.settings.resolved_engine() == "remote":
            raise ValueError(
                "this install serves chat from a remote server (ASSISTANT_ENGINE=remote): choose the "
                "model on that server"
            )
        spec = check_model(value)
        return self._start(spec)

    def reset(self) -> str:
        """Go back to the model the server was started with (loaded in the background like any switch)."""
        return self._start(self.server_model())

    def _start(self, spec: str) -> str:
        with self._lock:
            if self.loading:
                raise ValueError(f"{_short(self.loading)} is still loading: wait for it before choosing again")
            if spec == self.serving() and self.services.llm_loaded:
                self._save(spec)  # a switch back before the last one was saved, or a no-op: the setting follows
                return f"{_short(spec)} is already serving"
            self.loading, self.started, self.error = spec, time.monotonic(), ""
            self._thread = threading.Thread(target=self._load, args=(spec,), name="model-switch", daemon=True)
            self._thread.start()
        return f"loading {_short(spec)}… the current model answers until it is ready"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the switch under way has finished; True when it succeeded (or none was under way)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.loading and not self.error

    def _save(self, spec: str) -> None:
        from assistant import live_settings

        if spec == self.server_model():
            live_settings.reset(self.settings, [live_settings.MODEL_FIELD])
        else:
            live_settings.save(self.settings, {live_settings.MODEL_FIELD: spec})

    def _load(self, spec: str) -> None:
        from assistant.llm.select import load_engine
        from assistant.startup import loaded_line

        try:
            # A copy that differs only in the model: the serving settings change when the new model has loaded.
            engine = load_engine(self.settings.model_copy(update={"model": spec}))
            engine.settings = self.settings  # one settings object: live defaults reach the new engine too
            self._save(spec)
            self.services.set_llm(engine, spec)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the old model and is reported
            log.exception("switching the chat model to %s failed", spec)
            message = (
                f"{_short(spec)} could not be loaded ({type(exc).__name__}: {exc}); still serving "
                f"{_short(self.serving())}"
            )
            with self._lock:
                self.loading, self.error = None, message
                self.outcome = (self.outcome[0] + 1, False, message)
            return
        seconds = time.monotonic() - (self.started or time.monotonic())
        if self._status is not None:
            self._status.set(model=loaded_line(engine), model_started=None)
        try:
            self.services.adapters.preload()  # adapters for this base resident now, not on the first turn
        except Exception:  # noqa: BLE001 - adapters load again on first use
            log.exception("preloading adapters after the switch failed")
        hidden = self.hidden_adapters()
        message = f"now serving {_short(spec)} (loaded in {seconds:.0f} s)" + (f"; {hidden}" if hidden else "")
        log.info(message)
        with self._lock:
            self.loading = None
            self.outcome = (self.outcome[0] + 1, True, message)


def _short(spec: str) -> str:
    """A model as people read it: the alias, or a GGUF's file name."""
    return spec if spec in PACKAGED else Path(spec).name or spec
