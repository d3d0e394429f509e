"""Blends of Nguyen 2025: sampling, shard-independent seeding, noise, normalisation (eq. 9)."""

from __future__ import annotations

import dataclasses

import btk
import numpy as np
import pytest

from galprior.config import schema_defaults
from galprior.data.blends import (
    BrightestCentredSampling, add_btk_noise, denormalise, draw_chunk, draw_shard, get_survey,
    mean_band_maxima, merge_shards, normalise, prepare_blend_shard, sky_levels, to_network_bands,
)
from galprior.data.catsim import add_des_y_band, draw_catsim_catalogue, read_catsim_catalogue


def test_normalisation_round_trip_and_closed_form():
    rng = np.random.default_rng(0)
    images = rng.normal(0, 300, size=(5, 6, 9, 9)) + rng.exponential(2000, size=(5, 6, 9, 9))
    scale = mean_band_maxima(np.abs(images))
    y = normalise(images, scale, 2.5)
    assert np.all(np.abs(y) < 1)
    np.testing.assert_allclose(denormalise(y, scale, 2.5), images, rtol=2e-4, atol=1e-2)
    # eq. 9 at x = <max>/β: tanh(asinh(1)) = 1/sqrt(2)
    x = np.broadcast_to((scale / 2.5)[:, None, None], (6, 3, 3))
    np.testing.assert_allclose(normalise(x, scale, 2.5), 1 / np.sqrt(2), rtol=1e-6)


def test_mean_band_maxima_is_per_band_mean_of_maxima():
    images = np.zeros((2, 2, 3, 3))
    images[0, 0, 1, 1], images[1, 0, 0, 0] = 4.0, 2.0
    images[0, 1, 2, 2], images[1, 1, 2, 1] = 1.0, 5.0
    np.testing.assert_allclose(mean_band_maxima(images), [3.0, 3.0])


def test_sampling_function_always_centres_the_brightest(sample_catalogue_path):
    table = read_catsim_catalogue(sample_catalogue_path)
    sampling = BrightestCentredSampling(stamp_size=9.0, max_number=3, min_number=1, max_shift=2.0, seed=3,
                                        max_mag=27.0, mag_name="r_ab", random_rotation=True)
    assert isinstance(sampling, btk.sampling_functions.SamplingFunction)
    counts = set()
    for _ in range(200):
        blend = sampling(table)
        counts.add(len(blend))
        mags = np.asarray(blend["r_ab"])
        assert blend["ra"][0] == 0.0 and blend["dec"][0] == 0.0
        assert mags[0] == mags.min() and np.all(mags <= 27.0)
        assert np.all(np.abs(blend["ra"]) <= 2.0) and np.all(np.abs(blend["dec"]) <= 2.0)
        assert len(set(blend["galtileid"])) == len(blend)
    assert counts == {1, 2, 3}


def _centre_against_neighbour_flux(settings, catalogue):
    """Pairs of galaxies drawn by draw_chunk: r-band flux of the centre galaxy, of its
    neighbour (the blend minus the centre galaxy) and the noise of that difference."""
    pairs = dataclasses.replace(settings, min_galaxies=2, max_galaxies=2, chunk_size=16)
    arrays = draw_chunk(catalogue, "lsst", "train", 0, 5, pairs)
    r = 2  # u g r i z y
    centre = arrays["clean"][:, r].sum(axis=(-2, -1))
    neighbour = arrays["blend"][:, r].sum(axis=(-2, -1)) - centre
    noise = np.sqrt(arrays["blend"].shape[-1] ** 2 * sky_levels(get_survey("lsst"))[r])
    return arrays, centre, neighbour, noise


