"""Deblending metrics of Nguyen 2025: ellipticity errors, SSIM and cosine similarity.

- Ellipticities from second moments, eqs. 12-13 (uniform weight ``W = 1``, the report's
  choice), are measured by :func:`galprior.data.moments.moment_ellipticity`: the blend
  labels are measured with it too, so it lives in the data layer. It gives the
  *distortion* ``(a² - b²)/(a² + b²)`` of an elliptical profile; the report's eq. 15
  (``b/a = (1 - e)/(1 + e)``) belongs to the other convention, the reduced shear
  ``(a - b)/(a + b)``: :func:`distortion_to_shear` converts.
- Beside the report's ``W = 1`` (issue 33, to tell the network's round bias from the
  measurement's): :func:`subtract_background` removes a reconstruction's pedestal (the
  sigmoid output never reaches 0, and a flat pedestal over the stamp pulls ``W = 1``
  moments towards round) before the same moments, and :func:`hsm_ellipticity` measures
  GalSim's HSM adaptive moments (elliptical Gaussian weight), in the same distortion
  convention.
- :func:`ssim`: eq. 10 through scikit-image's ``structural_similarity`` (Gaussian
  window, the constants of Wang et al. 2004), per band, averaged over bands.
- :func:`cosine_similarity`: eq. 11 on the flattened multi-band images.
- Beyond the report (issue 33): colour. :func:`band_fluxes` sums each band of images in
  physical units (the reconstructions brought back through the inverse of eq. 9,
  :func:`galprior.data.normalisation.denormalise`); :func:`colour_error` is the error of
  a colour ``m_a - m_b = -2.5 log10(F_a / F_b)`` in magnitudes; :func:`band_fractions`
  ``F_b / Σ F`` and :func:`band_fraction_correlation` their Pearson correlation with the
  truth's, per galaxy over the bands. The report is silent on colour; its science
  (photometry for weak lensing and photo-z) needs it.
"""

from __future__ import annotations

import numpy as np


def subtract_background(images: np.ndarray, border: int = 3) -> np.ndarray:
    """``images`` (``(..., H, W)``) less each image's median over a ``border``-pixel frame.

    The frame of a 45-pixel stamp (9" for LSST) is sky for an isolated centred galaxy;
    its median is the reconstruction's pedestal (0 for a noiseless truth).
    """
    images = np.asarray(images, dtype=np.float64)
    frame = np.ones(images.shape[-2:], dtype=bool)
    frame[border:-border, border:-border] = False
    return images - np.median(images[..., frame], axis=-1)[..., None, None]


def hsm_ellipticity(images: np.ndarray) -> np.ndarray:
    """Distortion ``(e1, e2)`` of GalSim's HSM adaptive moments (``FindAdaptiveMom``); ``(..., 2)``.

    Same axes and convention as :func:`galprior.data.moments.moment_ellipticity` (``x`` the
    column index, ``(a² - b²)/(a² + b²)``); NaN where HSM fails (an empty or flat image).
    """
    import galsim  # imported here: the table and figure jobs run without it

    images = np.asarray(images, dtype=np.float64)
    flat = images.reshape(-1, *images.shape[-2:])
    out = np.full((len(flat), 2), np.nan)
    for k, image in enumerate(flat):
        try:
            result = galsim.hsm.FindAdaptiveMom(galsim.Image(image, scale=1.0), strict=False)
        except galsim.GalSimError:
            continue
        if result.moments_status == 0:
            out[k] = result.observed_shape.e1, result.observed_shape.e2
    return out.reshape(*images.shape[:-2], 2)


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


def band_fluxes(images: np.ndarray) -> np.ndarray:
    """Flux of each band: the sum over the stamp of ``images`` (``(..., B, H, W)``); ``(..., B)``.

    Unit: that of the images (electrons for raw or denormalised stamps). Use physical
    images: eq. 9 units are not additive in flux.
    """
    return np.asarray(images, dtype=np.float64).sum(axis=(-2, -1))


