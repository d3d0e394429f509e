"""Deblending metrics of Nguyen 2025: moment ellipticities, SSIM and cosine similarity.

- :func:`moment_ellipticity`: eqs. 12-13, second moments ``Q_ij`` about the centroid of
  the light with a uniform weight ``W = 1`` (the report's choice), then
  ``e1 = (Qxx - Qyy)/(Qxx + Qyy)``, ``e2 = 2 Qxy/(Qxx + Qyy)``. This is the *distortion*
  ``(a² - b²)/(a² + b²)`` of an elliptical profile; the report's eq. 15
  (``b/a = (1 - e)/(1 + e)``) belongs to the other convention, the reduced shear
  ``(a - b)/(a + b)``: :func:`distortion_to_shear` converts. Axes: ``x`` is the column
  index, ``y`` the row index of an ``(H, W)`` array, as GalSim draws them. Negative
  pixels (noise, a reconstruction below zero) are clipped to zero first so that the
  moment matrix stays positive.
- :func:`ssim`: eq. 10 through scikit-image's ``structural_similarity`` (Gaussian
  window, the constants of Wang et al. 2004), per band, averaged over bands.
- :func:`cosine_similarity`: eq. 11 on the flattened multi-band images.
"""

from __future__ import annotations

import numpy as np


