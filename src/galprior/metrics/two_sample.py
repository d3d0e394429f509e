"""Energy-distance comparisons of paired samples: intervals, paired differences, power.

The three samples of Lanusse et al. 2021 sec. 4.4 are paired: test galaxy ``i`` of the
data has a parametric twin ``i`` and a Flow-VAE draw ``i``. The galaxy is therefore the
unit of resampling, and one resample of the galaxies serves every distance, so that the
difference of two distances to the same data has the interval of a paired comparison
(tighter than two independent intervals combined, which count the data's own noise twice).

- :func:`energy_distance`: the V-statistic ``2 E|X - Y| - E|X - X'| - E|Y - Y'|``
  (Székely & Rizzo 2013; means over all pairs, i = j included), the statistic of the
  permutation test. In 1-D it is the square of ``scipy.stats.energy_distance``.
- :func:`paired_energy_distance`: the estimate of the population energy distance that is
  reported: each of the three means over pairs of *different* galaxies (i != j), so
  unbiased, and not lowered by a twin's resemblance to its own galaxy. It can be slightly
  negative when the distributions agree.
- :func:`galaxy_bootstrap`: that estimate for each comparison under one multinomial
  resample of the galaxies per column, as an ``(n_comparisons, n_bootstrap)`` array;
  percentile intervals come from it (:func:`percentile_interval`).
- :func:`permutation_p_value`: ``(1 + #{D_perm >= D}) / (1 + n_permutations)`` for the
  V-statistic under random relabelling of the pooled sample. It ignores the pairing;
  a twin that resembles its own galaxy lowers the observed distance, so the test is
  conservative.
- :func:`power` and :func:`sample_size_for_power`: where the test cannot decide, the
  number of galaxies at which it would reject at level ``alpha`` with a given power, from
  a normal approximation scaled from the observed sample (see :func:`power`).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import brentq
from scipy.spatial.distance import cdist
from scipy.stats import norm


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x[:, None] if x.ndim == 1 else x


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance ``2 E|X-Y| - E|X-X'| - E|Y-Y'|`` between samples ``(n, d)`` and ``(m, d)``.

    V-statistic (means over all pairs, including i = j), Euclidean norm; 0 for
    identical samples, positive otherwise. In 1-D it is the square of
    ``scipy.stats.energy_distance``.
    """
    x, y = _as_2d(x), _as_2d(y)
    return float(2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean())


