"""The Zarr layer: round trips, shape/dtype/finiteness checks, atomic writes."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from galprior.store import LAYOUTS, GalaxySet, MockLensSet, StoreError


def make_galaxies(n=6, size=8, seed=0):
    """A galaxy set of seeded random values (two seeds give two different sets)."""
    rng = np.random.default_rng(seed)
    props = pd.DataFrame({
        "ident": rng.integers(0, 2**40, n, dtype=np.int64),
        "mag": rng.uniform(20, 25, n),
        "half_light_radius": rng.uniform(0.1, 1, n),
        "flux_radius": rng.uniform(0.1, 1, n),
        "redshift": rng.uniform(0, 3, n),
    })
    psf = rng.random((n, 5, 5), dtype=np.float32)
    return GalaxySet(
        images=rng.normal(size=(n, size, size)).astype(np.float32),
        noiseless=rng.normal(size=(n, size, size)).astype(np.float32),
        psf=psf / psf.sum(axis=(1, 2), keepdims=True),
        noise_variance=rng.uniform(1e-3, 1e-2, n).astype(np.float32),
        pixel_scale=rng.uniform(0.02, 0.1, n).astype(np.float32),
        noise_power=rng.random((n, size, size), dtype=np.float32),
        parametric=np.where(rng.random((n, size, size)) < 0.3, np.nan,
                            rng.normal(size=(n, size, size))).astype(np.float32),
        properties=props,
        attrs={"source": "simulated", "product": "chianese", "band": "F814W",
               "image_unit": "max-normalised", "noiseless_is_truth": True},
    )


def assert_same_galaxies(a: GalaxySet, b: GalaxySet) -> None:
    """Every array (NaN where NaN) and the table, bit for bit."""
    for spec in GalaxySet.SPEC:
        np.testing.assert_array_equal(getattr(a, spec.name), getattr(b, spec.name), err_msg=spec.name)
    pd.testing.assert_frame_equal(a.properties, b.properties, check_exact=True)


def test_round_trip_keeps_arrays_table_and_provenance(tmp_path):
    galaxies = make_galaxies()
    galaxies.save(tmp_path / "g.zarr", seed=7, config={"a": 1})
    back = GalaxySet.load(tmp_path / "g.zarr")
    assert_same_galaxies(back, galaxies)
    assert back.attrs["seed"] == 7
    assert back.attrs["config_hash"] and back.attrs["galprior_version"]
    root = zarr.open_group(str(tmp_path / "g.zarr"), mode="r")
    assert root.attrs["units"]["pixel_scale"] == "arcsec"
    assert root["images"].attrs["dims"] == ["N", "H", "W"]


def random_store(cls, seed: int = 0):
    """An instance of layout ``cls`` whose every array and table column holds seeded random
    values of its declared dtype, each dimension symbol its own size, required attributes
    set to distinct values."""
    rng = np.random.default_rng(seed)
    sizes: dict[str, int] = {}
    kwargs = {}
    for spec in cls.SPEC:
        shape = tuple(sizes.setdefault(dim, 2 + len(sizes)) for dim in spec.dims)
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":  # positive: some layouts refuse negative variances or pixels
            kwargs[spec.name] = rng.uniform(0.1, 10.0, shape).astype(dtype)
        elif dtype.kind in "iu":
            kwargs[spec.name] = rng.integers(0, 1000, shape).astype(dtype)
        else:
            kwargs[spec.name] = rng.random(shape) < 0.5
    if cls.TABLE:
        n = sizes[cls.ENTRY_AXIS]
        kwargs["properties"] = pd.DataFrame({
            column: (rng.uniform(0.1, 10.0, n) if np.dtype(dtype).kind == "f"
                     else rng.integers(0, 1000, n)).astype(dtype)
            for column, (dtype, _) in cls.TABLE.items()})
    attrs = {key: f"{key}-{rng.integers(1000)}" for key in cls.REQUIRED_ATTRS}
    if "bands" in attrs:  # a blend set's bands name its band axis
        attrs["bands"] = [f"band{i}" for i in range(sizes["B"])]
    if "names" in attrs:  # a score-galaxy set names each galaxy
        attrs["names"] = [f"galaxy{i}" for i in range(sizes[cls.ENTRY_AXIS])]
    if "source_size" in attrs:  # ... and states their side
        attrs["source_size"] = sizes["M"]
    return cls(**kwargs, attrs=attrs), kwargs, attrs


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_round_trips_random_values(tmp_path, layout):
    cls = LAYOUTS[layout]
    store, values, attrs = random_store(cls, seed=len(layout))
    back = cls.load(store.save(tmp_path / "s.zarr", seed=3))
    for name, value in values.items():
        if name == "properties":
            pd.testing.assert_frame_equal(back.properties, value, check_exact=True)
        else:
            loaded = getattr(back, name)
            assert loaded.dtype == value.dtype and loaded.shape == value.shape, name
            np.testing.assert_array_equal(loaded, value, err_msg=name)
    assert {key: back.attrs[key] for key in attrs} == attrs and back.attrs["seed"] == 3


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
    old = make_galaxies(seed=1)
    old.save(path)

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(zarr.Group, "create_array", explode)
    with pytest.raises(RuntimeError):
        make_galaxies(seed=2).save(path)
    monkeypatch.undo()
    assert_same_galaxies(GalaxySet.load(path), old)
    assert [p.name for p in tmp_path.iterdir()] == ["g.zarr"]


def test_killed_write_leaves_no_complete_looking_store(tmp_path):
    """A SIGKILL in the middle of a write: the target path holds the old store only."""
    out = tmp_path / "out"
    path = out / "g.zarr"
    old = make_galaxies(seed=1)
    old.save(path)
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
        make_galaxies(seed=2).save({str(path)!r})
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -9, result.stderr.decode()
    assert_same_galaxies(GalaxySet.load(path), old)  # the old store, intact
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
    assert sub.properties["ident"].tolist() == galaxies.properties["ident"].iloc[[4, 1]].tolist()
    np.testing.assert_array_equal(sub.images, galaxies.images[[4, 1]])
    np.testing.assert_array_equal(sub.parametric, galaxies.parametric[[4, 1]])
