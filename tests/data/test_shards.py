"""Galaxy preparation split into independent shards gives the same galaxies."""

from pathlib import Path

import numpy as np
import pytest

from galprior.data.galaxies import prepare_galaxy_shard, split_galaxy_shards

EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "cosmos_example"
COSMOS = {"directory": str(EXAMPLE),
          "catalogue_file": "real_galaxy_catalog_26_extension_example.fits",
          "mag_column": "MAG", "redshift_column": "ZPHOT", "hlr_column": None,
          "exclusion_level": "none"}


@pytest.mark.shared_data
def test_cosmos_shards_partition_the_catalogue():
    sizes = {"train": None, "val": 5, "test": 5}
    whole = prepare_galaxy_shard("cosmos", "lanusse", sizes, seed=3, cosmos_options=COSMOS)
    parts = [prepare_galaxy_shard("cosmos", "lanusse", sizes, seed=3, shard=k, n_shards=3,
                                  cosmos_options=COSMOS) for k in range(3)]
    idents = [set(p.properties["ident"]) for p in parts]
    assert set.union(*idents) == set(whole.properties["ident"])
    assert sum(map(len, idents)) == len(whole)  # disjoint
    splits = split_galaxy_shards(parts, sizes, seed=3)
    assert [len(splits[k]) for k in ("train", "val", "test")] == [len(whole) - 10, 5, 5]


def test_simulated_shards_are_disjoint_reproducible_and_fill_the_request():
    sizes = {"train": 6, "val": 2, "test": 2}
    options = {"batch_size": 20}
    product = {"min_stamp_size": 0, "snr_min": 0.0, "snr_max": 1e9}
    parts = [prepare_galaxy_shard("simulated", "chianese", sizes, seed=5, shard=k, n_shards=2,
                                  simulated_options=options, product_options=product)
             for k in range(2)]
    again = prepare_galaxy_shard("simulated", "chianese", sizes, seed=5, shard=1, n_shards=2,
                                 simulated_options=options, product_options=product)
    np.testing.assert_array_equal(again.images, parts[1].images)
    assert not set(parts[0].properties["ident"]) & set(parts[1].properties["ident"])
    splits = split_galaxy_shards(parts, sizes, seed=5)
    assert {k: len(v) for k, v in splits.items()} == sizes
    assert splits["val"].attrs["split"] == "val"


def test_shard_number_out_of_range_is_refused():
    with pytest.raises(ValueError, match="shard 2 is not in 0..1"):
        prepare_galaxy_shard("simulated", "chianese", {"train": 1, "val": 1, "test": 1},
                             seed=0, shard=2, n_shards=2)


def _galaxies(n: int, first: int):
    """``n`` synthetic galaxies whose images hold their running number from ``first``."""
    import pandas as pd

    from galprior.store import GalaxySet

    rng = np.random.default_rng(first)
    index = np.arange(first, first + n)
    props = pd.DataFrame({"ident": index, "mag": rng.uniform(20, 25, n), "half_light_radius": rng.uniform(0.1, 1, n),
                          "flux_radius": rng.uniform(0.1, 1, n), "redshift": rng.uniform(0, 3, n)})
    return GalaxySet(images=np.broadcast_to(index[:, None, None], (n, 4, 4)).astype(np.float32),
                     noiseless=rng.random((n, 4, 4), dtype=np.float32), psf=np.full((n, 3, 3), 1 / 9, np.float32),
                     noise_variance=rng.uniform(0.01, 0.02, n).astype(np.float32),
                     pixel_scale=np.full(n, 0.03, np.float32), properties=props,
                     attrs={"source": "simulated", "product": "chianese", "band": "F814W", "image_unit": "1",
                            "noiseless_is_truth": True})


def test_split_shard_by_shard_writes_the_stores_of_the_whole_set_split(tmp_path):
    """Shards of 300, 200 and 150 galaxies (chunks of 256 cross shard ends), the last cut
    by the requested total: the same split stores as joining everything in memory."""
    import zarr

    from galprior.data.galaxies import split_galaxy_stores
    from galprior.store import GalaxySet

    sizes = {"train": 500, "val": 60, "test": 40}
    paths = [_galaxies(n, first).save(tmp_path / f"shard{k}.zarr", seed=1)
             for k, (first, n) in enumerate([(0, 300), (300, 200), (500, 150)])]
    config = {"split_sizes": sizes}
    for name, split in split_galaxy_shards([GalaxySet.load(p) for p in paths], sizes, seed=8).items():
        split.save(tmp_path / f"old_{name}.zarr", seed=8, config=config)
    written = split_galaxy_stores([GalaxySet.open(p) for p in paths], sizes, seed=8,
                                  outputs={name: tmp_path / f"new_{name}.zarr" for name in sizes}, config=config)
    assert written == sizes
    for name in sizes:
        old, new = (zarr.open_group(str(tmp_path / f"{kind}_{name}.zarr"), mode="r") for kind in ("old", "new"))
        assert {k: v for k, v in old.attrs.items() if k != "created"} == \
            {k: v for k, v in new.attrs.items() if k != "created"}
        for array in old.array_keys():
            np.testing.assert_array_equal(old[array][...], new[array][...], err_msg=array)
        for column in GalaxySet.TABLE:
            np.testing.assert_array_equal(old["properties"][column][...], new["properties"][column][...])
    assert GalaxySet.open(tmp_path / "new_test.zarr").read("images")[:, 0, 0].max() < 600  # the cut
