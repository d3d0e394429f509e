"""Metrics of the score prior and of the SDE posteriors (Adam et al. 2022 sec. 3, Figs. 1-3).

* :func:`reduced_chi2` -- chi^2_nu of a sample's lens-plane residual, nu = the number of
  pixels (the samples are draws, not fits: no parameters are subtracted). Also over the
  pixels that see the source grid (A 1 > 0; app. A footnote 3: the other pixels carry no
  information on x), which is the stricter number.
* :func:`magnification_map` -- magnification of each source pixel from the operator:
  (A^T 1)_j is the image area (in image pixels) that source pixel j maps to, so
  mu_j = (A^T 1)_j x image-pixel area / source-pixel area.
* :func:`std_against_magnification` -- posterior std per magnification bin and the
  Spearman correlation (the paper: lower std where the magnification is high).
* :func:`image_moments` / :func:`moment_comparison` -- flux, size and ellipticity from
  unweighted second moments, for the prior samples against training galaxies.
* :func:`operator_checks` -- app. A's checks of the A A^T ~ 1 assumption behind eq. 19.
* :func:`pixel_coverage` -- per-pixel posterior coverage in the source region against what
  a calibrated sampler gives with the same number of samples, with its Monte-Carlo error.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from scipy.stats import ks_2samp, spearmanr
from scipy.stats import t as student_t

from galprior.data.moments import image_moments as second_moments

__all__ = ["reduced_chi2", "magnification_map", "std_against_magnification", "image_moments",
           "moment_comparison", "posterior_summary", "operator_checks", "expected_coverage",
           "pixel_coverage", "operator_check_table"]

logger = logging.getLogger(__name__)

#: a source pixel is in the source region where the truth exceeds this fraction of its peak
SOURCE_REGION_FRACTION = 0.05
#: half-widths of the per-pixel intervals, in posterior standard deviations
COVERAGE_WIDTHS = (1.0, 2.0)


def reduced_chi2(observation: np.ndarray, model_images: np.ndarray, noise_sigma: float,
                 mask: np.ndarray | None = None) -> np.ndarray:
    """chi^2 / nu of each model image (N, H, W) against one observation (H, W).

    nu = number of pixels (of ``mask`` when given).
    """
    r2 = ((np.asarray(observation)[None] - np.asarray(model_images)) / noise_sigma) ** 2
    if mask is not None:
        return r2[:, mask].sum(-1) / mask.sum()
    return r2.reshape(len(r2), -1).mean(-1)


def magnification_map(operator, image_pixel_scale: float, source_scale: np.ndarray) -> np.ndarray:
    """mu of every source pixel (B, M, M): (A^T 1) x image-pixel area / source-pixel area."""
    size = operator.source_shape[-1]
    ones = torch.ones_like(operator.forward(torch.zeros((operator.batch_size, *operator.source_shape),
                                                        dtype=operator.beta_x.dtype)))
    with torch.no_grad():
        weight = operator.adjoint(ones).cpu().numpy()
    source_pixel = (np.asarray(source_scale) / size) ** 2
    return weight * image_pixel_scale**2 / source_pixel[:, None, None]


def std_against_magnification(std: np.ndarray, magnification: np.ndarray, n_bins: int = 6) -> tuple[pd.DataFrame, float]:
    """Median posterior std in bins of log magnification (pixels with mu > 0.05) and the
    Spearman rank correlation of std with mu (negative: better constrained where magnified)."""
    keep = magnification > 0.05
    mu, sd = magnification[keep], std[keep]
    if len(mu) < 3:
        return pd.DataFrame(columns=["mu_low", "mu_high", "n_pixels", "median_std"]), float("nan")
    edges = np.quantile(mu, np.linspace(0, 1, n_bins + 1))
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (mu >= lo) & (mu <= hi)
        rows.append({"mu_low": lo, "mu_high": hi, "n_pixels": int(sel.sum()),
                     "median_std": float(np.median(sd[sel])) if sel.any() else float("nan")})
    return pd.DataFrame(rows), float(spearmanr(mu, sd).statistic)


def image_moments(images: np.ndarray) -> pd.DataFrame:
    """Flux, size sqrt(Qxx + Qyy) (pixels) and ellipticity |e| of each image (N, M, M),
    from unweighted moments of the positive part, e = (Qxx - Qyy, 2 Qxy) / (Qxx + Qyy)."""
    flux = np.clip(np.asarray(images, np.float64), 0, None).sum((1, 2))
    qxx, qyy, qxy = second_moments(images)
    trace = np.where(qxx + qyy > 0, qxx + qyy, 1.0)
    e = np.hypot(qxx - qyy, 2 * qxy) / trace
    return pd.DataFrame({"flux": flux, "size": np.sqrt(qxx + qyy), "ellipticity": e})


def moment_comparison(samples: np.ndarray, training: np.ndarray) -> pd.DataFrame:
    """Quartiles of flux, size and ellipticity of prior samples and training galaxies, and the
    two-sample Kolmogorov-Smirnov statistic and p-value of each quantity."""
    a, b = image_moments(samples), image_moments(training)
    rows = []
    for q in a.columns:
        ks = ks_2samp(a[q], b[q])
        rows.append({"quantity": q,
                     **{f"samples_q{p}": float(np.percentile(a[q], p)) for p in (25, 50, 75)},
                     **{f"training_q{p}": float(np.percentile(b[q], p)) for p in (25, 50, 75)},
                     "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue)})
    return pd.DataFrame(rows)


def posterior_summary(samples: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, std and residual SNR (mean - truth) / std of samples (N, M, M) of one system."""
    mean, std = samples.mean(0), samples.std(0, ddof=1) if len(samples) > 1 else np.zeros(samples.shape[1:])
    snr = (mean - truth) / np.where(std > 0, std, np.inf)
    return {"mean": mean, "std": std, "residual_snr": snr}


