"""Colour of the deblender (issue 33): metrics against closed forms, the eq. 9 round trip of
band fluxes, the colour head and loss, and a tiny training that keeps a colour difference;
the background-subtracted and HSM ellipticities beside W = 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galprior.data.moments import moment_ellipticity
from galprior.data.normalisation import normalise
from galprior.metrics.deblending import (
    band_fluxes, band_fraction_correlation, band_fraction_correlation_across, band_fractions, colour_error,
    colour_metrics, hsm_ellipticity, subtract_background,
)
from galprior.models.deblender.evaluation import band_fractions as head_fractions
from galprior.models.deblender.network import DeblenderVAE, colour_loss
from galprior.models.deblender.products import input_apertures, physical_images
from galprior.models.deblender.training import StageSettings, pairs, train_stage1, train_stage2

CPU = torch.device("cpu")


def _gaussian(n: int = 45, sigma: float = 2.5, q: float = 1.0) -> np.ndarray:
    y, x = np.mgrid[0:n, 0:n] - (n - 1) / 2
    return np.exp(-0.5 * (x**2 / sigma**2 + y**2 / (q * sigma) ** 2))


def _galaxies(seds: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """``(N, B, H, W)`` images of one profile with band amplitudes ``seds`` ``(N, B)``."""
    return seds[:, :, None, None] * profile[None, None]


def test_colour_error_and_fractions_closed_form():
    profile = _gaussian()
    truth = _galaxies(np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 1.0]]), profile)
    estimate = _galaxies(np.array([[1.0, 4.0, 4.0], [3.0, 3.0, 1.0]]), profile)  # galaxy 0: g twice too bright
    f, t = band_fluxes(estimate), band_fluxes(truth)
    np.testing.assert_allclose(f[:, 1] / f[:, 2], [1.0, 3.0])
    # g - r of galaxy 0 is 2.5 log10(2) mag too blue; galaxy 1 is exact
    np.testing.assert_allclose(colour_error(f, t, 1, 2), [-2.5 * np.log10(2.0), 0.0], atol=1e-12)
    np.testing.assert_allclose(band_fractions(t), [[1 / 7, 2 / 7, 4 / 7], [3 / 7, 3 / 7, 1 / 7]])
    # a brighter copy has the same fractions: r = 1; (1, 2, 4) against (4, 2, 1): centred
    # (-4, -1, 5)/3 and (5, -1, -4)/3, r = -39/42
    assert band_fraction_correlation(3 * t, t) == pytest.approx([1.0, 1.0])
    assert band_fraction_correlation(t[:, ::-1], t)[0] == pytest.approx(-39 / 42)


def test_one_colour_for_every_galaxy_scores_zero_across_galaxies():
    rng = np.random.default_rng(1)
    true_flux = rng.uniform(0.5, 2.0, (200, 4))
    flat = np.tile(true_flux.mean(axis=0), (200, 1))  # the mean colour for everyone
    # per galaxy the mean SED correlates with each SED, across galaxies it carries nothing
    across = band_fraction_correlation_across(flat * rng.uniform(1, 2, (200, 1)), true_flux)
    assert np.all(np.isnan(across))
    np.testing.assert_allclose(band_fraction_correlation_across(true_flux, true_flux), 1.0)
    m = colour_metrics(true_flux * 2.0, true_flux, ["u", "g", "r", "i"], ["u", "g", "r", "i"])
    assert m["colour_gr_abs_median"] == pytest.approx(0.0, abs=1e-12) and m["band_fraction_r_median"] == pytest.approx(1.0)


def test_colour_metrics_use_only_the_bands_the_data_have():
    true_flux = np.array([[0.0, 1.0, 2.0, 3.0, 2.0, 1.0], [0.0, 2.0, 2.0, 1.0, 1.0, 1.0]])
    estimate = true_flux.copy()
    estimate[:, 0] = 5.0  # an empty u channel (DES through an LSST network) filled by the network
    m = colour_metrics(estimate, true_flux, list("ugrizy"), ["g", "r", "i", "z", "Y"])
    assert m["band_fraction_r_median"] == pytest.approx(1.0) and m["colour_ri_abs_median"] == pytest.approx(0.0)
    assert np.isnan(colour_metrics(estimate, np.full_like(true_flux, np.nan), list("ugrizy"), list("ugrizy"))["colour_gr_abs_median"])


def test_band_fluxes_survive_eq9_and_its_inverse():
    """The colour of a bright galaxy saturated by eq. 9 comes back through denormalise."""
    scale = np.array([10.0, 40.0, 30.0])
    raw = _galaxies(np.array([[500.0, 3000.0, 1200.0]]), _gaussian()).astype(np.float32)
    y = normalise(raw, scale, 2.5)
    assert y.max() > 0.999  # the core saturates in every band
    back = physical_images(y, scale, 2.5)
    t = band_fluxes(raw)
    np.testing.assert_allclose(band_fluxes(back), t, rtol=2e-3)
    assert abs(colour_error(band_fluxes(back), t, 1, 2)[0]) < 2e-3


def test_physical_images_take_the_head_colour_and_keep_flux_and_shape():
    profile = _gaussian(q=0.6)
    recon = normalise(_galaxies(np.array([[2.0, 2.0, 2.0]]), profile), np.ones(3), 2.5) + 0.01  # pedestal
    plain = physical_images(recon, np.ones(3), 2.5)
    fractions = np.array([[0.2, 0.3, 0.5]])
    coloured = physical_images(recon, np.ones(3), 2.5, fractions)
    np.testing.assert_allclose(band_fractions(band_fluxes(coloured)), fractions, rtol=1e-10)
    np.testing.assert_allclose(band_fluxes(coloured).sum(), band_fluxes(plain).sum(), rtol=1e-10)
    np.testing.assert_allclose(moment_ellipticity(coloured[0]), moment_ellipticity(plain[0]), atol=1e-10)


def test_colour_loss_closed_form():
    flux = torch.tensor([[1.0, 2.0, 7.0]])
    exact = torch.log(flux / flux.sum())
    assert colour_loss(exact, flux).item() == pytest.approx(0.0, abs=1e-10)
    # the first band's share half its true value: 2.5 log10 2 mag in that band alone
    off = exact.clone()
    off[0, 0] -= np.log(2.0)
    assert colour_loss(off, flux).item() == pytest.approx((2.5 * np.log10(2.0)) ** 2, rel=1e-5)


def test_background_subtraction_and_hsm_undo_the_pedestal_rounding():
    image = _gaussian(sigma=2.0, q=0.5)
    exact = moment_ellipticity(image)
    with_pedestal = image + 0.01
    assert abs(moment_ellipticity(with_pedestal)[0]) < 0.5 * abs(exact[0])  # W = 1 rounds it
    np.testing.assert_allclose(moment_ellipticity(subtract_background(with_pedestal)), exact, atol=1e-6)
    hsm = hsm_ellipticity(np.stack([image, np.zeros_like(image)]))
    np.testing.assert_allclose(hsm[0], exact, atol=2e-3)  # a Gaussian: adaptive = unweighted moments
    assert np.all(np.isnan(hsm[1]))  # an empty image fails


def _two_colour_set(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bright round galaxies, half red and half blue in three bands (saturated by eq. 9)."""
    red = rng.random(n) < 0.5
    seds = np.where(red[:, None], [0.3, 1.0, 2.5], [2.5, 1.0, 0.3]) * rng.uniform(20, 60, (n, 1))
    clean = _galaxies(seds, _gaussian(sigma=2.5)).astype(np.float32)
    noisy = clean + rng.normal(0, 0.05, clean.shape).astype(np.float32)
    return noisy, clean, band_fluxes(clean).astype(np.float32), red


