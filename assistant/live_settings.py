"""Defaults an admin changes while the app runs (Settings tab), kept in `<data_dir>/settings_overrides.json`.

There is still one settings object: `Settings` applies the saved overrides when it is built (so a restart, the
job worker and the CLI see them), and `save` validates a change, writes the file atomically and sets the new
values on the running `Settings`, so the next turn uses them at once. An override beats the TOML file and the
ASSISTANT_* variables (it is the later decision); `reset` removes it and the server's own value returns.

The overrides are global (one set per server) and only an admin changes them. A conversation keeps the options
it was started with; the defaults apply to new conversations and to turns that do not name an option.

The chat model (`model`) is one of them too, with one difference: it is saved only once the new model has loaded
and taken over (assistant/model_choice.py), so a model that fails to load is never what the next start uses.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.prompts import COT_MODES

if TYPE_CHECKING:
    from assistant.config import Settings

log = logging.getLogger(__name__)
FILE_NAME = "settings_overrides.json"


def _number(value: Any, name: str, kind: type) -> float | int:
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError(f"{name} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, not {value!r}") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be a finite number")
    if kind is int:
        if number != int(number):
            raise ValueError(f"{name} must be a whole number, not {value!r}")
        return int(number)
    return number


def _check(settings: Settings, name: str, value: Any) -> Any:
    """The value as stored, or ValueError with a message a person can act on."""
    if name == "model":
        from assistant.model_choice import check_model

        return check_model(value)
    if name == "default_cot_mode":
        if value not in COT_MODES:
            raise ValueError(f"default chain of thought must be one of {', '.join(COT_MODES)}, not {value!r}")
        return value
    if name == "temperature":
        number = _number(value, "temperature", float)
        if not 0.0 <= number <= 2.0:
            raise ValueError(f"temperature must be between 0 and 2 (0 = always the likeliest word), not {number}")
        return number
    if name == "top_p":
        number = _number(value, "top-p", float)
        if not 0.0 < number <= 1.0:
            raise ValueError(f"top-p must be above 0 and at most 1, not {number}")
        return number
    if name == "top_k":
        number = _number(value, "top-k", int)
        if number < 0:
            raise ValueError(f"top-k must be 0 (off) or more, not {number}")
        return number
    if name == "max_new_tokens":
        number = _number(value, "max new tokens", int)
        if not 1 <= number <= settings.max_new_tokens_cap:
            raise ValueError(
                f"max new tokens must be between 1 and {settings.max_new_tokens_cap} (this server's cap), not {number}"
            )
        return number
    if name == "repetition_penalty":
        number = _number(value, "repetition penalty", float)
        if not 1.0 <= number <= 2.0:
            raise ValueError(f"repetition penalty must be between 1 and 2, not {number}")
        return number
    raise ValueError(f"{name!r} cannot be changed while the app runs")


LIVE_FIELDS = ("default_cot_mode", "temperature", "top_p", "top_k", "max_new_tokens", "repetition_penalty")
# The chat model is live too, but it changes only once the new model has loaded (assistant/model_choice.py): the
# Settings tab's defaults form and its Reset leave it alone.
MODEL_FIELD = "model"


def check(settings: Settings, name: str, value: Any) -> Any:
    """Validate one value without saving it: the value as it would be stored, or ValueError with the reason."""
    return _check(settings, name, value)


def path_for(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def read(data_dir: Path) -> dict:
    """The saved overrides; a missing file is none, an unreadable one is logged and ignored (never fatal)."""
    path = path_for(data_dir)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring the settings overrides in %s: %s", path, exc)
        return {}
    return saved if isinstance(saved, dict) else {}


def _valid_saved(settings: Settings) -> dict:
    """The saved overrides that are still valid (a hand-edited file may hold anything)."""
    valid = {}
    for name, value in read(settings.data_dir).items():
        try:
            valid[name] = _check(settings, name, value)
        except ValueError:
            continue
    return valid


def apply_saved(settings: Settings) -> Settings:
    """Set the saved overrides on `settings` (each validated; a bad one is logged and skipped)."""
    for name, value in read(settings.data_dir).items():
        try:
            _set(settings, name, _check(settings, name, value))
        except ValueError as exc:
            log.warning("ignoring the saved setting %s: %s", name, exc)
    return settings


def _set(settings: Settings, name: str, value: Any) -> None:
    settings._server_values.setdefault(name, getattr(settings, name))  # what `reset` brings back
    setattr(settings, name, value)


def _write(data_dir: Path, overrides: dict) -> None:
    """Replace the file atomically: a crash leaves the old file or the new one, never half of one."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=data_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(overrides, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path_for(data_dir))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(settings: Settings, changes: dict) -> dict:
    """Validate every change (all messages at once), then persist them and apply them to `settings`.

    Returns the overrides now saved. Nothing is written or applied when any value is invalid.
    """
    checked, errors = {}, []
    for name, value in changes.items():
        try:
            checked[name] = _check(settings, name, value)
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        raise ValueError("; ".join(errors))
    overrides = {**_valid_saved(settings), **checked}
    _write(settings.data_dir, overrides)
    for name, value in checked.items():
        _set(settings, name, value)
    return overrides


def reset(settings: Settings, names: tuple[str, ...] | list[str] | None = None) -> None:
    """Drop the overrides of `names` (default: all): the values from the TOML file / ASSISTANT_* variables /
    defaults apply again."""
    kept = {} if names is None else {k: v for k, v in _valid_saved(settings).items() if k not in names}
    _write(settings.data_dir, kept)
    for name in [n for n in settings._server_values if names is None or n in names]:
        setattr(settings, name, settings._server_values.pop(name))


def server_value(settings: Settings, name: str) -> Any:
    """What the server was started with (the TOML file / ASSISTANT_* variables / defaults), override or not."""
    return settings._server_values.get(name, getattr(settings, name))


def current(settings: Settings) -> dict:
    """The live values and which of them are overridden (for the Settings tab and the CLI)."""
    saved = _valid_saved(settings)
    return {name: {"value": getattr(settings, name), "overridden": name in saved}
            for name in (*LIVE_FIELDS, MODEL_FIELD)}