def evaluate_sde_runs(mocks, runs: dict, n_model_images: int = 2, reference: str | None = None):
    """Summaries of every posterior run (name -> ``SdePosteriorSet``) on the mocks.

    Returns the ``SdeEvaluationSet``, the summary table (one row per system and run), the
    std-against-magnification table and the per-pixel coverage table (:func:`pixel_coverage`,
    one row per system, run and interval width). ``reference`` names the run the others' posterior
    means are compared with (default: the first); ``mean_shift`` is the RMS difference of
    the two posterior means over the RMS posterior std of the reference.
    """
    from galprior.lensing.products import score_simulator, truth_sources
    from galprior.lensing.operator import LensingOperator
    from galprior.store import SdeEvaluationSet

    names = list(runs)
    reference = reference or names[0]
    first = runs[names[0]]
    size = first.samples.shape[-1]
    truth = truth_sources(mocks, size)
    sim = score_simulator(mocks, dtype=torch.float64)
    n_sys, n_runs = len(mocks.observations), len(names)
    h, w = mocks.observations.shape[-2:]
    shape = (n_sys, n_runs)
    out = {k: np.zeros(shape + (size, size), np.float32) for k in
           ("posterior_mean", "posterior_std", "residual_snr_source", "magnification")}
    snr_lens = np.zeros(shape + (h, w), np.float32)
    n_model = min(n_model_images, first.samples.shape[1])
    model_images = np.zeros(shape + (n_model, h, w), np.float32)
    chi2 = np.zeros(shape + (first.samples.shape[1],))
    rows, mag_rows, coverage_rows = [], [], []
    for r, name in enumerate(names):
        run = runs[name]
        op = LensingOperator(sim, torch.as_tensor(run.lens_parameters), torch.as_tensor(run.source_parameters),
                             (size, size), validate=False)
        # the magnification of the true lens for the known-lens runs, of the MAP lens otherwise
        mag = magnification_map(op, float(mocks.attrs["pixel_scale"]), run.source_parameters[:, 1])
        for s in range(n_sys):
            op_s = LensingOperator(sim, torch.as_tensor(run.lens_parameters[[s]]),
                                   torch.as_tensor(run.source_parameters[[s]]), (size, size), validate=False)
            x = torch.as_tensor(run.samples[s], dtype=torch.float64)
            with torch.no_grad():
                ax = LensingOperator(sim, torch.as_tensor(run.lens_parameters[[s] * len(x)]),
                                     torch.as_tensor(run.source_parameters[[s] * len(x)]), (size, size),
                                     validate=False).forward(x).numpy()
                mask = op_s.forward(torch.ones(1, size, size, dtype=torch.float64)).numpy()[0] > 0
            summary = posterior_summary(run.samples[s], truth[s])
            sigma = float(mocks.noise_sigma[s])
            with torch.no_grad():
                mean_image = op_s.forward(torch.as_tensor(summary["mean"][None], dtype=torch.float64)).numpy()[0]
            chi2[s, r] = reduced_chi2(mocks.observations[s], ax, sigma)
            masked = reduced_chi2(mocks.observations[s], ax, sigma, mask)
            out["posterior_mean"][s, r], out["posterior_std"][s, r] = summary["mean"], summary["std"]
            out["residual_snr_source"][s, r] = summary["residual_snr"]
            out["magnification"][s, r] = mag[s]
            snr_lens[s, r] = (mocks.observations[s] - mean_image) / sigma
            model_images[s, r] = ax[:n_model]
            table, rho = std_against_magnification(summary["std"], mag[s])
            coverage_rows += [{"system": s, "run": name, "solver": run.attrs["solver"], "lens": run.attrs["lens"], **row}
                              for row in pixel_coverage(run.samples[s], truth[s], seed=s)]
            mag_rows.append(table.assign(system=s, run=name, spearman=rho))
            rows.append({
                "system": s, "run": name, "solver": run.attrs["solver"], "lens": run.attrs["lens"],
                "covariance": run.attrs.get("likelihood_covariance", "identity"),
                "n_steps": run.attrs["n_steps"], "score_evaluations": run.attrs["score_evaluations"],
                "technique2_probability": run.attrs["technique2_probability"],
                "n_samples": run.samples.shape[1],
                "chi2_nu_median": float(np.median(chi2[s, r])),
                "chi2_nu_16": float(np.percentile(chi2[s, r], 16)),
                "chi2_nu_84": float(np.percentile(chi2[s, r], 84)),
                "chi2_nu_source_pixels_median": float(np.median(masked)),
                "chi2_nu_posterior_mean": float(np.mean(snr_lens[s, r] ** 2)),
                "source_rmse": float(np.sqrt(np.mean((summary["mean"] - truth[s]) ** 2))),
                "std_magnification_spearman": rho,
                "einstein_radius_error": float(run.lens_parameters[s, 0] / mocks.lens_parameters[s, 0] - 1),
                "wall_time_s": float(run.wall_time[s]),
            })
    summary_table = pd.DataFrame(rows)
    ref = names.index(reference)
    shift = []
    for row in rows:
        s, r = row["system"], names.index(row["run"])
        d = out["posterior_mean"][s, r] - out["posterior_mean"][s, ref]
        shift.append(float(np.sqrt(np.mean(d**2)) / np.sqrt(np.mean(out["posterior_std"][s, ref] ** 2))))
    summary_table["mean_shift_vs_" + reference] = shift
    evaluation = SdeEvaluationSet(
        truth=truth.astype(np.float32), residual_snr_lens=snr_lens, model_images=model_images,
        chi2_nu=chi2, observations=mocks.observations.astype(np.float32), **out,
        attrs={"runs": names, "reference": reference,
               "solvers": [runs[n].attrs["solver"] for n in names],
               "lens_modes": [runs[n].attrs["lens"] for n in names],
               "n_steps": [int(runs[n].attrs["n_steps"]) for n in names]})
    return evaluation, summary_table, pd.concat(mag_rows, ignore_index=True), pd.DataFrame(coverage_rows)