def image_moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unweighted second moments ``(Qxx, Qyy, Qxy)`` of ``images`` (``(..., H, W)``), eq. 13.

    Unit: pixel². Moments are taken about each image's own centroid; pixels below zero
    count as zero.
    """
    images = np.clip(np.asarray(images, dtype=np.float64), 0.0, None)
    h, w = images.shape[-2:]
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    flux = images.sum(axis=(-2, -1))
    safe = np.where(flux > 0, flux, 1.0)
    xc = (images * x).sum(axis=(-2, -1)) / safe
    yc = (images * y).sum(axis=(-2, -1)) / safe
    dx = x - xc[..., None, None]
    dy = y - yc[..., None, None]
    qxx = (images * dx * dx).sum(axis=(-2, -1)) / safe
    qyy = (images * dy * dy).sum(axis=(-2, -1)) / safe
    qxy = (images * dx * dy).sum(axis=(-2, -1)) / safe
    return qxx, qyy, qxy


def moment_ellipticity(images: np.ndarray) -> np.ndarray:
    """Ellipticity ``(e1, e2)`` from unweighted second moments, eq. 12; shape ``(..., 2)``.

    An empty image (no positive flux) gives ``(0, 0)``.
    """
    qxx, qyy, qxy = image_moments(images)
    trace = qxx + qyy
    safe = np.where(trace > 0, trace, 1.0)
    e1 = np.where(trace > 0, (qxx - qyy) / safe, 0.0)
    e2 = np.where(trace > 0, 2.0 * qxy / safe, 0.0)
    return np.stack([e1, e2], axis=-1)


def distortion_to_shear(e: np.ndarray) -> np.ndarray:
    """Convert distortion ``(a²-b²)/(a²+b²)`` components to reduced-shear ``(a-b)/(a+b)`` ones."""
    e = np.asarray(e, dtype=np.float64)
    mod = np.linalg.norm(e, axis=-1, keepdims=True)
    scale = np.where(mod > 0, np.tanh(0.5 * np.arctanh(np.clip(mod, 0, 1 - 1e-12))) / np.where(mod > 0, mod, 1.0), 1.0)
    return e * scale


def ssim(reconstructions: np.ndarray, truths: np.ndarray, data_range: float | None = None) -> np.ndarray:
    """SSIM (eq. 10) of each reconstruction against its truth, mean over bands.

    Args:
        reconstructions, truths: ``(N, B, H, W)`` arrays on the same scale.
        data_range: the dynamic range passed to scikit-image; ``None`` uses the truth's
            ``max - min`` per image (the usual choice for float images).

    Returns:
        ``(N,)`` SSIM values.
    """
    from skimage.metrics import structural_similarity  # imported here: table and figure jobs run without it

    recon = np.asarray(reconstructions, dtype=np.float64)
    truth = np.asarray(truths, dtype=np.float64)
    if recon.shape != truth.shape or recon.ndim != 4:
        raise ValueError(f"ssim needs two (N, B, H, W) arrays of the same shape, got {recon.shape} and {truth.shape}")
    out = np.empty(len(recon))
    for k in range(len(recon)):
        values = []
        for b in range(recon.shape[1]):
            rng_ = data_range if data_range is not None else float(truth[k, b].max() - truth[k, b].min())
            if rng_ <= 0:
                continue
            values.append(
                structural_similarity(truth[k, b], recon[k, b], data_range=rng_, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
            )
        out[k] = np.mean(values) if values else np.nan
    return out


def cosine_similarity(reconstructions: np.ndarray, truths: np.ndarray) -> np.ndarray:
    """Cosine similarity (eq. 11) of each flattened reconstruction with its truth; ``(N,)``."""
    a = np.asarray(reconstructions, dtype=np.float64).reshape(len(reconstructions), -1)
    b = np.asarray(truths, dtype=np.float64).reshape(len(truths), -1)
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(norm > 0, (a * b).sum(axis=1) / np.where(norm > 0, norm, 1.0), np.nan)


def ellipticity_rmse(estimated: np.ndarray, truth: np.ndarray) -> float:
    """Root-mean-square of ``|e_est - e_true|`` over galaxies (both components), ``sqrt(mean(Δe1² + Δe2²)/2)``."""
    d = np.asarray(estimated, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(np.sqrt(np.mean(d**2)))


# --------------------------------------------------------------------------------------
# Tables of the evaluation stores
# --------------------------------------------------------------------------------------

ESTIMATORS = {
    "reconstruction_t1": "e_recon_t1",
    "reconstruction_t2": "e_recon_t2",
    "regressor": "e_regressor",
    "flow_map": "e_flow_map",
    "flow_sample": "e_flow_sample",
}

METRICS_COLUMNS = (
    "survey", "data", "stage", "ssim_mean", "ssim_std", "cosine_mean", "cosine_std",
    "e_rmse_reconstruction", "e_rmse_regressor", "e_rmse_flow_map", "e_rmse_flow_sample",
    "roundness_reconstruction", "roundness_regressor", "roundness_flow_map", "roundness_flow_sample",
    "roundness_truth_mean_e", "n",
)


def roundness_ratio(estimated: np.ndarray, truth: np.ndarray) -> float:
    """``mean |e_est| / mean |e_true|``: below 1 means a bias towards round shapes (Figs. 16, 18)."""
    return float(np.mean(np.hypot(*np.asarray(estimated, float).T)) / np.mean(np.hypot(*np.asarray(truth, float).T)))


def deblending_metrics(evaluations: dict) -> "pd.DataFrame":
    """One row per evaluated data set and stage (t1, t2): similarities and ellipticity errors.

    The reconstruction columns use the stage's own reconstruction; the regressor and the
    flow-prior columns exist only for t2 (they sit on the training-2 encoder) and are NaN
    on t1 rows. ``e_rmse_*`` is :func:`ellipticity_rmse` (per component).
    """
    import pandas as pd

    rows = []
    for name, ev in evaluations.items():
        for stage in ("t1", "t2"):
            ssim_v, cos_v = getattr(ev, f"ssim_{stage}"), getattr(ev, f"cosine_{stage}")
            recon = getattr(ev, f"e_recon_{stage}")
            row = {
                "survey": name, "data": ev.attrs["data"], "stage": stage,
                "ssim_mean": float(np.nanmean(ssim_v)) if np.isfinite(ssim_v).any() else np.nan,
                "ssim_std": float(np.nanstd(ssim_v)) if np.isfinite(ssim_v).any() else np.nan,
                "cosine_mean": float(np.nanmean(cos_v)) if np.isfinite(cos_v).any() else np.nan,
                "cosine_std": float(np.nanstd(cos_v)) if np.isfinite(cos_v).any() else np.nan,
                "e_rmse_reconstruction": ellipticity_rmse(recon, ev.e_true),
                "roundness_reconstruction": roundness_ratio(recon, ev.e_true),
                "roundness_truth_mean_e": float(np.mean(np.hypot(*ev.e_true.astype(float).T))),
                "n": len(ev),
            }
            for key, array in (("regressor", ev.e_regressor), ("flow_map", ev.e_flow_map), ("flow_sample", ev.e_flow_sample)):
                row[f"e_rmse_{key}"] = ellipticity_rmse(array, ev.e_true) if stage == "t2" else np.nan
                row[f"roundness_{key}"] = roundness_ratio(array, ev.e_true) if stage == "t2" else np.nan
            rows.append(row)
    return pd.DataFrame(rows, columns=list(METRICS_COLUMNS))


def figure_numbers(evaluations: dict, histories: dict) -> "pd.DataFrame":
    """The numbers behind the figures (long table: figure, survey, quantity, estimator, value).

    Fig. 13: mean SSIM and cosine per stage; Figs. 15/17: mean and std of Δe1, Δe2 and the
    RMS error per estimator; Figs. 16/18: mean |e| per estimator and of the truth;
    Figs. 22-23: first and last training and validation losses of each stage.
    """
    import pandas as pd

    rows = []
    for name, ev in evaluations.items():
        shape_fig = "15-16" if name == "lsst" else "17-18"
        for stage in ("t1", "t2"):
            for q in ("ssim", "cosine"):
                v = getattr(ev, f"{q}_{stage}")
                if np.isfinite(v).any():
                    rows.append(("13", name, f"{q}_mean", stage, float(np.nanmean(v))))
        rows.append((shape_fig, name, "mean_abs_e", "truth", float(np.mean(np.hypot(*ev.e_true.astype(float).T)))))
        for label, attr in ESTIMATORS.items():
            est = getattr(ev, attr).astype(float)
            d = est - ev.e_true
            rows += [
                (shape_fig, name, "mean_delta_e1", label, float(d[:, 0].mean())),
                (shape_fig, name, "mean_delta_e2", label, float(d[:, 1].mean())),
                (shape_fig, name, "std_delta_e1", label, float(d[:, 0].std())),
                (shape_fig, name, "std_delta_e2", label, float(d[:, 1].std())),
                (shape_fig, name, "e_rmse", label, ellipticity_rmse(est, ev.e_true)),
                (shape_fig, name, "mean_abs_e", label, float(np.mean(np.hypot(*est.T)))),
            ]
    for name, history in histories.items():
        fig = "23" if name.endswith("t3") else "22"
        for column in [c for c in history.columns if c != "epoch"]:
            rows.append((fig, name, f"{column}_first", "", float(history[column].iloc[0])))
            rows.append((fig, name, f"{column}_last", "", float(history[column].iloc[-1])))
    return pd.DataFrame(rows, columns=["figure", "survey", "quantity", "estimator", "value"])
