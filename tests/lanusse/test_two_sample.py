"""Energy-distance statistics against closed forms and direct implementations."""

import itertools

import numpy as np
import pytest
from scipy.stats import norm

from galprior.metrics import two_sample as ts


def _gaussian_energy_distance(shift: float) -> float:
    """Population energy distance of N(0, 1) and N(shift, 1): X - Y ~ N(-shift, 2)."""
    s = np.sqrt(2.0)
    mean_abs = s * np.sqrt(2 / np.pi) * np.exp(-shift ** 2 / (2 * s ** 2)) + shift * (
        1 - 2 * norm.cdf(-shift / s))
    return float(2 * mean_abs - 2 * s * np.sqrt(2 / np.pi))


def test_paired_distance_is_the_mean_over_pairs_of_different_galaxies():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 2)), rng.normal(0.5, 1.0, size=(9, 2))
    x[2] = np.nan
    y[5, 1] = np.nan

    def mean_pairs(a, b):
        pairs = [(i, j) for i, j in itertools.product(range(9), repeat=2)
                 if i != j and np.isfinite(a[i]).all() and np.isfinite(b[j]).all()]
        return np.mean([np.linalg.norm(a[i] - b[j]) for i, j in pairs])

    expected = 2 * mean_pairs(x, y) - mean_pairs(x, x) - mean_pairs(y, y)
    assert ts.paired_energy_distance(x, y) == pytest.approx(expected, rel=1e-12)


def test_paired_distance_is_unbiased_where_the_v_statistic_is_not():
    rng = np.random.default_rng(1)
    shift, n = 0.5, 40
    paired, v = [], []
    for _ in range(400):
        x, y = rng.normal(size=n), rng.normal(shift, 1.0, size=n)
        paired.append(ts.paired_energy_distance(x, y))
        v.append(ts.energy_distance(x, y))
    truth = _gaussian_energy_distance(shift)
    error = np.std(paired) / np.sqrt(len(paired))
    assert abs(np.mean(paired) - truth) < 3 * error
    assert np.mean(v) - truth > 5 * error  # offset (E|X-X'| + E|Y-Y'|) / n = 0.056, 8.7 errors


def test_permutation_distances_equal_direct_relabellings():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 3)), rng.normal(0.3, 1.0, size=(25, 3))
    fast = ts.permutation_distances(x, y, n_permutations=40, seed=7, batch=16)
    pooled, draw = np.concatenate([x, y]), np.random.default_rng(7)
    direct = []
    for _ in range(40):
        perm = draw.permutation(len(pooled))
        # the same labels: the first sample is the set of the first 30 permuted indices
        labels = np.zeros(len(pooled), bool)
        labels[perm[:30]] = True
        direct.append(ts.energy_distance(pooled[labels], pooled[~labels]))
    np.testing.assert_allclose(fast, direct, rtol=1e-10)
    assert ts.permutation_p_value(0.0, fast) == 1.0
    assert ts.permutation_p_value(np.inf, fast) == pytest.approx(1 / 41)


def test_bootstrap_interval_covers_the_known_distance():
    rng = np.random.default_rng(3)
    truth = _gaussian_energy_distance(0.5)
    covered = 0
    for k in range(60):
        x, y = rng.normal(size=150), rng.normal(0.5, 1.0, size=150)
        _, boot = ts.galaxy_bootstrap(x, [y], n_bootstrap=300, seed=k)
        low, high = ts.percentile_interval(boot[0], 0.9)
        covered += low <= truth <= high
    assert 0.78 <= covered / 60 <= 0.98  # nominal 0.9


def test_paired_difference_interval_covers_and_beats_independent_intervals():
    """D(data, A) - D(data, B) on the same galaxy resamples: covers the closed-form
    difference, and is narrower than the two intervals combined as if independent."""
    rng = np.random.default_rng(4)
    truth = _gaussian_energy_distance(0.6) - _gaussian_energy_distance(0.3)
    covered, paired_width, combined_width = 0, [], []
    for k in range(60):
        data = rng.normal(size=150)
        a, b = rng.normal(0.6, 1.0, size=150), rng.normal(0.3, 1.0, size=150)
        _, boot = ts.galaxy_bootstrap(data, [a, b], n_bootstrap=300, seed=k)
        low, high = ts.percentile_interval(boot[0] - boot[1], 0.9)
        covered += low <= truth <= high
        paired_width.append(high - low)
        combined_width.append(np.hypot(*np.diff(ts.percentile_interval(boot, 0.9), axis=0)[0]))
    assert 0.78 <= covered / 60 <= 0.98
    assert np.mean(paired_width) < 0.9 * np.mean(combined_width)


def test_sample_size_for_power_solves_the_normal_approximation():
    """power(n) = Phi((D + c / n) sqrt(n) / S) = p  <=>  sqrt(n) = (z S + sqrt(z² S² - 4 D c)) / 2D."""
    kwargs = dict(n_observed=500, distance=0.004, distance_std=0.002, statistic=0.009,
                  critical_value=0.02)
    c = 500 * (0.009 - 0.004) - 500 * 0.02
    s, z = np.sqrt(500) * 0.002, norm.ppf(0.8)
    closed = ((z * s + np.sqrt(z ** 2 * s ** 2 - 4 * 0.004 * c)) / (2 * 0.004)) ** 2
    n = ts.sample_size_for_power(0.8, **kwargs)
    assert n == pytest.approx(np.ceil(closed), abs=1)
    assert ts.power(n, **kwargs) >= 0.8 > ts.power(n - 2, **kwargs)
    assert ts.sample_size_for_power(0.8, **{**kwargs, "distance": -0.001}) == np.inf