def aperture_fluxes(images: np.ndarray, radius: float) -> np.ndarray:
    """Flux of each band inside a circle of ``radius`` pixels about the stamp centre
    (``((H-1)/2, (W-1)/2)``, where the centre galaxy sits); ``(..., B)``, image units."""
    images = np.asarray(images, dtype=np.float64)
    h, w = images.shape[-2:]
    y, x = np.mgrid[0:h, 0:w]
    inside = (x - (w - 1) / 2) ** 2 + (y - (h - 1) / 2) ** 2 <= radius**2
    return images[..., inside].sum(axis=-1)


def colour_error(fluxes: np.ndarray, true_fluxes: np.ndarray, band_a: int, band_b: int, floor: float = 1e-12) -> np.ndarray:
    """Error of the colour ``m_a - m_b`` in magnitudes: ``-2.5 log10((F_a/F_b) / (F_a/F_b)_true)``.

    Args:
        fluxes, true_fluxes: ``(N, B)`` band fluxes (:func:`band_fluxes`) of the
            estimate and of the truth.
        band_a, band_b: channel indices (g-r: the g and r channels).
        floor: fluxes are floored at this value (a band with no light has no magnitude).

    Returns:
        ``(N,)`` signed colour errors, mag.
    """
    f = np.maximum(np.asarray(fluxes, dtype=np.float64), floor)
    t = np.maximum(np.asarray(true_fluxes, dtype=np.float64), floor)
    return -2.5 * np.log10((f[:, band_a] / f[:, band_b]) / (t[:, band_a] / t[:, band_b]))


def band_fractions(fluxes: np.ndarray) -> np.ndarray:
    """``F_b / Σ_b F_b`` per galaxy, ``(N, B)`` (NaN for a galaxy with no flux)."""
    f = np.asarray(fluxes, dtype=np.float64)
    total = f.sum(axis=-1, keepdims=True)
    return np.where(total > 0, f / np.where(total > 0, total, 1.0), np.nan)


def band_fraction_correlation(fluxes: np.ndarray, true_fluxes: np.ndarray) -> np.ndarray:
    """Pearson correlation, per galaxy over the bands, of the estimate's band fractions with
    the truth's; ``(N,)`` (NaN where either set of fractions is constant)."""
    return _pearson(band_fractions(fluxes), band_fractions(true_fluxes), axis=-1)


def band_fraction_correlation_across(fluxes: np.ndarray, true_fluxes: np.ndarray) -> np.ndarray:
    """Pearson correlation, per band over the galaxies, of the estimate's band fraction with
    the truth's; ``(B,)``. Unlike :func:`band_fraction_correlation` it is blind to the
    mean spectrum: a network that gives every galaxy the same colour scores 0 (NaN)."""
    a, b = band_fractions(fluxes), band_fractions(true_fluxes)
    ok = np.isfinite(a).all(axis=-1) & np.isfinite(b).all(axis=-1)
    return _pearson(a[ok], b[ok], axis=0)


def _pearson(a: np.ndarray, b: np.ndarray, axis: int, rtol: float = 1e-9) -> np.ndarray:
    """Pearson correlation of ``a`` and ``b`` along ``axis``; NaN where either is constant
    (to ``rtol`` of its mean: fractions equal up to rounding are constant)."""
    da = a - a.mean(axis=axis, keepdims=True)
    db = b - b.mean(axis=axis, keepdims=True)
    sa, sb = np.sqrt((da * da).mean(axis=axis)), np.sqrt((db * db).mean(axis=axis))
    flat = (sa <= rtol * np.abs(a).mean(axis=axis)) | (sb <= rtol * np.abs(b).mean(axis=axis))
    r = (da * db).mean(axis=axis) / np.where(flat, 1.0, sa * sb)
    return np.where(flat, np.nan, r)


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
    "roundness_truth_mean_e",
    "colour_gr_abs_median", "colour_ri_abs_median", "band_fraction_r_median", "band_fraction_r_across_median",
    "e_rmse_reconstruction_bgsub", "e_rmse_reconstruction_hsm",
    "roundness_reconstruction_bgsub", "roundness_reconstruction_hsm", "hsm_failures", "n",
)


