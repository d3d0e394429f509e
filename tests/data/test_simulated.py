"""Simulated COSMOS-like galaxies: reproducibility, sizes, fluxes, and the products."""

import galsim
import numpy as np
import pytest

from galprior.data import simulated as sim
from galprior.data.galaxies import prepare_galaxy_splits
from galprior.store import GalaxySet


def test_batches_are_reproducible_from_the_seed():
    a = sim.simulate_batch(5, 0, 3)
    b = sim.simulate_batch(5, 0, 3)
    c = sim.simulate_batch(6, 0, 3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.image, y.image)
        assert x.mag == y.mag
    assert a[0].mag != c[0].mag


def test_half_light_radius_matches_galsim_measurement():
    params = sim.sample_parameters(np.random.default_rng(0), 6)
    for p in params:
        # unsheared, no PSF, photon-shot by GalSim (handles the point-like knots)
        profile = sim.galaxy_profile(p, sheared=False)
        scale = p.half_light_radius / 20
        image = profile.drawImage(nx=200, ny=200, scale=scale, method="phot",
                                  n_photons=400_000, rng=galsim.BaseDeviate(p.knot_seed))
        measured = image.calculateHLR(flux=profile.flux)
        assert measured == pytest.approx(p.half_light_radius, rel=0.10)


def test_fast_renderer_matches_galsim_draw_image():
    psf = sim.hst_psf()
    for p in sim.sample_parameters(np.random.default_rng(1), 3):
        size = sim.native_stamp_size(p.half_light_radius)
        fast = sim.render_noiseless(p, psf, size)
        reference = galsim.Convolve(sim.galaxy_profile(p), psf).drawImage(
            nx=size, ny=size, scale=sim.PIXEL_SCALE, method="no_pixel").array
        assert np.max(np.abs(fast - reference)) < 2e-3 * reference.max()


def test_magnitude_recovered_from_flux_and_noise_level():
    rng = np.random.default_rng(2)
    psf = sim.hst_psf()
    psf_image = np.ones((3, 3)) / 9
    for p in sim.sample_parameters(np.random.default_rng(3), 5):
        p = sim.GalaxyParameters(p.mag, min(p.half_light_radius, 0.4), p.bulge_fraction,
                                 p.g1, p.g2, p.redshift, p.knot_seed)
        stamp = sim.draw_stamp(p, psf, psf_image, rng, 0, stamp_size=200)
        assert sim.mag_from_flux(stamp.noiseless.sum()) == pytest.approx(p.mag, abs=0.03)
        assert np.var(stamp.image - stamp.noiseless) == pytest.approx(sim.NOISE_VARIANCE,
                                                                      rel=0.05)


def test_distributions_resemble_cosmos():
    params = sim.sample_parameters(np.random.default_rng(4), 4000)
    mag = np.array([p.mag for p in params])
    hlr = np.array([p.half_light_radius for p in params])
    z = np.array([p.redshift for p in params])
    assert 20 <= mag.min() and mag.max() <= 25.2
    assert np.mean(mag > 24) > np.mean(mag < 21)  # counts rise towards the faint end
    assert 0.25 < np.median(hlr[mag > 24.5]) < 0.4
    assert 0.6 < np.median(z) < 1.0


def check_set(galaxy_set: GalaxySet, size: int, psf_size: int) -> None:
    assert galaxy_set.images.shape[1:] == (size, size)
    assert galaxy_set.psf.shape[1:] == (psf_size, psf_size)
    assert galaxy_set.images.dtype == np.float32
    np.testing.assert_allclose(galaxy_set.psf.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(galaxy_set.images))


def test_chianese_and_lanusse_products(tmp_path):
    sizes = {"train": 4, "val": 2, "test": 2}
    sets = prepare_galaxy_splits("simulated", "chianese", sizes, seed=1,
                                 simulated_options={"batch_size": 40})
    assert {k: len(v) for k, v in sets.items()} == sizes
    train = sets["train"]
    check_set(train, 64, 32)
    np.testing.assert_allclose(train.images.max(axis=(1, 2)), 1.0, rtol=1e-6)
    assert train.attrs["noiseless_is_truth"] is True
    residual = (train.images - train.noiseless).reshape(len(train), -1)
    assert np.median(residual.var(axis=1) / train.noise_variance) == pytest.approx(1, abs=0.3)
    ident = set(train.properties.ident) | set(sets["val"].properties.ident)
    assert len(ident) == 6
    again = prepare_galaxy_splits("simulated", "chianese", sizes, seed=1,
                                  simulated_options={"batch_size": 40})
    np.testing.assert_array_equal(again["test"].images, sets["test"].images)
    loaded = GalaxySet.load(train.save(tmp_path / "train.zarr", seed=1))
    np.testing.assert_array_equal(loaded.images, train.images)

    lanusse = prepare_galaxy_splits("simulated", "lanusse", {"train": 2, "val": 1, "test": 1},
                                    seed=2, simulated_options={"batch_size": 4},
                                    product_options={"stamp_size": 64, "psf_size": 32})
    check_set(lanusse["train"], 64, 32)
    np.testing.assert_allclose(lanusse["train"].pixel_scale, 0.03)
    np.testing.assert_allclose(lanusse["train"].noise_variance, sim.NOISE_VARIANCE, rtol=1e-6)


def test_safety_limit_and_bad_options():
    with pytest.raises(RuntimeError, match="max_galaxies"):
        prepare_galaxy_splits("simulated", "chianese", {"train": 100, "val": 1, "test": 1},
                              seed=0, simulated_options={"batch_size": 10,
                                                         "max_galaxies": 10})
    with pytest.raises(ValueError, match="unknown product option"):
        prepare_galaxy_splits("simulated", "chianese", {"train": 1}, seed=0,
                              product_options={"snr_mni": 3})
    with pytest.raises(ValueError, match="give every split a size"):
        prepare_galaxy_splits("simulated", "chianese", {"train": None, "val": 1}, seed=0)
    with pytest.raises(ValueError, match="unknown galaxy source"):
        prepare_galaxy_splits("btk", "chianese", {"train": 1}, seed=0)
