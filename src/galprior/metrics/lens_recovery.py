"""Lens-parameter recovery: per-system tables, reduced chi^2 and interval coverage.

Pure numpy / pandas functions (Chianese et al. 2020 sec. 5.2, their Table 2 and
Fig. 7: MAP and posterior quantiles of every lens parameter against the truth).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "posterior_quantiles",
    "relative_error",
    "reduced_chi2",
    "recovery_table",
    "interval_coverage",
]

QUANTILES = (0.16, 0.5, 0.84)


def posterior_quantiles(samples: np.ndarray, quantiles: Sequence[float] = QUANTILES) -> np.ndarray:
    """Quantiles over the flattened sample axes of samples (..., n, P) -> (len(q), ..., P)."""
    return np.quantile(samples, quantiles, axis=-2)


def relative_error(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(estimate - truth) / |truth| (NaN where truth = 0)."""
    truth = np.asarray(truth, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(truth != 0, (np.asarray(estimate) - truth) / np.abs(truth), np.nan)


def reduced_chi2(observation: np.ndarray, model: np.ndarray, noise_sigma: float | np.ndarray,
                 n_parameters: int = 0) -> np.ndarray:
    """sum((obs - model)^2 / sigma^2) / (n_pixels - n_parameters) per image (..., H, W) -> (...)."""
    resid = (np.asarray(observation, np.float64) - np.asarray(model, np.float64)) / np.asarray(noise_sigma)[..., None, None]
    n_pix = resid.shape[-1] * resid.shape[-2]
    return (resid**2).sum(axis=(-1, -2)) / (n_pix - n_parameters)


def recovery_table(truth: np.ndarray, map_estimate: np.ndarray, samples: np.ndarray | None,
                   parameter_names: Sequence[str], noise_levels: Sequence[float],
                   chi2: np.ndarray | None = None) -> pd.DataFrame:
    """Long table: one row per (system, noise level, parameter).

    Parameters
    ----------
    truth: (S, P) true values.
    map_estimate: (S, L, P) MAP values.
    samples: (S, L, N, P) posterior samples (chains flattened), or None.
    parameter_names: P names; noise_levels: L noise sigmas.
    chi2: (S, L) reduced chi^2 of the MAP images, or None.

    Columns: system, noise_sigma, parameter, truth, map, map_rel_error, and with
    samples: mean, q16, q50, q84, mean_rel_error, in68, in95; with chi2: reduced_chi2.
    """
    n_sys, n_lev, n_par = map_estimate.shape
    s, l, p = np.meshgrid(np.arange(n_sys), np.arange(n_lev), np.arange(n_par), indexing="ij")
    t = np.broadcast_to(truth[:, None, :], map_estimate.shape)
    cols = {
        "system": s.ravel(), "noise_sigma": np.asarray(noise_levels)[l.ravel()],
        "parameter": np.asarray(parameter_names)[p.ravel()], "truth": t.ravel(),
        "map": map_estimate.ravel(), "map_rel_error": relative_error(map_estimate, t).ravel(),
    }
    if samples is not None:
        q = np.quantile(samples, (0.025, 0.16, 0.5, 0.84, 0.975), axis=-2)
        mean = samples.mean(axis=-2)
        cols.update({"mean": mean.ravel(), "q16": q[1].ravel(), "q50": q[2].ravel(), "q84": q[3].ravel(),
                     "mean_rel_error": relative_error(mean, t).ravel(),
                     "in68": ((q[1] <= t) & (t <= q[3])).ravel(), "in95": ((q[0] <= t) & (t <= q[4])).ravel()})
    if chi2 is not None:
        cols["reduced_chi2"] = np.broadcast_to(np.asarray(chi2)[:, :, None], map_estimate.shape).ravel()
    return pd.DataFrame(cols)


def interval_coverage(table: pd.DataFrame) -> pd.DataFrame:
    """Fraction of systems whose truth lies in the 68 % and 95 % intervals, per noise level and parameter."""
    return (table.groupby(["noise_sigma", "parameter"], sort=False)[["in68", "in95"]].mean()
            .rename(columns={"in68": "coverage68", "in95": "coverage95"}).reset_index())


def recovery_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per noise level and parameter: median S/N, median |relative error| of the MAP and of
    the posterior mean, and the median 68 % posterior width (q84 - q16) where sampled."""
    grouped = table.assign(abs_map_error=table["map_rel_error"].abs())
    agg = {"snr": "median", "abs_map_error": "median", "system": "nunique"}
    if "mean_rel_error" in table:
        grouped = grouped.assign(abs_mean_error=grouped["mean_rel_error"].abs(),
                                 width68=grouped["q84"] - grouped["q16"])
        agg.update({"abs_mean_error": "median", "width68": "median"})
    out = grouped.groupby(["noise_sigma", "parameter"], sort=False).agg(agg).reset_index()
    return out.rename(columns={"abs_map_error": "median_abs_rel_error_map",
                               "abs_mean_error": "median_abs_rel_error_mean",
                               "width68": "median_width68", "snr": "median_snr",
                               "system": "n_systems"})
