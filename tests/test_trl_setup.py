"""No content hashes while trl sets up a trainer on in-memory data: nothing reads them (the caches get random
names), and on the CPU they cost 16 s of a 47 s DPO set-up."""

import datasets
import pytest
import torch
import trl.trainer.dpo_trainer as dpo_trainer

from assistant.training.trl_setup import no_cache_keys


class CountsPickling:
    """A map transform that counts how often `datasets` pickles it to hash it."""

    pickled = 0

    def __call__(self, row: dict) -> dict:
        return {"y": row["x"] * 2}

    def __reduce__(self):  # noqa: ANN204
        CountsPickling.pickled += 1
        return (CountsPickling, ())


class NoStateDict(torch.nn.Linear):
    def state_dict(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise AssertionError("the weights were read to hash them")


def test_maps_and_trl_model_hash_skip_hashing_inside_and_not_outside():
    rows = datasets.Dataset.from_list([{"x": i} for i in range(4)])
    CountsPickling.pickled = 0
    with no_cache_keys():
        inside = rows.map(CountsPickling())
        key = dpo_trainer.hash_module(NoStateDict(2, 2))
    assert CountsPickling.pickled == 0 and inside["y"] == [0, 2, 4, 6]
    assert len(key) == 32  # a fresh key: a cache made under it can never be hit by other weights
    rows.map(CountsPickling())  # outside: datasets hashes the transform again, trl reads the weights again
    assert CountsPickling.pickled > 0
    with pytest.raises(AssertionError, match="hash"):
        dpo_trainer.hash_module(NoStateDict(2, 2))