def test_a_tiny_training_keeps_the_colour_difference(tmp_path):
    rng = np.random.default_rng(0)
    noisy, clean, flux, red = _two_colour_set(48, rng)
    scale = np.ones(3)
    x, y = normalise(noisy, scale, 2.5), normalise(clean, scale, 2.5)
    aperture = input_apertures(x, scale, 2.5, 5.0)
    data = pairs(x, y, flux=flux, aperture=aperture)
    settings = StageSettings(epochs=3, batch_size=8, learning_rate=1e-3, patience=10, seed=0)
    vae1, history = train_stage1(data, data, latent_dim=4, beta=1e-3, settings=settings,
                                 checkpoint_dir=tmp_path / "t1", device=CPU, progress=False, colour_weight=10.0, colour_hidden=16)
    assert history[-1]["val_colour"] < 0.05  # mag², summed over the bands
    vae2, _ = train_stage2(vae1, data, data, beta=1e-3, settings=settings,
                           checkpoint_dir=tmp_path / "t2", device=CPU, progress=False, colour_weight=10.0)
    assert not torch.equal(vae2.colour.net[0].weight, vae1.colour.net[0].weight)  # fitted again on the blends
    for p1, p2 in zip(vae1.decoder.parameters(), vae2.decoder.parameters()):
        torch.testing.assert_close(p1, p2)
    for model in (vae1, vae2):
        mu = model.encode(torch.as_tensor(x))[0]
        recon = model.decode(mu).detach().numpy()
        fluxes = band_fluxes(physical_images(recon, scale, 2.5, head_fractions(model, mu.detach().numpy(), aperture, CPU)))
        g_minus_r = -2.5 * np.log10(fluxes[:, 0] / fluxes[:, 2])  # true: +2.0 mag red, -2.0 mag blue
        assert np.median(g_minus_r[red]) - np.median(g_minus_r[~red]) > 2.0
        assert np.median(np.abs(colour_error(fluxes, flux, 0, 2))) < 0.1


