import numpy as np
import pytest

from galprior.metrics.lens_recovery import (interval_coverage, nearest_turn, posterior_quantiles, recovery_table,
                                           reduced_chi2)


def test_quantiles_of_uniform_grid():
    samples = np.arange(101, dtype=float)[:, None]  # 0..100
    q = posterior_quantiles(samples)
    assert q[:, 0] == pytest.approx([16.0, 50.0, 84.0])


def test_nearest_turn_moves_angles_by_whole_periods_next_to_the_centre():
    # 3.1 rad is 0.0416 rad below pi: next to 0 it is -0.0416; next to pi it stays
    np.testing.assert_allclose(nearest_turn(np.array([3.1, 0.1, -6.2]), 0.0, np.pi),
                               [3.1 - np.pi, 0.1, -6.2 + 2 * np.pi])
    np.testing.assert_allclose(nearest_turn(3.1, np.pi, np.pi), 3.1)
    np.testing.assert_allclose(nearest_turn(np.array([[0.1], [3.0]]), np.array([[3.0], [0.1]]), np.pi),
                               [[0.1 + np.pi], [3.0 - np.pi]])


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


def test_position_angle_uses_circular_statistics():
    """Samples straddling the wrap-around (0.02 and pi - 0.02): the arithmetic mean would be
    pi/2, 1.55 rad from the truth 0; the circular mean is 0 and the truth is covered."""
    rng = np.random.default_rng(0)
    phi = np.mod(rng.normal(0.0, 0.03, 2000), np.pi)
    assert 0.5 < phi.mean() < 2.6  # the naive mean is far off
    samples = phi[None, None, :, None]
    table = recovery_table(np.array([[np.pi - 0.005]]), np.array([[[0.01]]]), samples, ["position_angle"], [0.1])
    row = table.iloc[0]
    assert abs(row["map_error"] - 0.015) < 1e-12  # wrapped: 0.01 - (pi - 0.005) -> 0.015
    assert np.isnan(row["map_rel_error"]) and np.isnan(row["mean_rel_error"])
    assert abs(row["mean_error"]) < 0.01 and row["in68"] and row["in95"]
    assert row["q84"] - row["q16"] == pytest.approx(0.06, abs=0.01)


def test_absolute_errors_where_truth_can_be_zero_and_coverage_counts():
    truth = np.array([[0.0, 1.5], [0.01, 2.0]])  # gamma1 (truth 0 possible), einstein_radius
    map_estimate = np.array([[[0.02, 1.527]], [[0.0, 2.0]]])
    samples = np.broadcast_to(np.linspace(-1, 1, 101)[None, None, :, None] * np.array([0.05, 0.1]) + map_estimate[:, :, None, :],
                              (2, 1, 101, 2))
    table = recovery_table(truth, map_estimate, samples, ["gamma1", "einstein_radius"], [0.1])
    g = table[table["parameter"] == "gamma1"]
    assert g["map_error"].tolist() == pytest.approx([0.02, -0.01])
    assert g["map_rel_error"].isna().all()
    r = table[table["parameter"] == "einstein_radius"]
    assert r["map_rel_error"].tolist() == pytest.approx([0.018, 0.0])
    cov = interval_coverage(table)
    assert cov["n_intervals"].tolist() == [2, 2]
    from galprior.metrics.lens_recovery import recovery_summary

    summary = recovery_summary(table.assign(snr=[10.0] * 4))
    radius = summary[summary["parameter"] == "einstein_radius"].iloc[0]
    assert radius["n_within_2pct_map"] == 2 and radius["median_abs_rel_error_map"] == pytest.approx(0.009)
    assert np.isnan(summary[summary["parameter"] == "gamma1"].iloc[0]["n_within_2pct_map"])


def test_lens_ellipticity_is_the_models_site_and_gets_rows_of_its_own():
    """(e1, e2) = sqrt(1 - q) (cos 2 phi, sin 2 phi), as the model's ellipticity site
    (:func:`galprior.lensing.priors.ellipticity_from_shape`), and a nearly round lens whose
    angle flips by ~pi/2 between samples has a spread-out phi but a tight e."""
    import torch

    from galprior.lensing.priors import ellipticity_from_shape
    from galprior.metrics.lens_recovery import ELLIPTICITY_COLUMNS, IDENTIFIABLE, lens_ellipticity, with_ellipticity

    q = np.array([0.3, 0.7, 0.98, 1.0])
    phi = np.array([0.1, 1.2, 2.9, 0.4])
    expected = ellipticity_from_shape(torch.as_tensor(q), torch.as_tensor(phi)).numpy()
    np.testing.assert_allclose(lens_ellipticity(q, phi), expected, atol=1e-12)
    names = ["einstein_radius", "axis_ratio", "position_angle"]
    rows = with_ellipticity(np.stack([np.ones(4), q, phi], axis=-1), names)
    assert rows.shape == (4, 5)
    np.testing.assert_allclose(rows[:, 3:], expected, atol=1e-12)
    assert set(ELLIPTICITY_COLUMNS) <= set(IDENTIFIABLE) and not {"axis_ratio", "position_angle"} & set(IDENTIFIABLE)
    rng = np.random.default_rng(0)
    round_q = 1 - np.abs(rng.normal(0, 0.002, 500))
    round_phi = rng.uniform(0, np.pi, 500)
    e = lens_ellipticity(round_q, round_phi)
    assert e.std(axis=0).max() < 0.06 and round_phi.std() > 0.8
