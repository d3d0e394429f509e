"""The one lens + source prior: what the mock generator draws is what the inference scores."""

import numpy as np
import pytest
import torch
from scipy import stats

from galprior.lensing import LENS_PARAMETER_NAMES


def _cdf(distribution, x: np.ndarray) -> np.ndarray:
    """CDF of a torch distribution on a grid, by integrating its density (a closed form
    for every prior here, but written once for all of them)."""
    grid = np.linspace(x.min() - 1e-9, x.max() + 1e-9, 20001)
    density = distribution.log_prob(torch.as_tensor(grid)).exp().numpy()
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    return np.interp(x, grid, cumulative / cumulative[-1])


def test_mock_draws_follow_the_distributions_the_inference_scores(default_prior):
    rng = np.random.default_rng(0)
    draws = default_prior.sample_lens(4000, rng)
    scored = default_prior.lens_distributions()
    for column, name in enumerate(LENS_PARAMETER_NAMES):
        if name not in scored:
            continue  # q and phi: one 2-vector in the model (tests/inference/test_model.py)
        x = draws[:, column]
        log_p = scored[name].log_prob(torch.as_tensor(x))
        assert torch.isfinite(log_p).all(), f"{name}: a mock draw outside the inference's support"
        # one-sample Kolmogorov-Smirnov test of the draws against the scored distribution
        statistic = np.abs(np.sort(_cdf(scored[name], x)) - (np.arange(1, len(x) + 1) - 0.5) / len(x)).max()
        assert statistic < 1.63 / np.sqrt(len(x)), f"{name}: KS distance {statistic:.3f} (p < 0.01)"
    positions = default_prior.sample_source_position(4000, rng)
    for column, name in enumerate(("x_src", "y_src")):
        scale = default_prior.source_distributions()[name].scale.item()
        assert stats.kstest(positions[:, column], "norm", args=(0, scale)).pvalue > 0.01


def test_a_changed_config_changes_both_sides(defaults):
    from galprior.lensing.priors import LensSourcePrior

    prior = LensSourcePrior.from_config({**defaults["priors"], "einstein_radius": [1.0, 5.0, 0.5, 0.6]})
    draws = prior.sample_lens(100, np.random.default_rng(1))[:, 0]
    assert draws.min() >= 0.5 and draws.max() <= 0.6
    scored = prior.lens_distributions()["einstein_radius"]
    # N(1, 5) on [0.5, 0.6] is nearly flat: density ~ 1 / 0.1
    assert scored.log_prob(torch.tensor(0.55)).item() == pytest.approx(np.log(10.0), abs=1e-3)


def test_defaults_are_the_papers_priors(defaults):
    """Chianese et al. 2020 eqs. 14-23: the means and sds of the printed normals."""
    p = defaults["priors"]
    assert p["shear"][:2] == [0.0, 1.0]                 # eq. 18
    assert p["position_angle"] == [0.0, 1.0]            # eq. 19
    assert p["axis_ratio"][:2] == [0.5, 0.5]            # eq. 20
    assert p["einstein_radius"][:2] == [1.5, 0.5]       # eq. 21
    assert p["slope"][:2] == [2.0, 0.5]                 # eq. 22
    assert p["center_sd"] == 0.5                        # eq. 23
    assert p["source_position_sd"] == 0.1               # eq. 14
    assert p["scale"][:2] == [5.0, 1.0]                 # eq. 15
    assert p["intensity"][:2] == [1.0, 0.5]             # eq. 16


def test_truncated_normal_density_is_scipys(default_prior):
    """Each truncated prior scores the closed form of scipy.stats.truncnorm."""
    for name, dist in {**default_prior.lens_distributions(), **default_prior.source_distributions()}.items():
        if not hasattr(dist, "low"):
            continue
        loc, sd = float(dist.loc), float(dist.scale)
        a, b = (dist.low - loc) / sd, (dist.high - loc) / sd
        hi = dist.high if np.isfinite(dist.high) else loc + 5 * sd
        x = np.linspace(dist.low + 1e-6, hi - 1e-6, 7)
        ours = dist.log_prob(torch.as_tensor(x)).numpy()
        np.testing.assert_allclose(ours, stats.truncnorm.logpdf(x, a, b, loc, sd), atol=1e-6, err_msg=name)


def test_position_angle_is_the_wrapped_normal_of_eq19(default_prior):
    """Draws of phi mod pi (mocks) follow the wrapped density the inference scores, which
    is the sum of N(0, 1) over the images phi + k pi (checked by numerical integration)."""
    dist = default_prior.position_angle_distribution()
    x = np.linspace(0.0, np.pi, 2001)
    density = dist.log_prob(torch.as_tensor(x)).exp().numpy()
    assert np.trapezoid(density, x) == pytest.approx(1.0, abs=1e-6)
    by_hand = sum(stats.norm.pdf(x + k * np.pi, 0.0, 1.0) for k in range(-10, 11))
    np.testing.assert_allclose(density, by_hand, rtol=1e-10)
    draws = default_prior.sample_lens(4000, np.random.default_rng(2))[:, 3]
    assert draws.min() >= 0 and draws.max() < np.pi
    statistic = np.abs(np.sort(_cdf(dist, draws)) - (np.arange(1, 4001) - 0.5) / 4000).max()
    assert statistic < 1.63 / np.sqrt(4000)


def test_mock_source_draws_follow_eqs_14_to_16(default_prior):
    draws = default_prior.sample_source(4000, np.random.default_rng(3))
    scored = default_prior.source_distributions()
    for column, name in enumerate(("intensity", "scale", "x_src", "y_src")):
        x = draws[:, column]
        statistic = np.abs(np.sort(_cdf(scored[name], x)) - (np.arange(1, 4001) - 0.5) / 4000).max()
        assert statistic < 1.63 / np.sqrt(4000), name


@pytest.mark.parametrize("key, value", [("axis_ratio", [0.5, 0.5, 0.0, 1.0]), ("slope", [2.0, 0.5, 1.0, 2.8]),
                                        ("axis_ratio", [0.5, 0.5, 0.2, 1.2]), ("scale", [5.0, 1.0, None, None])])
def test_unphysical_truncations_are_refused(defaults, key, value):
    from galprior.lensing.priors import LensSourcePrior

    with pytest.raises(ValueError, match=f"priors.{key}"):
        LensSourcePrior.from_config({**defaults["priors"], key: value})