def test_brightest_galaxy_is_centred_in_the_drawn_images(settings, monkeypatch):
    """In every drawn pair the centred galaxy is the brighter one in the mag band (r): its
    flux is at least its neighbour's (blend minus centre, within 5 sigma of the noise); and
    the check can fail: a sampler that centres the fainter galaxy breaks it."""
    catalogue = draw_catsim_catalogue(2000, 18.0, 26.0, seed=1)
    arrays, centre, neighbour, noise = _centre_against_neighbour_flux(settings, catalogue)
    middle = settings.stamp_pixels // 2
    for clean in arrays["clean"]:
        peak = np.unravel_index(np.argmax(clean[2]), clean[2].shape)
        assert abs(peak[0] - middle) <= 1 and abs(peak[1] - middle) <= 1
    assert np.all(centre >= neighbour - 5 * noise), (centre, neighbour, noise)
    assert np.all(arrays["n_sources"] == 2)

    real_call = BrightestCentredSampling.__call__

    def faintest_centred(self, table):
        blend = real_call(self, table)
        order = np.argsort(-np.asarray(blend[self.mag_name]), kind="stable")  # faintest first
        ra, dec = np.asarray(blend["ra"]), np.asarray(blend["dec"])
        blend = blend[order]
        blend["ra"], blend["dec"] = ra[order] - ra[order][0], dec[order] - dec[order][0]
        return blend

    monkeypatch.setattr(BrightestCentredSampling, "__call__", faintest_centred)
    _, centre, neighbour, noise = _centre_against_neighbour_flux(settings, catalogue)
    assert np.mean(centre >= neighbour - 5 * noise) < 0.5  # the check tells the order apart


def test_data_do_not_depend_on_the_number_of_shards(settings):
    catalogue = draw_catsim_catalogue(500, 18.0, 27.0, seed=2)
    one = draw_shard(catalogue, "lsst", "val", 10, 1, 0, 11, settings, progress=False)
    three = merge_shards([draw_shard(catalogue, "lsst", "val", 10, 3, k, 11, settings, progress=False) for k in range(3)])
    assert len(one["index"]) == 10
    for key in one:
        np.testing.assert_array_equal(one[key], three[key], err_msg=key)
    other_seed = draw_shard(catalogue, "lsst", "val", 10, 1, 0, 12, settings, progress=False)
    assert not np.array_equal(one["blend"], other_seed["blend"])


def test_ellipticity_cut(settings):
    catalogue = draw_catsim_catalogue(500, 18.0, 27.0, seed=2)
    cut = dataclasses.replace(settings, min_ellipticity=0.1)
    arrays = draw_shard(catalogue, "lsst", "train", 12, 1, 0, 3, cut, progress=False)
    assert np.all(np.hypot(*arrays["e_moments"].T) > 0.1)


def test_isolated_noise_matches_btk_noise(settings):
    """Our noisy isolated galaxy and BTK's noisy single-galaxy blend share one noise model."""
    catalogue = draw_catsim_catalogue(500, 18.0, 27.0, seed=4)
    single = dataclasses.replace(settings, min_galaxies=1, max_galaxies=1, chunk_size=6)
    arrays = draw_chunk(catalogue, "lsst", "train", 0, 9, single)
    ours = (arrays["isolated"] - arrays["clean"]).std(axis=(0, 2, 3))
    btks = (arrays["blend"] - arrays["clean"]).std(axis=(0, 2, 3))
    np.testing.assert_allclose(ours, btks, rtol=0.05)
    np.testing.assert_allclose(btks, np.sqrt(sky_levels(get_survey("lsst"))), rtol=0.1)


def test_add_btk_noise_moments():
    rng = np.random.default_rng(0)
    image = np.full((2, 50, 50), 100.0)
    noisy = add_btk_noise(image, np.array([400.0, 0.0]), rng)
    np.testing.assert_allclose(noisy.mean(axis=(1, 2)), [100, 100], atol=2)
    np.testing.assert_allclose(noisy.var(axis=(1, 2)), [500, 100], rtol=0.1)