def colour_metrics(fluxes: np.ndarray, true_fluxes: np.ndarray, bands: list[str], present: list[str]) -> dict[str, float]:
    """The colour columns of :func:`deblending_metrics` from band fluxes in physical units.

    ``colour_gr_abs_median`` / ``colour_ri_abs_median``: median over galaxies of
    ``|Δ(g - r)|`` / ``|Δ(r - i)|`` (:func:`colour_error`, mag); ``band_fraction_r_median``:
    median over galaxies of :func:`band_fraction_correlation`; ``band_fraction_r_across_median``:
    median over bands of :func:`band_fraction_correlation_across`. Only the ``present``
    channels count (an empty u channel does not); NaN without a truth.
    """
    lowered = [b.lower() for b in bands]
    keep = [k for k, b in enumerate(lowered) if b in {p.lower() for p in present}]
    f, t = np.asarray(fluxes, np.float64)[:, keep], np.asarray(true_fluxes, np.float64)[:, keep]
    names = [lowered[k] for k in keep]
    out = dict.fromkeys(("colour_gr_abs_median", "colour_ri_abs_median", "band_fraction_r_median",
                         "band_fraction_r_across_median"), np.nan)
    if not np.isfinite(t).all() or len(t) == 0:
        return out
    for column, (a, b) in (("colour_gr_abs_median", ("g", "r")), ("colour_ri_abs_median", ("r", "i"))):
        if a in names and b in names:
            out[column] = float(np.median(np.abs(colour_error(f, t, names.index(a), names.index(b)))))
    out["band_fraction_r_median"] = float(np.nanmedian(band_fraction_correlation(f, t)))
    out["band_fraction_r_across_median"] = float(np.nanmedian(band_fraction_correlation_across(f, t)))
    return out


def _finite_pairs(estimated: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(estimated).all(axis=1) & np.isfinite(truth).all(axis=1)
    return np.asarray(estimated, float)[ok], np.asarray(truth, float)[ok]


def roundness_ratio(estimated: np.ndarray, truth: np.ndarray) -> float:
    """``mean |e_est| / mean |e_true|``: below 1 means a bias towards round shapes (Figs. 16, 18)."""
    return float(np.mean(np.hypot(*np.asarray(estimated, float).T)) / np.mean(np.hypot(*np.asarray(truth, float).T)))


def deblending_metrics(evaluations: dict) -> "pd.DataFrame":
    """One row per evaluated data set and stage (t1, t2): similarities and ellipticity errors.

    The reconstruction columns use the stage's own reconstruction; the regressor and the
    flow-prior columns exist only for t2 (they sit on the training-2 encoder) and are NaN
    on t1 rows. ``e_rmse_*`` is :func:`ellipticity_rmse` (per component). The colour
    columns (:func:`colour_metrics`) come from each stage's band fluxes. The ``_bgsub``
    and ``_hsm`` columns (t2 only) measure the training-2 reconstruction with its
    background subtracted (W = 1, against ``e_true``) and by HSM (against the truth's HSM
    ellipticity, over the galaxies where both succeed; ``hsm_failures`` counts the rest).
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
            row.update(colour_metrics(getattr(ev, f"flux_recon_{stage}"), ev.flux_true, ev.attrs["network_bands"],
                                      ev.attrs["survey_bands"]))
            for key, (est, truth) in (("bgsub", (ev.e_recon_t2_bgsub, ev.e_true)), ("hsm", (ev.e_recon_t2_hsm, ev.e_true_hsm))):
                est, truth = _finite_pairs(est, truth)
                usable = stage == "t2" and len(est) > 0
                row[f"e_rmse_reconstruction_{key}"] = ellipticity_rmse(est, truth) if usable else np.nan
                row[f"roundness_reconstruction_{key}"] = roundness_ratio(est, truth) if usable else np.nan
            row["hsm_failures"] = int(len(ev) - len(_finite_pairs(ev.e_recon_t2_hsm, ev.e_true_hsm)[0])) if stage == "t2" else np.nan
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