def test_power_estimate_predicts_the_rejection_rate_of_the_permutation_test():
    """From one large sample: the galaxies for 80 % power at alpha = 0.05; at that size the
    permutation test on fresh samples rejects about 80 % of the time."""
    rng = np.random.default_rng(5)
    shift, alpha, n_pilot = 0.3, 0.05, 1000
    x, y = rng.normal(size=n_pilot), rng.normal(shift, 1.0, size=n_pilot)
    estimate, boot = ts.galaxy_bootstrap(x, [y], n_bootstrap=200, seed=0)
    permuted = ts.permutation_distances(x, y, n_permutations=400, seed=1)
    n = ts.sample_size_for_power(0.8, n_observed=n_pilot, distance=float(estimate[0]),
                                 distance_std=float(np.std(boot[0])),
                                 statistic=ts.energy_distance(x, y),
                                 critical_value=float(np.quantile(permuted, 1 - alpha)))
    assert 50 < n < 600
    n = int(n)
    rejected = 0
    for k in range(80):
        a, b = rng.normal(size=n), rng.normal(shift, 1.0, size=n)
        p = ts.permutation_p_value(ts.energy_distance(a, b),
                                   ts.permutation_distances(a, b, n_permutations=199, seed=k))
        rejected += p < alpha
    assert 0.62 <= rejected / 80 <= 0.95


def test_swap_distances_equal_direct_swaps():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(20, 2)), rng.normal(0.2, 1.0, size=(20, 2))
    y[3] = np.nan  # galaxy 3 has no pair: dropped
    observed, swapped = ts.swap_distances(x, y, n_permutations=30, seed=9, batch=7)
    keep = np.arange(20) != 3
    assert observed == pytest.approx(ts.paired_energy_distance(x[keep], y[keep]), rel=1e-12)
    draw, direct = np.random.default_rng(9), []
    for start in range(0, 30, 7):  # the same coins, drawn batch by batch
        coins = draw.integers(0, 2, (19, min(7, 30 - start)))
        for flip in coins.T.astype(bool):
            a, b = x[keep].copy(), y[keep].copy()
            a[flip], b[flip] = y[keep][flip], x[keep][flip]
            direct.append(ts.paired_energy_distance(a, b))
    np.testing.assert_allclose(swapped, direct, rtol=1e-10, atol=1e-14)


def test_swap_test_holds_its_level_on_dependent_pairs_with_equal_distributions():
    """Pairs (x, y) strongly correlated, equal marginals N(0, 1): rejects about alpha."""
    rng = np.random.default_rng(7)
    rejected = 0
    for k in range(200):
        common = rng.normal(size=80)
        x = 0.9 * common + np.sqrt(0.19) * rng.normal(size=80)
        y = 0.9 * common + np.sqrt(0.19) * rng.normal(size=80)
        observed, swapped = ts.swap_distances(x, y, n_permutations=99, seed=k)
        rejected += ts.permutation_p_value(observed, swapped) <= 0.05
    assert rejected / 200 <= 0.09


def test_swap_test_sees_a_shift_shared_by_every_pair():
    """Each twin its galaxy shifted by 0.1 sd (plus small noise): the paired test decides,
    the pooled permutation test, blind to the pairing, mostly does not."""
    rng = np.random.default_rng(8)
    paired, pooled = 0, 0
    for k in range(20):
        x = rng.normal(size=300)
        y = x + 0.1 + 0.05 * rng.normal(size=300)
        observed, swapped = ts.swap_distances(x, y, n_permutations=199, seed=k)
        paired += ts.permutation_p_value(observed, swapped) <= 0.01
        pooled += ts.permutation_p_value(
            ts.energy_distance(x, y), ts.permutation_distances(x, y, n_permutations=199,
                                                               seed=k)) <= 0.01
    assert paired >= 18 and pooled <= 6


def test_power_estimate_of_the_paired_test():
    """The same for the swap test (its statistic is the unbiased estimate: no offset)."""
    rng = np.random.default_rng(9)
    alpha, n_pilot = 0.05, 800

    def pairs(n):
        x = rng.normal(size=n)
        return x, 0.6 * x + 0.8 * rng.normal(size=n) + 0.12  # corr. 0.6, shift 0.12

    x, y = pairs(n_pilot)
    observed, swapped = ts.swap_distances(x, y, n_permutations=400, seed=0)
    _, boot = ts.galaxy_bootstrap(x, [y], n_bootstrap=200, seed=1)
    n = ts.sample_size_for_power(0.8, n_observed=n_pilot, distance=observed,
                                 distance_std=float(np.std(boot[0])), statistic=observed,
                                 critical_value=float(np.quantile(swapped, 1 - alpha)))
    assert 50 < n < 1500
    rejected = 0
    for k in range(80):
        a, b = pairs(int(n))
        observed, swapped = ts.swap_distances(a, b, n_permutations=199, seed=k)
        rejected += ts.permutation_p_value(observed, swapped) < alpha
    assert 0.62 <= rejected / 80 <= 0.95
