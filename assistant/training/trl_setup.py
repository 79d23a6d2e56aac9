"""What trl and datasets compute for caches that a one-shot training job on in-memory data never reads."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator


@contextlib.contextmanager
def no_cache_keys() -> Iterator[None]:
    """While trl builds a trainer on datasets made in memory (`Dataset.from_list`): no content hashes for cache keys.

    `datasets` names the cache file of an in-memory dataset's `map` with a random fingerprint whatever its content
    hash says (`Dataset._get_cache_file_path`), and trl keys its precomputed reference log-probs on a SHA-256 of
    every weight of the model (`hash_module`), which only picks such a file. On the CPU these took 8.7 s (11
    fingerprints of transforms that hold the tokenizer) and 7.4 s (2 GB of fp32 weights) of a 47 s DPO set-up
    (docs/bench_feedback.md). Inside, both are fresh random keys: a cache can never be hit, stale or not."""
    import datasets.arrow_dataset
    import datasets.fingerprint

    modules = [datasets.fingerprint, datasets.arrow_dataset]
    with contextlib.suppress(ImportError):
        import trl.trainer.dpo_trainer
        import trl.trainer.kto_trainer

        modules += [trl.trainer.dpo_trainer, trl.trainer.kto_trainer]
    replacements = {
        "update_fingerprint": lambda fingerprint, transform, transform_args: datasets.fingerprint
        .generate_random_fingerprint(),
        "hash_module": lambda module: uuid.uuid4().hex,
    }
    saved = [(m, name, getattr(m, name)) for m in modules for name in replacements if hasattr(m, name)]
    for module, name, _ in saved:
        setattr(module, name, replacements[name])
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
