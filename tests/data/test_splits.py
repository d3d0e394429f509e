"""Seeded, disjoint train/val/test splits."""

import numpy as np
import pytest

from galprior.data.splits import split_indices


def test_sizes_disjoint_and_reproducible():
    sizes = {"train": 50, "val": 20, "test": 10}
    a = split_indices(100, sizes, seed=3)
    b = split_indices(100, sizes, seed=3)
    assert {k: len(v) for k, v in a.items()} == sizes
    allidx = np.concatenate(list(a.values()))
    assert len(np.unique(allidx)) == len(allidx) == 80
    for name in sizes:
        np.testing.assert_array_equal(a[name], b[name])
    c = split_indices(100, sizes, seed=4)
    assert not np.array_equal(a["train"], c["train"])


def test_train_none_takes_the_rest():
    out = split_indices(30, {"train": None, "val": 5, "test": 5}, seed=0)
    assert len(out["train"]) == 20
    assert list(out) == ["train", "val", "test"]
    assert sorted(np.concatenate(list(out.values())).tolist()) == list(range(30))


def test_not_enough_galaxies_names_the_numbers():
    with pytest.raises(ValueError, match="need 12, only 10"):
        split_indices(10, {"train": 8, "val": 2, "test": 2}, seed=0)
    with pytest.raises(ValueError, match="'train'"):
        split_indices(10, {"train": None, "val": 5, "test": 5}, seed=0)
