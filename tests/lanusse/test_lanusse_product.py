"""The lanusse galaxy product carries the noise power spectrum and the parametric baseline."""

from pathlib import Path

import numpy as np
import pytest

from galprior.data.galaxies import prepare_galaxy_splits
from galprior.store import GalaxySet

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "cosmos_example"
EXAMPLE = "real_galaxy_catalog_26_extension_example.fits"


def test_simulated_lanusse_product(tmp_path):
    splits = prepare_galaxy_splits(
        "simulated", "lanusse", {"train": 4, "val": 1, "test": 1}, seed=5,
        simulated_options={"batch_size": 6}, product_options={"stamp_size": 48, "psf_size": 24})
    train = splits["train"]
    n_pix = 48 * 48
    np.testing.assert_allclose(train.noise_power,
                               n_pix * train.noise_variance[:, None, None]
                               * np.ones((1, 48, 48)), rtol=1e-6)
    assert np.isfinite(train.parametric).all()
    # the parametric twin is the same galaxy without its knots: same flux, other light
    np.testing.assert_allclose(train.parametric.sum((1, 2)), train.noiseless.sum((1, 2)),
                               rtol=0.05)  # light beyond the stamp differs a little
    assert np.abs(train.parametric - train.noiseless).max() > 0
    train.save(tmp_path / "t.zarr")
    back = GalaxySet.load(tmp_path / "t.zarr")
    np.testing.assert_array_equal(back.parametric, train.parametric)
    np.testing.assert_array_equal(back.noise_power, train.noise_power)


@pytest.mark.shared_data
def test_cosmos_lanusse_product_has_correlated_noise_power():
    splits = prepare_galaxy_splits(
        "cosmos", "lanusse", {"train": 2, "val": 1, "test": 1}, seed=0,
        cosmos_options={"directory": str(SHARED), "catalogue_file": EXAMPLE,
                        "mag_column": "MAG", "redshift_column": "ZPHOT", "hlr_column": None,
                        "exclusion_level": "none", "max_galaxies": 4},
        product_options={"stamp_size": 48, "psf_size": 24})
    galaxies = splits["train"]
    power = galaxies.noise_power.astype(np.float64)
    # correlated: not flat; its mean over frequencies is N times the pixel variance
    assert power[0].std() > 0.05 * power[0].mean()
    np.testing.assert_allclose(power.mean((1, 2)) / (48 * 48), galaxies.noise_variance,
                               rtol=1e-3)
    # the example catalogue has no parametric fits: NaN, not zeros
    assert np.isnan(galaxies.parametric).all()
