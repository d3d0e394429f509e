"""The store layer as a package: torch-free, documented from its declarations, entry axes,
layout versions, and the one atomic-write helper."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from galprior.store import LAYOUTS, MockLensSet, StoreError, atomic_write
from galprior.store.docs import layouts_markdown

ROOT = Path(__file__).resolve().parents[2]


def make_mocks(n_systems=3, n_levels=2):
    rng = np.random.default_rng(0)
    return MockLensSet(
        observations=rng.normal(size=(n_systems, n_levels, 8, 8)).astype(np.float32),
        noiseless=np.zeros((n_systems, 8, 8), np.float32),
        sources=np.zeros((n_systems, 4, 4), np.float32),
        lens_parameters=rng.normal(size=(n_systems, 8)),
        source_parameters=rng.normal(size=(n_systems, 4)),
        noise_sigma=np.array([0.3, 0.1])[:n_levels],
        snr=np.ones((n_systems, n_levels)),
        galaxy_index=np.arange(n_systems, dtype=np.int64),
        attrs={"lens_parameter_names": list("abcdefgh"), "source_parameter_names": list("abcd"),
               "pixel_scale": 0.04, "psf_sigma": 0.05, "parameter_convention": "paper",
               "source_plane_size": 2.0},
    )


def test_store_layer_and_evaluation_import_no_torch():
    code = ("import sys; import galprior.store, galprior.metrics.lens_recovery; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_every_layout_declares_an_entry_axis_used_by_its_arrays():
    for name, cls in LAYOUTS.items():
        assert cls.ENTRY_AXIS, name
        assert cls.entry_arrays(), f"{name}: no array has the entry axis {cls.ENTRY_AXIS} first"


def test_subset_and_concatenate_work_along_the_entry_axis_only():
    mocks = make_mocks()
    part = mocks.subset(np.array([2, 0]))
    assert len(part) == 2 and part.observations.shape == (2, 2, 8, 8)
    np.testing.assert_array_equal(part.noise_sigma, mocks.noise_sigma)  # per level, not per system
    np.testing.assert_array_equal(part.galaxy_index, [2, 0])
    joined = MockLensSet.concatenate([mocks.subset(np.array([0])), mocks.subset(np.array([1, 2]))])
    np.testing.assert_array_equal(joined.observations, mocks.observations)
    np.testing.assert_array_equal(joined.noise_sigma, mocks.noise_sigma)


def test_an_older_layout_version_is_refused_by_name(tmp_path):
    path = make_mocks().save(tmp_path / "m.zarr")
    zarr.open_group(str(path), mode="r+").attrs.update({"layout_version": 0})
    with pytest.raises(StoreError, match="layout version 0 of 'mock_lens_set'"):
        MockLensSet.load(path)


def test_the_documentation_is_generated_from_the_declarations_and_current():
    text = layouts_markdown(LAYOUTS)
    for cls in LAYOUTS.values():
        for spec in cls.SPEC:
            assert f"`{spec.name}`" in text
    on_disk = (ROOT / "docs" / "stores.md").read_text()
    assert on_disk == text, "docs/stores.md is stale: python -m galprior.store > docs/stores.md"


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "weights.pt"
    target.write_text("old")

    def failing(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, failing)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.pt"]
    atomic_write(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new"


def test_atomic_write_replaces_a_directory_whole(tmp_path):
    target = tmp_path / "store.zarr"
    target.mkdir()
    (target / "old").write_text("x")
    atomic_write(target, lambda tmp: (tmp.mkdir(), (tmp / "new").write_text("y")))
    assert [p.name for p in target.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]
