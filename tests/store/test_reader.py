"""Stores opened lazily (StoreReader) and written part by part (StoreWriter)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from galprior.store import GalaxySet, MockLensSet, StoreError


def galaxies(n: int, size: int = 4, first: int = 0) -> GalaxySet:
    """``n`` galaxies whose images hold their index (``first``, ``first + 1``, ...)."""
    rng = np.random.default_rng(first)
    index = np.arange(first, first + n)
    props = pd.DataFrame({"ident": index.astype(np.int64), "mag": rng.uniform(20, 25, n),
                          "half_light_radius": rng.uniform(0.1, 1, n), "flux_radius": rng.uniform(0.1, 1, n),
                          "redshift": rng.uniform(0, 3, n)})
    return GalaxySet(images=np.broadcast_to(index[:, None, None], (n, size, size)).astype(np.float32),
                     noiseless=rng.random((n, size, size), dtype=np.float32),
                     psf=np.full((n, 3, 3), 1 / 9, np.float32), noise_variance=np.full(n, 0.01, np.float32),
                     pixel_scale=np.full(n, 0.03, np.float32), properties=props,
                     attrs={"source": "simulated", "product": "chianese", "band": "F814W",
                            "image_unit": "1", "noiseless_is_truth": True})


@pytest.fixture
def store(tmp_path) -> Path:
    """600 galaxies: three chunks of 256, 256 and 88 along the entry axis."""
    return galaxies(600).save(tmp_path / "g.zarr", seed=4)


def _corrupt_chunks(store: Path, name: str) -> None:
    """Replace every chunk file of array ``name`` with bytes no codec can decode."""
    files = [p for p in (store / name / "c").rglob("*") if p.is_file()]
    assert files
    for path in files:
        path.write_bytes(b"not a zstd frame")


def test_open_reads_metadata_only_and_reads_what_is_asked(store):
    reader = GalaxySet.open(store)
    assert len(reader) == 600 and reader.chunk_length == 256 and reader.shape("psf") == (600, 3, 3)
    assert reader.attrs["seed"] == 4 and "complete" not in reader.attrs and "units" not in reader.attrs
    assert [(c.start, c.stop) for c in reader.chunks()] == [(0, 256), (256, 512), (512, 600)]
    assert [(c.start, c.stop) for c in reader.chunks(stop=300)] == [(0, 256), (256, 300)]
    np.testing.assert_array_equal(reader.read("images", slice(250, 260))[:, 0, 0], np.arange(250, 260))
    np.testing.assert_array_equal(reader.read("images", np.array([599, 3, 300]))[:, 0, 0], [599, 3, 300])
    assert reader.read("images", np.array([], np.int64)).shape == (0, 4, 4)
    assert list(reader.properties["ident"][:3]) == [0, 1, 2]
    part = reader.entries(slice(256, 300))
    assert isinstance(part, GalaxySet) and len(part) == 44 and part.properties["ident"].iloc[0] == 256
    full = GalaxySet.load(store)
    np.testing.assert_array_equal(reader.read("noiseless"), full.noiseless)
    with pytest.raises(KeyError, match="has no array 'image'"):
        reader.read("image")


def test_unused_arrays_are_never_touched(store):
    """Chunks of arrays a rule does not use can be unreadable: opening and reading others works."""
    for name in ("noiseless", "parametric", "noise_power"):
        _corrupt_chunks(store, name)
    reader = GalaxySet.open(store)
    arrays = reader.read_arrays(["images", "psf"], slice(0, 300))
    assert arrays["images"].shape == (300, 4, 4) and arrays["psf"].shape == (300, 3, 3)
    assert reader.read("pixel_scale").shape == (600,) and len(reader.properties) == 600
    with pytest.raises(Exception):  # the whole load reads them: the corruption shows
        GalaxySet.load(store)


def test_open_checks_layout_completeness_and_dtypes_from_metadata(store, tmp_path):
    with pytest.raises(StoreError, match="layout 'galaxy_set', expected 'mock_lens_set'"):
        MockLensSet.open(store)
    root = zarr.open_group(str(store), mode="r+")
    del root["pixel_scale"]
    root.create_array("pixel_scale", data=np.full(600, 0.03, np.float64))
    with pytest.raises(StoreError, match=r"g.zarr: galaxy_set: array 'pixel_scale' has dtype float64"):
        GalaxySet.open(store)
    other = galaxies(3).save(tmp_path / "h.zarr")
    zarr.open_group(str(other), mode="r+").attrs["complete"] = False
    with pytest.raises(StoreError, match="incomplete"):
        GalaxySet.open(other)


def test_reads_refuse_non_finite_values_naming_the_entry(tmp_path):
    path = galaxies(300).save(tmp_path / "g.zarr")
    root = zarr.open_group(str(path), mode="r+")
    root["images"][270, 1, 2] = np.nan
    reader = GalaxySet.open(path)
    reader.read("images", slice(0, 256))  # the chunk without it reads
    with pytest.raises(StoreError, match=r"array 'images' holds a non-finite value \(first at index \[270, 1, 2\]\)"):
        reader.read("images", slice(256, 300))
    with pytest.raises(StoreError, match=r"first at index \[270, 1, 2\]"):
        reader.read("images", np.array([5, 270]))


def test_writer_appends_parts_into_the_same_store_save_writes(tmp_path):
    shards = [galaxies(300, first=0), galaxies(250, first=300)]
    whole = GalaxySet.concatenate(shards)
    whole.save(tmp_path / "whole.zarr", seed=2, config={"a": 1})
    readers = [s.save(tmp_path / f"shard{k}.zarr") and GalaxySet.open(tmp_path / f"shard{k}.zarr")
               for k, s in enumerate(shards)]
    with GalaxySet.writer(tmp_path / "parts.zarr", 550, template=readers[0], attrs=dict(shards[0].attrs),
                          seed=2, config={"a": 1}) as out:
        for reader in readers:
            for chunk in reader.chunks():
                out.append(reader.entries(chunk))
    a, b = zarr.open_group(str(tmp_path / "whole.zarr")), zarr.open_group(str(tmp_path / "parts.zarr"))
    for name in ("images", "noiseless", "psf", "noise_variance", "pixel_scale", "noise_power", "parametric"):
        np.testing.assert_array_equal(a[name][...], b[name][...])
        assert a[name].chunks == b[name].chunks and dict(a[name].attrs) == dict(b[name].attrs)
    for column in GalaxySet.TABLE:
        np.testing.assert_array_equal(a["properties"][column][...], b["properties"][column][...])
    assert {k: v for k, v in a.attrs.items() if k != "created"} == {k: v for k, v in b.attrs.items() if k != "created"}


def test_writer_leaves_nothing_when_the_count_is_wrong_or_a_part_does_not_fit(tmp_path):
    path = galaxies(10).save(tmp_path / "g.zarr")
    reader = GalaxySet.open(path)
    with pytest.raises(StoreError, match="9 entries written, 10 declared"):
        with GalaxySet.writer(tmp_path / "out.zarr", 10, template=reader, attrs=reader.attrs) as out:
            out.append(reader.entries(slice(0, 9)))
    with pytest.raises(StoreError, match="more than the 10 declared"):
        with GalaxySet.writer(tmp_path / "out.zarr", 10, template=reader, attrs=reader.attrs) as out:
            out.append(reader.entries(slice(0, 9)))
            out.append(reader.entries(slice(0, 9)))
    with pytest.raises(StoreError, match=r"array 'images' of a part has shape \(2, 6, 6\)"):
        with GalaxySet.writer(tmp_path / "out.zarr", 10, template=reader, attrs=reader.attrs) as out:
            out.append(galaxies(2, size=6))
    with pytest.raises(RuntimeError):
        with GalaxySet.writer(tmp_path / "out.zarr", 10, template=reader, attrs=reader.attrs) as out:
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.zarr"]  # no store, no temporary


def test_an_array_as_attribute_is_read_once_and_kept(store):
    _corrupt_chunks(store, "noiseless")
    reader = GalaxySet.open(store)
    assert reader.images is reader.images and reader.images.shape == (600, 4, 4)
    assert reader.pixel_scale.dtype == np.float32
    with pytest.raises(AttributeError, match="has no attribute 'imgs'"):
        reader.imgs
