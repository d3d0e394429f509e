import numpy as np
import pytest

from galprior.metrics.lens_recovery import interval_coverage, posterior_quantiles, recovery_table, reduced_chi2


def test_quantiles_of_uniform_grid():
    samples = np.arange(101, dtype=float)[:, None]  # 0..100
    q = posterior_quantiles(samples)
    assert q[:, 0] == pytest.approx([16.0, 50.0, 84.0])


def test_coverage_hand_computed():
    # 4 systems, 1 level, 1 parameter; samples 0..100 for every system
    samples = np.broadcast_to(np.arange(101, dtype=float)[None, None, :, None], (4, 1, 101, 1))
    truth = np.array([[50.0], [20.0], [10.0], [99.0]])  # in68: T, T, F, F; in95: T, T, T, F
    table = recovery_table(truth, samples.mean(axis=2), samples, ["einstein_radius"], [0.1])
    cov = interval_coverage(table)
    assert cov.loc[0, "coverage68"] == pytest.approx(0.5)
    assert cov.loc[0, "coverage95"] == pytest.approx(0.75)
    assert table["map_rel_error"].iloc[0] == pytest.approx(0.0)
    assert table["map_rel_error"].iloc[1] == pytest.approx(1.5)  # (50 - 20) / 20


def test_reduced_chi2_of_pure_noise_is_one():
    rng = np.random.default_rng(0)
    sigma = 0.3
    noise = rng.normal(0, sigma, (4, 256, 256))
    chi2 = reduced_chi2(noise, np.zeros_like(noise), np.full(4, sigma))
    # chi^2 / n has mean 1 and sd sqrt(2 / n) = 0.0055
    assert np.all(np.abs(chi2 - 1) < 5 * np.sqrt(2 / 256**2))