#: the columns of :func:`operator_checks`, in order
OPERATOR_CHECK_COLUMNS = ("n_image_pixels", "n_seen_pixels", "n_source_pixels", "diagonal_max", "diagonal_median",
                          "offdiagonal_nonzero_fraction", "offdiagonal_mass_fraction", "eigenvalue_max",
                          "eigenvalue_median", "eigenvalues_above_2_fraction", "eigenvalues_below_half_fraction")


def operator_checks(matrix: np.ndarray, rtol: float = 1e-12) -> dict[str, float]:
    """App. A's checks of A A^T ~ 1 (the assumption that gives eq. 19) for one dense A
    (image pixels x source pixels, :meth:`LensingOperator.matrix`).

    The paper checks that "only a small fraction of off-diagonal elements are nonzero" and
    that the diagonal is at most 1 (lensing conserves surface brightness); rows of zeros
    (image pixels whose rays miss the source grid, footnote 3) are left out. Reported:
    the image pixels that see the source, the diagonal's largest and median value, the
    fraction of off-diagonal elements that are nonzero and the off-diagonal share of the
    absolute row mass, and the spectrum of A A^T (its nonzero eigenvalues are A^T A's):
    the largest eigenvalue and the fractions of the nonzero eigenvalues above 2 and below
    1/2 -- the directions where eq. 19's variance sigma_N^2 + sigma(t)^2 misstates the exact
    sigma_N^2 + sigma(t)^2 lambda by more than a factor 2 once sigma(t) dominates.
    """
    a = np.asarray(matrix, np.float64)
    seen = np.abs(a).sum(1) > 0
    g = a[seen] @ a[seen].T
    diag = np.diag(g)
    off = g - np.diag(diag)
    n = len(g)
    nonzero = np.abs(off) > rtol * np.abs(g).max()
    eig = np.linalg.eigvalsh(a.T @ a)
    eig = eig[eig > rtol * eig.max()]
    return {"n_image_pixels": int(a.shape[0]), "n_seen_pixels": int(n), "n_source_pixels": int(a.shape[1]),
            "diagonal_max": float(diag.max()), "diagonal_median": float(np.median(diag)),
            "offdiagonal_nonzero_fraction": float(nonzero.sum() / max(n * (n - 1), 1)),
            "offdiagonal_mass_fraction": float(np.abs(off).sum() / np.abs(g).sum()),
            "eigenvalue_max": float(eig.max()), "eigenvalue_median": float(np.median(eig)),
            "eigenvalues_above_2_fraction": float(np.mean(eig > 2.0)),
            "eigenvalues_below_half_fraction": float(np.mean(eig < 0.5))}