def test_without_a_head_the_network_is_the_reports():
    model = DeblenderVAE(bands=3, stamp_pixels=45, latent_dim=4)
    assert model.colour is None and model.band_fractions(torch.zeros(1, 4), torch.ones(1, 3)) is None
    assert model.hyperparameters["colour_hidden"] == 0


def test_the_head_leaves_the_reports_encoder_and_decoder_unchanged(tmp_path):
    rng = np.random.default_rng(2)
    noisy, clean, flux, _ = _two_colour_set(16, rng)
    x, y = normalise(noisy, np.ones(3), 2.5), normalise(clean, np.ones(3), 2.5)
    data = pairs(x, y, flux=flux, aperture=input_apertures(x, np.ones(3), 2.5, 5.0))
    settings = StageSettings(epochs=1, batch_size=8, learning_rate=1e-3, patience=10, seed=0)
    with_head, _ = train_stage1(data, data, latent_dim=4, beta=1e-3, settings=settings, checkpoint_dir=tmp_path / "a",
                                device=CPU, progress=False, colour_weight=10.0, colour_hidden=8)
    without, _ = train_stage1(data, data, latent_dim=4, beta=1e-3, settings=settings, checkpoint_dir=tmp_path / "b",
                              device=CPU, progress=False)
    for part in ("encoder", "decoder"):
        for a, b in zip(getattr(with_head, part).parameters(), getattr(without, part).parameters()):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("pixels,radius", [(45, 5.0), (44, 4.5), (20, 3.0)])
def test_input_apertures_equal_the_aperture_of_the_whole_denormalised_stamp(pixels, radius):
    from galprior.data.normalisation import denormalise
    from galprior.metrics.deblending import aperture_fluxes

    x = np.random.default_rng(0).uniform(0, 0.9, (3, 2, pixels, pixels)).astype(np.float32)
    scale = np.array([2.0, 3.0])
    np.testing.assert_allclose(input_apertures(x, scale, 2.5, radius),
                               aperture_fluxes(denormalise(x, scale, 2.5), radius), rtol=1e-5)
    disc = np.zeros((1, 1, 45, 45))
    disc[..., 22, 22], disc[..., 22, 27], disc[..., 22, 28] = 1.0, 10.0, 100.0  # centre, r = 5 (in), r = 6 (out)
    assert aperture_fluxes(disc, 5.0)[0, 0] == pytest.approx(11.0)
