"""Posterior sampling of mocks, evaluation metrics, the OOD experiment, on tiny inputs."""

import numpy as np
import pytest
import torch

from galprior.inference.sde.ood import glyph_source, ood_experiment
from galprior.inference.sde.posterior import SdeSettings, sample_mocks, score_simulator
from galprior.inference.sde.solvers import score_evaluations
from galprior.lensing.operator import LensingOperator
from galprior.lensing.simulator import LensSimulator
from galprior.metrics.sde import (evaluate_sde_runs, expected_coverage, image_moments, magnification_map,
                                  moment_comparison, operator_checks, pixel_coverage,
                                  reduced_chi2)
from galprior.models.score.network import ScoreUNet
from galprior.store import OodSampleSet, SdeEvaluationSet, SdePosteriorSet


def _settings(**overrides):
    values = dict(n_samples=3, probability=0.99, solvers=["euler_maruyama", "heun"],
                  steps={"euler_maruyama": 6, "predictor_corrector": 3, "heun": 3, "imex_euler_maruyama": 3},
                  map_lens_solver="heun", heun={"rho": 7.0, "churn": 0.0}, predictor_corrector={"snr": 0.16},
                  imex_euler_maruyama={"cg_iterations": 8, "cg_tolerance": 1e-3, "noise_correction": 1.0,
                                       "prior_step": "adaptive"},
                  max_batch=4, likelihood={"covariance": "identity"})
    values.update(overrides)
    return SdeSettings(**values)


@pytest.fixture
def model16(tiny_architecture):
    torch.manual_seed(0)
    return ScoreUNet(image_size=16, sigma_min=1e-2, sigma_max=5.0, **tiny_architecture)


def test_posterior_store_of_every_solver(model16, tiny_mocks, tmp_path):
    runs = {}
    requested = {"euler_maruyama": 6, "predictor_corrector": 3, "heun": 3, "imex_euler_maruyama": 3}
    for solver in requested:
        run = sample_mocks(model16, tiny_mocks, _settings(), solver, seed=0)
        assert run.samples.shape == (2, 3, 16, 16) and np.isfinite(run.samples).all()
        # the requested steps, refined where the likelihood step would be unstable
        assert run.attrs["n_steps_requested"] == requested[solver]
        assert run.attrs["n_steps"] >= run.attrs["n_steps_requested"]
        assert run.attrs["score_evaluations"] == score_evaluations(solver, run.attrs["n_steps"])
        # the counted network evaluations are the formula's; an explicit solver's likelihood
        # score is one A and one A^T, the implicit one adds its CG iterations
        assert run.attrs["network_evaluations"] == run.attrs["score_evaluations"]
        if solver == "imex_euler_maruyama":
            assert run.attrs["n_steps"] == 3 and run.attrs["forward_applications"] >= 2 * 3
        else:
            assert (run.attrs["forward_applications"] == run.attrs["adjoint_applications"]
                    == run.attrs["network_evaluations"])
        run.save(tmp_path / f"{solver}.zarr")
        runs[solver] = SdePosteriorSet.load(tmp_path / f"{solver}.zarr")
    evaluation, summary, std_mag, coverage = evaluate_sde_runs(tiny_mocks, runs, n_model_images=2)
    evaluation.save(tmp_path / "evaluation.zarr")
    assert SdeEvaluationSet.load(tmp_path / "evaluation.zarr").chi2_nu.shape == (2, 4, 3)
    assert len(summary) == 8 and set(summary["solver"]) == set(runs)
    assert (summary["mean_shift_vs_euler_maruyama"][summary["solver"] == "euler_maruyama"] == 0).all()
    assert {"chi2_nu_median", "wall_time_s", "n_steps", "n_samples", "system"} <= set(summary.columns)
    assert len(coverage) == 2 * 4 * 2 and set(coverage["width_std"]) == {1.0, 2.0}
    assert {"coverage", "expected", "mc_error", "z", "n_pixels", "lens"} <= set(coverage.columns)


def test_technique2_sets_euler_maruyama_steps(model16, tiny_mocks):
    settings = _settings(steps={"euler_maruyama": None, "predictor_corrector": 3, "heun": 3})
    n = settings.n_steps("euler_maruyama", 16 * 16, 1e-2, 5.0)
    assert n > 10
    with pytest.raises(ValueError, match="unknown solvers"):
        _settings(solvers=["rk45"])