def expected_coverage(width: float, n_samples: int) -> float:
    """P(|truth - mean| < width x std) for a calibrated posterior of ``n_samples`` draws.

    With the truth and the n draws exchangeable (the truth a draw of the same posterior),
    (truth - mean) / (std sqrt(1 + 1/n)) follows Student's t with n - 1 degrees of freedom
    for a Gaussian posterior (std with ddof = 1): the expectation for finite n, not the
    Gaussian 0.683 / 0.954.
    """
    return float(2 * student_t.cdf(width / np.sqrt(1 + 1 / n_samples), n_samples - 1) - 1)


def pixel_coverage(samples: np.ndarray, truth: np.ndarray, block: int = 4, n_bootstrap: int = 1000,
                   seed: int = 0) -> list[dict[str, float]]:
    """Per-pixel coverage of one posterior (samples (N, M, M), truth (M, M)) in the source
    region (truth > ``SOURCE_REGION_FRACTION`` of its peak): the fraction of its pixels with
    |mean - truth| < k std for each k of ``COVERAGE_WIDTHS``, beside :func:`expected_coverage`.

    Neighbouring pixels' errors are correlated, so the Monte-Carlo error of a fraction is
    not binomial: it is the standard deviation over ``n_bootstrap`` resamples of
    ``block`` x ``block`` pixel blocks (a block bootstrap; seeded). ``z`` is (coverage -
    expected) / error: |z| <= 2 is coverage within its Monte-Carlo error.
    """
    x = np.asarray(samples, np.float64)
    truth = np.asarray(truth, np.float64)
    n = len(x)
    mean, std = x.mean(0), x.std(0, ddof=1)
    region = truth > SOURCE_REGION_FRACTION * truth.max()
    size = truth.shape[-1]
    blocks = (np.arange(size)[:, None] // block) * ((size + block - 1) // block) + np.arange(size)[None] // block
    ids = np.unique(blocks[region])
    counts = np.bincount(blocks[region], minlength=blocks.max() + 1)[ids].astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.choice(len(ids), size=(n_bootstrap, len(ids)))
    rows = []
    for k in COVERAGE_WIDTHS:
        inside = np.abs(mean - truth) < k * std
        hits = np.bincount(blocks[region], weights=inside[region], minlength=blocks.max() + 1)[ids]
        boot = hits[draws].sum(1) / counts[draws].sum(1)
        value, error = float(hits.sum() / counts.sum()), float(boot.std(ddof=1))
        expected = expected_coverage(k, n)
        rows.append({"width_std": k, "n_samples": n, "n_pixels": int(region.sum()), "coverage": value,
                     "expected": expected, "mc_error": error,
                     "z": (value - expected) / error if error > 0 else float("nan")})
    return rows


def operator_check_table(mocks) -> pd.DataFrame:
    """:func:`operator_checks` of the true-lens operator of every mock system (one row each),
    with the system's noise level, in float64.

    The checks need the dense A; above :data:`galprior.lensing.operator.DENSE_SPECTRUM_LIMIT`
    source pixels (the paper's 256^2 sources: a 16,384 x 65,536 matrix) only the largest
    eigenvalue is computed, by power iteration (:func:`galprior.lensing.operator.largest_eigenvalue`),
    and the other columns are NaN (logged)."""
    from galprior.lensing.operator import DENSE_SPECTRUM_LIMIT, LensingOperator, largest_eigenvalue
    from galprior.lensing.products import score_simulator

    sim = score_simulator(mocks, dtype=torch.float64)
    size = mocks.sources.shape[-1]
    dense = size * size <= DENSE_SPECTRUM_LIMIT
    if not dense:
        logger.info(
            "%d^2 sources: app. A's dense checks need at most %d source pixels; only lambda_max "
            "(power iteration)", size, DENSE_SPECTRUM_LIMIT)
    rows = []
    for s in range(len(mocks.observations)):
        op = LensingOperator(sim, torch.as_tensor(mocks.lens_parameters[[s]]),
                             torch.as_tensor(mocks.source_parameters[[s]]), (size, size), validate=False)
        checks = (operator_checks(op.matrix()[0].cpu().numpy()) if dense
                  else {"n_source_pixels": size * size, "eigenvalue_max": float(largest_eigenvalue(op, n_iter=50)[0])})
        rows.append({"system": s, "noise_sigma": float(mocks.noise_sigma[s]), **checks})
    return pd.DataFrame(rows).reindex(columns=["system", "noise_sigma", *OPERATOR_CHECK_COLUMNS])

