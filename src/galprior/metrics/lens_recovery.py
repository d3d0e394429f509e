"""Lens-parameter recovery: per-system tables, reduced chi^2 and interval coverage.

Pure numpy / pandas functions, torch-free (Chianese et al. 2020 sec. 5.2-5.3: MAP and
posterior of every lens parameter against the truth).

Which error for which parameter:

- circular parameters (:data:`CIRCULAR`: the position angle, period pi) are summarised
  with circular statistics: the error is the wrapped difference in [-pi/2, pi/2), the
  posterior mean is the circular mean (angle of the mean of exp(2 i phi), halved), and
  quantiles and interval hits are taken on the samples unwrapped around that mean and
  shifted next to the truth -- an arithmetic mean across the wrap-around would put a
  posterior at 0.01 and pi - 0.01 at pi/2;
- every parameter has an absolute error ``map_error`` / ``mean_error`` (estimate - truth,
  in the parameter's unit);
- relative errors (``map_rel_error``, ``mean_rel_error``) only where the truth is bounded
  away from 0 (:data:`RELATIVE`: r_Ein, slope, q); NaN for the centre, the shear and the
  angle, whose truths can be 0.

The lens ellipticity vector ``(lens_e1, lens_e2) = sqrt(1 - q) (cos 2 phi, sin 2 phi)``
(:data:`ELLIPTICITY_COLUMNS`, what the model samples: :mod:`galprior.inference.model`) gets
rows of its own next to q and phi: near q = 1 the angle is not identified by the data and
mixes slowly, while the vector is; sampler diagnostics are judged on
:data:`IDENTIFIABLE` (issue 32), and q and phi keep theirs (both are reported).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from galprior.store import MapResultSet, MockLensSet, PosteriorSampleSet

__all__ = [
    "CIRCULAR",
    "RELATIVE",
    "wrap",
    "nearest_turn",
    "circular_mean",
    "posterior_quantiles",
    "relative_error",
    "ELLIPTICITY_COLUMNS",
    "IDENTIFIABLE",
    "lens_ellipticity",
    "with_ellipticity",
    "reduced_chi2",
    "recovery_table",
    "interval_coverage",
    "evaluate_lenses",
]

QUANTILES = (0.16, 0.5, 0.84)
#: Periodic parameters and their periods (rad): an ellipse is the same after a half turn.
CIRCULAR = {"position_angle": np.pi}
#: Parameters whose truth is bounded away from 0: relative errors are meaningful.
RELATIVE = ("einstein_radius", "slope", "axis_ratio")
#: The lens ellipticity vector's components, derived from q and phi (module docstring).
ELLIPTICITY_COLUMNS = ("lens_e1", "lens_e2")
#: Lens quantities the data identify, on which mixing is judged (q, phi replaced by e1, e2).
IDENTIFIABLE = ("einstein_radius", "slope", "lens_e1", "lens_e2", "x0", "y0", "gamma1", "gamma2")
#: Relative MAP error of r_Ein counted as a success (issue 10: 7 of 8 within 2 %).
WITHIN = 0.02


def wrap(difference: np.ndarray, period: float) -> np.ndarray:
    """``difference`` mapped to [-period/2, period/2)."""
    return np.mod(np.asarray(difference, np.float64) + period / 2, period) - period / 2


def nearest_turn(values: np.ndarray, centre: np.ndarray | float, period: float) -> np.ndarray:
    """``values`` shifted by multiples of ``period`` to lie within period/2 of ``centre``
    (an angle unwrapped next to a reference: its truth, or its circular mean)."""
    return centre + wrap(np.asarray(values, np.float64) - centre, period)


def circular_mean(samples: np.ndarray, period: float, axis: int = -1) -> np.ndarray:
    """Circular mean of values of period ``period`` along ``axis``, in [0, period)."""
    angle = 2 * np.pi * np.asarray(samples, np.float64) / period
    mean = np.arctan2(np.sin(angle).mean(axis=axis), np.cos(angle).mean(axis=axis))
    return np.mod(mean * period / (2 * np.pi), period)


def posterior_quantiles(samples: np.ndarray, quantiles: Sequence[float] = QUANTILES) -> np.ndarray:
    """Quantiles over the flattened sample axes of samples (..., n, P) -> (len(q), ..., P)."""
    return np.quantile(samples, quantiles, axis=-2)


def relative_error(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(estimate - truth) / |truth| (NaN where truth = 0)."""
    truth = np.asarray(truth, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(truth != 0, (np.asarray(estimate) - truth) / np.abs(truth), np.nan)


def lens_ellipticity(axis_ratio: np.ndarray, position_angle: np.ndarray) -> np.ndarray:
    """``sqrt(1 - q) (cos 2 phi, sin 2 phi)``, shape (..., 2) (the model's ellipticity site)."""
    amplitude = np.sqrt(np.clip(1.0 - np.asarray(axis_ratio, np.float64), 0.0, None))
    angle = 2.0 * np.asarray(position_angle, np.float64)
    return np.stack([amplitude * np.cos(angle), amplitude * np.sin(angle)], axis=-1)


def with_ellipticity(values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Lens parameters (..., P) in ``names`` order with the two :data:`ELLIPTICITY_COLUMNS`
    appended (derived from ``axis_ratio`` and ``position_angle``): (..., P + 2)."""
    names = list(names)
    values = np.asarray(values, np.float64)
    e = lens_ellipticity(values[..., names.index("axis_ratio")], values[..., names.index("position_angle")])
    return np.concatenate([values, e], axis=-1)


def _unwrap_next_to_truth(samples: np.ndarray, truth: np.ndarray, period: float) -> np.ndarray:
    """Samples (..., N) unwrapped around their circular mean, the whole set then shifted by
    a multiple of ``period`` so that its mean lies within period/2 of ``truth`` (...)."""
    centre = nearest_turn(circular_mean(samples, period, axis=-1), truth, period)
    return nearest_turn(samples, centre[..., None], period)


def reduced_chi2(observation: np.ndarray, model: np.ndarray, noise_sigma: float | np.ndarray,
                 n_parameters: int = 0) -> np.ndarray:
    """sum((obs - model)^2 / sigma^2) / (n_pixels - n_parameters) per image (..., H, W) -> (...)."""
    resid = (np.asarray(observation, np.float64) - np.asarray(model, np.float64)) / np.asarray(noise_sigma)[..., None, None]
    n_pix = resid.shape[-1] * resid.shape[-2]
    return (resid**2).sum(axis=(-1, -2)) / (n_pix - n_parameters)


def recovery_table(truth: np.ndarray, map_estimate: np.ndarray, samples: np.ndarray | None,
                   parameter_names: Sequence[str], noise_sigma: Sequence[float],
                   chi2: np.ndarray | None = None) -> pd.DataFrame:
    """Long table: one row per (system, noise level, parameter).

    Parameters
    ----------
    truth: (S, P) true values.
    map_estimate: (S, L, P) MAP values.
    samples: (S, L, N, P) posterior samples (chains flattened), or None.
    parameter_names: P names; noise_sigma: the L noise levels (per-pixel std).
    chi2: (S, L) reduced chi^2 of the MAP images, or None.

    Columns: system, noise_sigma, parameter, truth, map, map_error, map_rel_error, and
    with samples: mean, q16, q50, q84, mean_error, mean_rel_error, in68, in95; with chi2:
    reduced_chi2. Circular parameters and relative errors: see the module docstring.
    """
    n_sys, n_lev, n_par = map_estimate.shape
    s, l, p = np.meshgrid(np.arange(n_sys), np.arange(n_lev), np.arange(n_par), indexing="ij")
    t = np.broadcast_to(np.asarray(truth, np.float64)[:, None, :], map_estimate.shape)
    names = list(parameter_names)
    relative = np.array([n in RELATIVE for n in names])
    map_error = np.asarray(map_estimate, np.float64) - t
    for j, name in enumerate(names):
        if name in CIRCULAR:
            map_error[..., j] = wrap(map_error[..., j], CIRCULAR[name])
    with np.errstate(divide="ignore", invalid="ignore"):
        map_rel = np.where(relative, map_error / np.abs(t), np.nan)
    cols = {
        "system": s.ravel(), "noise_sigma": np.asarray(noise_sigma)[l.ravel()],
        "parameter": np.asarray(names)[p.ravel()], "truth": t.ravel(),
        "map": np.asarray(map_estimate).ravel(), "map_error": map_error.ravel(),
        "map_rel_error": map_rel.ravel(),
    }
    if samples is not None:
        samples = np.array(samples, np.float64)
        for j, name in enumerate(names):
            if name in CIRCULAR:
                samples[..., j] = _unwrap_next_to_truth(samples[..., j], t[..., j], CIRCULAR[name])
        q = np.quantile(samples, (0.025, 0.16, 0.5, 0.84, 0.975), axis=-2)
        mean = samples.mean(axis=-2)
        mean_error = mean - t
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_rel = np.where(relative, mean_error / np.abs(t), np.nan)
        cols.update({"mean": mean.ravel(), "q16": q[1].ravel(), "q50": q[2].ravel(), "q84": q[3].ravel(),
                     "mean_error": mean_error.ravel(), "mean_rel_error": mean_rel.ravel(),
                     "in68": ((q[1] <= t) & (t <= q[3])).ravel(), "in95": ((q[0] <= t) & (t <= q[4])).ravel()})
    if chi2 is not None:
        cols["reduced_chi2"] = np.broadcast_to(np.asarray(chi2)[:, :, None], map_estimate.shape).ravel()
    return pd.DataFrame(cols)


def interval_coverage(table: pd.DataFrame) -> pd.DataFrame:
    """Fraction of sampled posteriors whose truth lies in the 68 % and 95 % intervals, per
    noise level and parameter, with ``n_intervals``, the number of posteriors it rests on."""
    sampled = table[table["in68"].notna()].assign(in68=lambda d: d["in68"].astype(float),
                                                  in95=lambda d: d["in95"].astype(float))
    out = sampled.groupby(["noise_sigma", "parameter"], sort=False).agg(
        coverage68=("in68", "mean"), coverage95=("in95", "mean"), n_intervals=("in68", "size"))
    return out.reset_index()


def recovery_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per noise level and parameter: median S/N, median |absolute error| of the MAP (and
    of the posterior mean where sampled), median |relative error| where defined
    (:data:`RELATIVE`), the number of systems whose MAP is within ``WITHIN`` (2 %) of the
    truth, and the median 68 % posterior width (q84 - q16); ``n_systems`` and
    ``n_sampled`` say how many rows each number rests on."""
    grouped = table.assign(abs_map_error=table["map_error"].abs(),
                           abs_map_rel_error=table["map_rel_error"].abs(),
                           map_within=(table["map_rel_error"].abs() <= WITHIN).where(table["map_rel_error"].notna()))
    agg = {"median_snr": ("snr", "median"), "n_systems": ("system", "nunique"),
           "median_abs_error_map": ("abs_map_error", "median"),
           "median_abs_rel_error_map": ("abs_map_rel_error", "median"),
           "n_within_2pct_map": ("map_within", "sum")}
    if "mean_error" in table:
        grouped = grouped.assign(abs_mean_error=grouped["mean_error"].abs(),
                                 abs_mean_rel_error=grouped["mean_rel_error"].abs(),
                                 width68=grouped["q84"] - grouped["q16"])
        agg.update({"median_abs_error_mean": ("abs_mean_error", "median"),
                    "median_abs_rel_error_mean": ("abs_mean_rel_error", "median"),
                    "median_width68": ("width68", "median"), "n_sampled": ("mean", "count")})
    out = grouped.groupby(["noise_sigma", "parameter"], sort=False).agg(**agg).reset_index()
    out.loc[~out["parameter"].isin(RELATIVE), "n_within_2pct_map"] = np.nan
    return out


def evaluate_lenses(mocks: MockLensSet, map_result: MapResultSet,
                    posterior: PosteriorSampleSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per system / noise level / lens parameter table, and 68/95 % interval coverage.

    Every system has its truth, MAP, relative error and reduced chi^2; the systems
    that were sampled also have posterior mean, 16/50/84 % quantiles and interval hits.
    """
    lens_names = list(mocks.attrs["lens_parameter_names"])
    names = lens_names + list(ELLIPTICITY_COLUMNS)
    truth = with_ellipticity(mocks.lens_parameters, lens_names)
    map_values = with_ellipticity(map_result.lens_parameters, lens_names)
    table = recovery_table(truth, map_values, None, names, mocks.noise_sigma, chi2=map_result.reduced_chi2)
    systems = posterior.attrs["systems"]
    s, lev, c, n, p = posterior.samples.shape
    flat = with_ellipticity(posterior.samples[..., :len(lens_names)], lens_names).reshape(s, lev, c * n, len(names))
    sampled = recovery_table(truth[systems], map_values[systems], flat, names, mocks.noise_sigma)
    sampled["system"] = np.asarray(systems)[sampled["system"].to_numpy()]
    extra = sampled.drop(columns=["truth", "map", "map_error", "map_rel_error"])
    table = table.merge(extra, on=["system", "noise_sigma", "parameter"], how="left")
    level = {float(sigma): i for i, sigma in enumerate(mocks.noise_sigma)}
    table["snr"] = mocks.snr[table["system"].to_numpy(),
                             [level[float(x)] for x in table["noise_sigma"]]]
    coverage = interval_coverage(sampled)
    return table, coverage


# -- sampler diagnostics in the evaluation tables (issue 14) -------------------------------
POSTERIOR_COLUMNS = ("mean", "q16", "q50", "q84", "mean_error", "mean_rel_error", "in68", "in95")


def flag_posteriors(table: pd.DataFrame, posterior: PosteriorSampleSet,
                    thresholds: dict[str, float]) -> pd.DataFrame:
    """Add the sampler diagnostics of each sampled (system, noise level) and a flag.

    New columns: ``r_hat`` (NaN where undefined, e.g. too few samples), ``ess``,
    ``divergences`` (all chains), ``tree_depth_hits`` (all chains), and
    ``diagnostics_flag``: empty when the posterior passes ``thresholds`` (keys
    ``r_hat_max``, ``ess_min``, ``divergences_max``, ``tree_depth_hit_fraction_max``,
    from ``chianese.diagnostics``), else the failed tests, e.g. ``"ess<100"``. R-hat and
    ESS are per parameter (the row's); divergences and tree-depth hits per posterior.
    Rows of systems that were not sampled keep NaN and an empty flag.
    """
    names = list(posterior.attrs["parameter_names"])
    systems = list(posterior.attrs["systems"])
    level = {float(sigma): i for i, sigma in enumerate(posterior.attrs["noise_sigma"])}
    n_samples = posterior.samples.shape[2] * posterior.samples.shape[3]
    r_hat, ess, div, hits, flags = [], [], [], [], []
    for system, sigma, parameter in table[["system", "noise_sigma", "parameter"]].itertuples(index=False):
        if system not in systems or parameter not in names:
            r_hat.append(np.nan), ess.append(np.nan), div.append(np.nan), hits.append(np.nan)
            flags.append("")
            continue
        s, lev, p = systems.index(system), level[float(sigma)], names.index(parameter)
        values = (posterior.r_hat[s, lev, p], posterior.ess[s, lev, p],
                  int(posterior.divergences[s, lev].sum()), int(posterior.tree_depth_hits[s, lev].sum()))
        failed = []
        if values[0] > thresholds["r_hat_max"]:  # NaN (undefined) compares False: not a failure
            failed.append(f"r_hat>{thresholds['r_hat_max']}")
        if not values[1] >= thresholds["ess_min"]:  # an undefined ESS is no evidence of mixing
            failed.append(f"ess<{thresholds['ess_min']}")
        if values[2] > thresholds["divergences_max"]:
            failed.append(f"divergences>{thresholds['divergences_max']}")
        if values[3] > thresholds["tree_depth_hit_fraction_max"] * n_samples:
            failed.append(f"tree_depth_hits>{thresholds['tree_depth_hit_fraction_max']:g}")
        for column, value in zip((r_hat, ess, div, hits), values):
            column.append(value)
        flags.append(";".join(failed))
    return table.assign(r_hat=r_hat, ess=ess, divergences=div, tree_depth_hits=hits,
                        diagnostics_flag=flags)


def trusted_posteriors(table: pd.DataFrame) -> pd.DataFrame:
    """The table with the posterior columns of flagged rows blanked (NaN), for summaries.

    Coverage and median widths are then computed from the posteriors that passed their
    diagnostics only; ``lens_recovery.csv`` keeps every value with its flag.
    """
    flagged = table["diagnostics_flag"].astype(bool).to_numpy()
    out = table.copy()
    for column in POSTERIOR_COLUMNS:
        if column in out:
            out[column] = out[column].astype(float).where(~flagged)
    return out


def trusted_coverage(table: pd.DataFrame) -> pd.DataFrame:
    """68/95 % coverage over the sampled, unflagged posteriors, with their counts.

    Columns: noise_sigma, parameter, coverage68, coverage95 (NaN where none passed),
    n_posteriors (passed), n_flagged (left out).
    """
    sampled = table[table["in68"].notna()] if "in68" in table else table.iloc[:0]
    flagged = sampled["diagnostics_flag"].astype(bool)
    keys = ["noise_sigma", "parameter"]
    counts = sampled.assign(n_posteriors=~flagged, n_flagged=flagged).groupby(keys, sort=False)[
        ["n_posteriors", "n_flagged"]].sum()
    kept = sampled[~flagged].assign(in68=lambda t: t["in68"].astype(float),
                                    in95=lambda t: t["in95"].astype(float))
    coverage = kept.groupby(keys, sort=False)[["in68", "in95"]].mean().rename(
        columns={"in68": "coverage68", "in95": "coverage95"})
    out = counts.join(coverage, how="left").reset_index()
    return out[["noise_sigma", "parameter", "coverage68", "coverage95", "n_posteriors", "n_flagged"]]