def test_magnification_of_a_negligible_lens_is_one():
    sim = LensSimulator(64, 0.05, psf_sigma=None, pool_factor=2)
    lens = torch.tensor([[1e-6, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float32)
    source = torch.tensor([[1.0, 1.6, 0.0, 0.0]], dtype=torch.float32)
    op = LensingOperator(sim, lens, source, (16, 16))
    mu = magnification_map(op, 0.1, np.array([1.6]))
    np.testing.assert_allclose(mu[0, 2:-2, 2:-2], 1.0, atol=0.02)


def test_moments_of_an_elliptical_gaussian():
    yy, xx = np.mgrid[:64, :64] - 31.5
    sx, sy = 6.0, 3.0
    image = np.exp(-xx**2 / (2 * sx**2) - yy**2 / (2 * sy**2))[None]
    m = image_moments(image).iloc[0]
    assert m["size"] == pytest.approx(np.sqrt(sx**2 + sy**2), rel=1e-3)
    assert m["ellipticity"] == pytest.approx((sx**2 - sy**2) / (sx**2 + sy**2), rel=1e-3)
    assert m["flux"] == pytest.approx(2 * np.pi * sx * sy, rel=1e-3)
    table = moment_comparison(np.repeat(image, 5, 0), np.repeat(image, 5, 0))
    assert (table["ks_statistic"] == 0).all()


def test_reduced_chi2_of_the_truth_is_one_on_average():
    rng = np.random.default_rng(0)
    truth = rng.random((32, 32))
    obs = truth + 0.1 * rng.normal(size=truth.shape)
    assert reduced_chi2(obs, truth[None], 0.1)[0] == pytest.approx(1.0, abs=0.1)


def test_ood_glyph_and_experiment(model16, tiny_mocks, tmp_path):
    glyph = glyph_source("A", 16)
    assert glyph.shape == (16, 16) and glyph.max() == pytest.approx(1.0)
    assert glyph[:, :3].max() < 0.2 and glyph.mean() > 0.05  # a centred character
    result = ood_experiment(model16, tiny_mocks, 0, "A", [0.01, 1.0], _settings(), "heun", 2, seed=0)
    result.save(tmp_path / "ood.zarr")
    loaded = OodSampleSet.load(tmp_path / "ood.zarr")
    assert loaded.samples.shape == (2, 2, 16, 16) and loaded.chi2_nu.shape == (2, 2)


@pytest.mark.parametrize("n", [4, 8, 32])
def test_expected_coverage_is_that_of_exchangeable_gaussian_draws(n):
    # the truth is one more draw of the posterior: simulate it, per pixel, many times
    rng = np.random.default_rng(n)
    draws = rng.normal(size=(200_000, n + 1))
    truth, samples = draws[:, 0], draws[:, 1:]
    inside = np.abs(samples.mean(1) - truth) < samples.std(1, ddof=1)
    assert abs(inside.mean() - expected_coverage(1.0, n)) < 0.005
    inside2 = np.abs(samples.mean(1) - truth) < 2 * samples.std(1, ddof=1)
    assert abs(inside2.mean() - expected_coverage(2.0, n)) < 0.005


def _blob(size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    return np.exp(-(xx**2 + yy**2) / (2 * 6.0**2))


def test_pixel_coverage_of_a_calibrated_and_an_overconfident_posterior():
    rng = np.random.default_rng(5)
    truth_mean, width = _blob(), 0.1
    truth = truth_mean + width * rng.normal(size=truth_mean.shape)
    calibrated = truth_mean + width * rng.normal(size=(8, *truth_mean.shape))
    rows = pixel_coverage(calibrated, truth)
    assert all(abs(r["z"]) < 3 for r in rows)
    assert rows[0]["n_pixels"] == int((truth > 0.05 * truth.max()).sum())
    narrow = truth_mean + width / 3 * rng.normal(size=(8, *truth_mean.shape))
    rows = pixel_coverage(narrow, truth)
    assert all(r["z"] < -5 for r in rows) and rows[0]["coverage"] < 0.35


def test_operator_checks_on_matrices_with_known_products():
    # A = identity: A A^T = 1 exactly
    eye = operator_checks(np.eye(6))
    assert eye["diagonal_max"] == 1 and eye["offdiagonal_nonzero_fraction"] == 0
    assert eye["eigenvalue_max"] == pytest.approx(1)
    # two image pixels share source pixel 0: A A^T has off-diagonal 1s, A^T A = diag(2, 1)
    a = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    checks = operator_checks(a)
    assert checks["n_seen_pixels"] == 3 and checks["eigenvalue_max"] == pytest.approx(2)
    assert checks["offdiagonal_nonzero_fraction"] == pytest.approx(2 / 6)
    assert checks["offdiagonal_mass_fraction"] == pytest.approx(2 / 5)


def test_lensing_operator_matrix_conserves_surface_brightness():
    # app. A: the diagonal of A A^T is at most 1; the dense A reproduces A x
    lens = torch.tensor([[1.0, 2.0, 0.8, 0.3, 0.05, -0.02, 0.02, 0.01]], dtype=torch.float64)
    source = torch.tensor([[1.0, 1.6, 0.0, 0.0]], dtype=torch.float64)
    sim = LensSimulator(32, 0.1, psf_sigma=None, pool_factor=2, dtype=torch.float64)
    op = LensingOperator(sim, lens, source, (8, 8))
    a = op.matrix()[0].numpy()
    x = torch.rand(1, 8, 8, dtype=torch.float64)
    np.testing.assert_allclose(a @ x.reshape(-1).numpy(), op.forward(x).reshape(-1).numpy(), atol=1e-12)
    checks = operator_checks(a)
    assert checks["diagonal_max"] <= 1 + 1e-9 and checks["n_seen_pixels"] > 0


def test_operator_check_table_of_large_sources_has_only_the_largest_eigenvalue(tiny_mocks, monkeypatch):
    # above the dense limit (the paper's 256^2 sources) only lambda_max, by power iteration
    import galprior.lensing.operator as operator
    from galprior.metrics.sde import OPERATOR_CHECK_COLUMNS, operator_check_table

    dense = operator_check_table(tiny_mocks)
    assert list(dense.columns) == ["system", "noise_sigma", *OPERATOR_CHECK_COLUMNS]
    monkeypatch.setattr(operator, "DENSE_SPECTRUM_LIMIT", 4)
    power = operator_check_table(tiny_mocks)
    assert power["diagonal_max"].isna().all() and power["n_seen_pixels"].isna().all()
    np.testing.assert_allclose(power["eigenvalue_max"], dense["eigenvalue_max"], rtol=1e-3)