def _pair_mean(distances: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Weighted mean of ``distances[i, j]`` over pairs i != j, per column of the weights.

    ``distances`` is ``(N, N)`` with the galaxy index on both axes; ``a``, ``b`` are
    ``(N, B)`` non-negative weights (counts of a resample, zero for a missing row).
    """
    off = distances.copy()
    np.fill_diagonal(off, 0.0)
    total = np.einsum("ib,ib->b", a, off @ b)
    pairs = a.sum(0) * b.sum(0) - np.einsum("ib,ib->b", a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, total / pairs, np.nan)


def _finite(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = _as_2d(x)
    ok = np.isfinite(x).all(1)
    return np.where(ok[:, None], x, 0.0), ok.astype(np.float64)


def galaxy_bootstrap(reference: np.ndarray, others: list[np.ndarray], *, n_bootstrap: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Paired energy distances of each of ``others`` to ``reference``, and their bootstrap.

    Args:
        reference: ``(N, d)`` values of the reference sample (NaN rows: missing).
        others: ``(N, d)`` arrays, row ``i`` paired with ``reference[i]``.

    Returns:
        ``estimate``: ``(len(others),)`` :func:`paired_energy_distance` of each; ``boot``:
        ``(len(others), n_bootstrap)``, the same under multinomial resamples of the N
        galaxies, one resample per column shared by every comparison.
    """
    ref, ref_ok = _finite(reference)
    n = len(ref)
    counts = np.random.default_rng(seed).multinomial(
        n, np.full(n, 1.0 / n), size=n_bootstrap).T.astype(np.float64)
    weights = np.concatenate([np.ones((n, 1)), counts], axis=1)
    w_ref = weights * ref_ok[:, None]
    within_ref = _pair_mean(cdist(ref, ref), w_ref, w_ref)
    out = []
    for other in others:
        oth, oth_ok = _finite(other)
        w_oth = weights * oth_ok[:, None]
        out.append(2 * _pair_mean(cdist(ref, oth), w_ref, w_oth) - within_ref
                   - _pair_mean(cdist(oth, oth), w_oth, w_oth))
    out = np.array(out).reshape(len(others), 1 + n_bootstrap)
    return out[:, 0], out[:, 1:]


def paired_energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance of galaxy-paired samples ``(N, d)``, each mean over pairs i != j.

    Unbiased for the population energy distance (independent or paired rows alike);
    NaN rows are dropped from their sample.
    """
    estimate, _ = galaxy_bootstrap(x, [y], n_bootstrap=0, seed=0)
    return float(estimate[0])


def percentile_interval(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``confidence`` percentile interval along the last axis (NaN-safe)."""
    tail = 100 * (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no measurement, NaN
        return np.nanpercentile(boot, tail, axis=-1), np.nanpercentile(boot, 100 - tail, axis=-1)


def bootstrap_std(boot: np.ndarray) -> float:
    """Standard deviation of bootstrap values (NaN-safe; NaN with fewer than two)."""
    boot = boot[np.isfinite(boot)]
    return float(np.std(boot)) if len(boot) > 1 else np.nan


def permutation_distances(x: np.ndarray, y: np.ndarray, *, n_permutations: int,
                          seed: int, batch: int = 250) -> np.ndarray:
    """:func:`energy_distance` of ``n_permutations`` random relabellings of the pooled sample.

    All relabellings share one pooled distance matrix ``K``: with ``a`` the 0/1 labels
    of the first sample, the three pair sums are ``aᵀKa``, ``aᵀK1 - aᵀKa`` and
    ``1ᵀK1 - 2 aᵀK1 + aᵀKa``, one matrix product per batch of relabellings.
    """
    x, y = _as_2d(x), _as_2d(y)
    pooled = np.concatenate([x, y])
    n_x, n_y, m = len(x), len(y), len(x) + len(y)
    distances = cdist(pooled, pooled)
    row = distances.sum(1)
    total = row.sum()
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n_permutations, batch):
        size = min(batch, n_permutations - start)
        labels = np.zeros((m, size))
        for k in range(size):
            labels[rng.permutation(m)[:n_x], k] = 1.0
        xx = np.einsum("ib,ib->b", labels, distances @ labels)
        x_all = labels.T @ row
        xy = x_all - xx
        yy = total - 2 * x_all + xx
        out.append(2 * xy / (n_x * n_y) - xx / n_x ** 2 - yy / n_y ** 2)
    return np.concatenate(out) if out else np.zeros(0)


def swap_distances(x: np.ndarray, y: np.ndarray, *, n_permutations: int, seed: int,
                   batch: int = 250) -> tuple[float, np.ndarray]:
    """The paired test: :func:`paired_energy_distance` of complete pairs, and under random swaps.

    Each of ``n_permutations`` draws swaps ``x[i]`` and ``y[i]`` for a random half of the
    galaxies (a fair coin each). The estimate is a sum over pairs of different galaxies of
    ``h_ij = |x_i - y_j| + |x_j - y_i| - |x_i - x_j| - |y_i - y_j|``, and swapping galaxy
    ``i`` turns ``h_ij`` into ``-h_ij``: the swap distribution is the estimate's null
    distribution exactly when each pair is exchangeable, and asymptotically whenever the
    two samples have the same distribution (the kernel is then degenerate and the signed
    sum has the same weighted chi-square limit). It keeps the pairing, so it sees a
    difference shared by every twin and its galaxy that the pooled permutation test
    (:func:`permutation_distances`) loses in the spread between galaxies.

    Returns:
        the observed estimate and the ``(n_permutations,)`` swapped estimates (rows with a
        NaN in either sample dropped, pairs kept).
    """
    x, y = _as_2d(x), _as_2d(y)
    ok = np.isfinite(x).all(1) & np.isfinite(y).all(1)
    x, y = x[ok], y[ok]
    n = len(x)
    distances = cdist(np.concatenate([x, y]), np.concatenate([x, y]))
    same = np.arange(n)
    for a, b in ((0, n), (n, 0), (0, 0), (n, n)):  # pairs of one galaxy are left out
        distances[same + a, same + b] = 0.0
    row = distances.sum(1)
    total = row.sum()
    pairs = n * (n - 1)
    rng = np.random.default_rng(seed)

    def estimate(swapped: np.ndarray) -> np.ndarray:  # (n, B) 0/1 -> (B,)
        labels = np.concatenate([1 - swapped, swapped])  # 1: counted in the first sample
        xx = np.einsum("ib,ib->b", labels, distances @ labels)
        x_all = labels.T @ row
        return (2 * (x_all - xx) - xx - (total - 2 * x_all + xx)) / pairs

    observed = float(estimate(np.zeros((n, 1)))[0]) if n > 1 else np.nan
    out = [estimate(rng.integers(0, 2, (n, min(batch, n_permutations - start))).astype(np.float64))
           for start in range(0, n_permutations, batch)] if n > 1 else []
    return observed, (np.concatenate(out) if out else np.zeros(0))


def permutation_p_value(observed: float, permuted: np.ndarray) -> float:
    """``(1 + #{D_perm >= D}) / (1 + n_permutations)``."""
    return float((1 + np.sum(permuted >= observed - 1e-12 * abs(observed))) / (1 + len(permuted)))


def power(n: float | np.ndarray, *, n_observed: int, distance: float, distance_std: float,
          statistic: float, critical_value: float) -> np.ndarray:
    """Power of the energy test at ``n`` galaxies, scaled from ``n_observed`` (normal approximation).

    Under a fixed difference between the distributions, the test statistic (the
    V-statistic) at ``n`` galaxies is about normal with mean ``distance + B / n`` and
    standard deviation ``S / sqrt(n)``, and the test rejects above ``Q / n``: the null
    distribution of ``n D_V`` does not depend on ``n`` (Székely & Rizzo 2013). Measured
    at ``n_observed = N``: ``B = N (statistic - distance)`` (the V-statistic's offset
    from the unbiased estimate), ``S = sqrt(N) distance_std`` (its bootstrap std) and
    ``Q = N critical_value`` (the permutation distribution's ``1 - alpha`` quantile). So
    ``power(n) = Phi((distance + (B - Q) / n) sqrt(n) / S)``.
    """
    n = np.asarray(n, np.float64)
    offset = n_observed * (statistic - distance)
    quantile = n_observed * critical_value
    spread = np.sqrt(n_observed) * distance_std
    return norm.cdf((distance + (offset - quantile) / n) * np.sqrt(n) / spread)


def sample_size_for_power(target: float, **kwargs) -> float:
    """Smallest number of galaxies with :func:`power` ``>= target`` (inf if none below 10⁸).

    ``kwargs`` are :func:`power`'s; a distance <= 0 (no detected difference) gives inf.
    """
    if not kwargs["distance"] > 0 or not kwargs["distance_std"] > 0:
        return float("inf")
    gap = lambda log_n: float(power(np.exp(log_n), **kwargs)) - target  # noqa: E731
    low, high = np.log(2.0), np.log(1e8)
    if gap(high) < 0:
        return float("inf")
    if gap(low) >= 0:
        return 2.0
    # power rises with n once the distance term dominates: the first crossing from below
    grid = np.linspace(low, high, 400)
    above = np.nonzero([gap(g) >= 0 for g in grid])[0][0]
    return float(np.ceil(np.exp(brentq(gap, grid[above - 1], grid[above]))))