def test_des_blends_have_five_bands_at_des_pixel_scale(settings):
    catalogue = draw_catsim_catalogue(500, 18.0, 27.0, seed=2)
    arrays = draw_chunk(catalogue, "des", "val", 0, 1, settings)
    assert arrays["blend"].shape == (4, 5, 45, 45)
    assert get_survey("des").pixel_scale.to_value("arcsec") == pytest.approx(0.2637, abs=1e-4)
    six = to_network_bands(arrays["blend"], "des", "zeros")
    assert six.shape == (4, 6, 45, 45) and np.all(six[:, 0] == 0)
    np.testing.assert_array_equal(six[:, 1:], arrays["blend"])
    assert to_network_bands(arrays["blend"], "des", "des_training").shape[1] == 5
    with pytest.raises(ValueError, match="u_band"):
        to_network_bands(arrays["blend"], "des", "interpolate")


def test_real_catalogue_loads_and_draws(sample_catalogue_path, settings):
    table = read_catsim_catalogue(sample_catalogue_path)
    assert len(table) == 100
    des = add_des_y_band(table)
    np.testing.assert_array_equal(des["Y_ab"], table["y_ab"])
    arrays = draw_chunk(table, "lsst", "train", 0, 1, dataclasses.replace(settings, max_mag=27.0))
    assert np.all(np.isfinite(arrays["blend"])) and arrays["clean"].sum() > 0


def test_catalogue_errors(tmp_path, sample_catalogue_path):
    table = read_catsim_catalogue(sample_catalogue_path)
    table.remove_column("a_d")
    bad = tmp_path / "bad.fits"
    table.write(bad)
    with pytest.raises(ValueError, match="a_d"):
        read_catsim_catalogue(bad)
    with pytest.raises(FileNotFoundError, match="nguyen.catalogue.file"):
        read_catsim_catalogue(tmp_path / "absent.fits")


def test_embedded_catalogue_follows_its_distributions():
    table = draw_catsim_catalogue(20000, 18.0, 27.3, seed=0)
    i = np.asarray(table["i_ab"])
    # dN/dm ∝ 10^(0.31 m): counts in the last magnitude are 10^0.31 times those in the one before
    ratio = np.sum((i > 26.3) & (i <= 27.3)) / np.sum((i > 25.3) & (i <= 26.3))
    assert ratio == pytest.approx(10**0.31, rel=0.08)
    assert np.mean(table["fluxnorm_bulge"] == 0) == pytest.approx(0.70, abs=0.02)
    both = (table["fluxnorm_bulge"] > 0) & (table["fluxnorm_disk"] > 0)
    np.testing.assert_array_equal(table["pa_bulge"][both], table["pa_disk"][both])


def test_des_blends_have_the_g_r_i_z_Y_bands():
    """surveycodex 1.2 has no DES Y band: the blends came out with 4 bands (pinned >= 1.3)."""
    cfg = schema_defaults()["nguyen"]
    cfg["catalogue"]["n_galaxies"] = 500
    cfg["blends"].update(sizes={"lsst": {"train": 2, "val": 2}, "des": {"train": 2, "val": 2}}, chunk_size=2, n_shards=1)
    shard = prepare_blend_shard(cfg, "des", "train", 0, 1, progress=False)
    assert shard.attrs["bands"] == ["g", "r", "i", "z", "Y"] and shard.blend.shape[1] == 5
    assert list(get_survey("lsst").available_filters) == ["u", "g", "r", "i", "z", "y"]


def test_a_survey_without_its_bands_is_refused(monkeypatch):
    import btk

    real = btk.survey.get_surveys

    def four_bands(name):
        survey = real(name)
        survey.available_filters = [band for band in survey.available_filters if band != "Y"]
        return survey

    monkeypatch.setattr(btk.survey, "get_surveys", four_bands)
    with pytest.raises(RuntimeError, match=r"surveycodex .* gives des the bands \['g', 'r', 'i', 'z'\].*surveycodex>=1.3"):
        get_survey("des")
