"""Moment ellipticities (eqs. 12-13) against closed forms and GalSim's HSM; SSIM and cosine."""

from __future__ import annotations

import galsim
import numpy as np
import pytest

from galprior.data.moments import moment_ellipticity
from galprior.metrics.deblending import cosine_similarity, distortion_to_shear, ellipticity_rmse, ssim


def elliptical_gaussian(n: int, a: float, b: float, theta: float, x0: float = 0.0, y0: float = 0.0) -> np.ndarray:
    y, x = np.mgrid[0:n, 0:n] - (n - 1) / 2
    x, y = x - x0, y - y0
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * x + s * y, -s * x + c * y
    return np.exp(-0.5 * (u**2 / a**2 + v**2 / b**2))


@pytest.mark.parametrize("a,b,theta", [(4.0, 2.0, 0.0), (3.0, 1.5, 0.4), (5.0, 4.5, -1.1), (2.5, 1.0, np.pi / 4)])
def test_moments_of_analytic_elliptical_gaussians(a, b, theta):
    image = elliptical_gaussian(81, a, b, theta, x0=1.3, y0=-0.7)
    chi = (a**2 - b**2) / (a**2 + b**2)
    expected = [chi * np.cos(2 * theta), chi * np.sin(2 * theta)]
    np.testing.assert_allclose(moment_ellipticity(image), expected, atol=1e-6)


@pytest.mark.parametrize("g1,g2", [(0.2, 0.0), (-0.1, 0.3), (0.05, -0.25)])
def test_moments_agree_with_galsim_hsm(g1, g2):
    profile = galsim.Gaussian(sigma=1.2).shear(g1=g1, g2=g2)
    image = profile.drawImage(nx=63, ny=63, scale=0.2, method="no_pixel")
    hsm = galsim.hsm.FindAdaptiveMom(image)
    ours = moment_ellipticity(image.array)
    np.testing.assert_allclose(ours, [hsm.observed_shape.e1, hsm.observed_shape.e2], atol=2e-3)
    # and the reduced-shear convention of eq. 15 gives back the applied shear
    np.testing.assert_allclose(distortion_to_shear(ours), [g1, g2], atol=2e-3)


def test_moments_are_batched_and_empty_images_are_round():
    images = np.stack([elliptical_gaussian(41, 3, 1, 0.0), np.zeros((41, 41))])
    e = moment_ellipticity(images)
    assert e.shape == (2, 2) and e[0, 0] > 0.7 and np.all(e[1] == 0)


def test_ssim_and_cosine():
    rng = np.random.default_rng(0)
    truth = rng.uniform(size=(3, 2, 45, 45))
    np.testing.assert_allclose(ssim(truth, truth), 1.0)
    assert np.all(ssim(truth + rng.normal(0, 0.3, truth.shape), truth) < 0.9)
    np.testing.assert_allclose(cosine_similarity(2.5 * truth, truth), 1.0)
    a = np.zeros((1, 1, 4, 4)); a[0, 0, 0, 0] = 1
    b = np.zeros((1, 1, 4, 4)); b[0, 0, 1, 1] = 1
    np.testing.assert_allclose(cosine_similarity(a, b), 0.0)
    assert ellipticity_rmse(np.array([[0.1, 0.0]]), np.array([[0.0, 0.0]])) == pytest.approx(0.1 / np.sqrt(2))
