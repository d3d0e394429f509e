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
