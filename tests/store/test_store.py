"""The Zarr layer: round trips, shape/dtype/finiteness checks, atomic writes."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from galprior.store import GalaxySet, MockLensSet, StoreError


def make_galaxies(n=6, size=8, value=1.0):
    rng = np.random.default_rng(0)
    props = pd.DataFrame({
        "ident": np.arange(n, dtype=np.int64),
        "mag": rng.uniform(20, 25, n),
        "half_light_radius": rng.uniform(0.1, 1, n),
        "flux_radius": rng.uniform(0.1, 1, n),
        "redshift": rng.uniform(0, 3, n),
    })
    return GalaxySet(
        images=np.full((n, size, size), value, np.float32),
        noiseless=np.zeros((n, size, size), np.float32),
        psf=np.full((n, 5, 5), 1 / 25, np.float32),
        noise_variance=np.full(n, 0.01, np.float32),
        pixel_scale=np.full(n, 0.03, np.float32),
        properties=props,
        attrs={"source": "simulated", "product": "chianese", "band": "F814W",
               "image_unit": "max-normalised", "noiseless_is_truth": True},
    )


def test_round_trip_keeps_arrays_table_and_provenance(tmp_path):
    galaxies = make_galaxies()
    galaxies.save(tmp_path / "g.zarr", seed=7, config={"a": 1})
    back = GalaxySet.load(tmp_path / "g.zarr")
    for name in ("images", "noiseless", "psf", "noise_variance", "pixel_scale"):
        np.testing.assert_array_equal(getattr(back, name), getattr(galaxies, name))
    pd.testing.assert_frame_equal(back.properties, galaxies.properties)
    assert back.attrs["seed"] == 7
    assert back.attrs["config_hash"] and back.attrs["galprior_version"]
    root = zarr.open_group(str(tmp_path / "g.zarr"), mode="r")
    assert root.attrs["units"]["pixel_scale"] == "arcsec"
    assert root["images"].attrs["dims"] == ["N", "H", "W"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda g: setattr(g, "images", g.images.astype(np.float64)), "dtype float64"),
        (lambda g: setattr(g, "psf", g.psf[:3]), "dimension N is 3"),
        (lambda g: g.images.__setitem__((1, 2, 3), np.nan), "non-finite"),
        (lambda g: g.attrs.pop("band"), "band"),
        (lambda g: setattr(g, "properties", g.properties.drop(columns="redshift")), "redshift"),
    ],
)
def test_bad_content_is_refused_with_a_message_naming_it(change, message):
    galaxies = make_galaxies()
    change(galaxies)
    with pytest.raises(StoreError, match=message):
        galaxies.check()


def test_failed_write_leaves_the_existing_store_untouched(tmp_path, monkeypatch):
    path = tmp_path / "g.zarr"
    make_galaxies(value=1.0).save(path)

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(zarr.Group, "create_array", explode)
    with pytest.raises(RuntimeError):
        make_galaxies(value=2.0).save(path)
    monkeypatch.undo()
    assert GalaxySet.load(path).images.max() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["g.zarr"]


def test_killed_write_leaves_no_complete_looking_store(tmp_path):
    """A SIGKILL in the middle of a write: the target path holds the old store only."""
    out = tmp_path / "out"
    path = out / "g.zarr"
    make_galaxies(value=1.0).save(path)
    script = textwrap.dedent(f"""
        import os, signal, sys, zarr
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_store import make_galaxies
        original = zarr.Group.create_array
        calls = []
        def create_then_die(self, *a, **k):
            calls.append(1)
            if len(calls) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, *a, **k)
        zarr.Group.create_array = create_then_die
        make_galaxies(value=2.0).save({str(path)!r})
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -9, result.stderr.decode()
    assert GalaxySet.load(path).images.max() == 1.0  # the old store, intact
    leftovers = [p for p in out.iterdir() if p.name != "g.zarr"]
    assert leftovers and all(p.name.startswith(".g.zarr.tmp-") for p in leftovers)
    for partial in leftovers:  # the half-written copy is refused by readers
        with pytest.raises(StoreError, match="incomplete"):
            GalaxySet.load(partial)


def test_load_refuses_a_store_of_another_layout(tmp_path):
    make_galaxies().save(tmp_path / "g.zarr")
    with pytest.raises(StoreError, match="layout 'galaxy_set', expected 'mock_lens_set'"):
        MockLensSet.load(tmp_path / "g.zarr")


def test_subset_selects_rows_of_arrays_and_table():
    galaxies = make_galaxies(n=6)
    sub = galaxies.subset(np.array([4, 1]))
    assert len(sub) == 2
    assert sub.properties["ident"].tolist() == [4, 1]
