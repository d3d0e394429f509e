"""Morphology statistics of galaxy images and two-sample tests (Lanusse et al. 2021 sec. 4.4).

Measurements (per image, numpy in, one table row out):

- :func:`hsm_moments`: second moments by GalSim's HSM adaptive moments
  (``galsim.hsm.FindAdaptiveMom``, Bernstein & Jarvis 2002; Hirata & Seljak 2003), as
  the paper: the determinant radius ``sigma = det(Q)^(1/4)`` (HSM's ``moments_sigma``)
  and the ellipticity ``g`` of eq. (17) (HSM's ``observed_shape``, a reduced shear).
- :func:`statmorph_statistics`: Gini and M20 (Lotz et al. 2004) and the M, I, D
  statistics (Freeman et al. 2013) by ``statmorph`` (Rodriguez-Gomez et al. 2019) on
  the segment of the central source. The segmentation (not specified by the paper) is
  ``photutils.segmentation.detect_sources`` on the image smoothed by a Gaussian of
  ``smoothing_sigma`` pixels, above ``threshold_nsigma`` times the noise standard
  deviation, at least ``npixels`` connected pixels; the segment holding the brightest
  smoothed pixel within ``centre_radius`` pixels of the centre is measured. Only the
  five statistics (and what they depend on, e.g. the asymmetry centre behind the Gini
  segment's Petrosian radius) are computed: :class:`_FiveStatistics` skips statmorph's
  other ~50 quantities (CAS, Sérsic fit, shape asymmetry...), with the same values and
  flags at 2/3 of the time.
- :func:`measure_morphology`: both, for a stack of images, as a ``pandas.DataFrame``.

Two-sample comparisons (beyond the paper, which compares histograms by eye):

- :func:`energy_distance`: the energy distance ``2 E|X - Y| - E|X - X'| - E|Y - Y'|``
  (Székely & Rizzo 2013; ``scipy.stats.energy_distance`` is its square root in 1-D,
  and is used as the independent check in the tests), in any dimension;
- :func:`two_sample_test`: the energy distance with a bootstrap standard error and a
  permutation p-value, so "closer to COSMOS" is a number with an uncertainty.
"""

from __future__ import annotations

import functools
import logging
import warnings

import galsim
import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter
from scipy.spatial.distance import cdist
from galprior.progress import progress_bar

logger = logging.getLogger(__name__)

HSM_COLUMNS = ("flux", "sigma", "g1", "g2", "abs_g", "hsm_flag")
STATMORPH_COLUMNS = ("gini", "m20", "multimode", "intensity", "deviation", "statmorph_flag")
HIGHER_ORDER = ("gini", "m20", "multimode", "intensity", "deviation")


def hsm_moments(image: np.ndarray, pixel_scale: float) -> dict[str, float]:
    """HSM adaptive moments of one image: sigma (arcsec), g1, g2, |g| and a flag.

    Also ``flux``, the sum of the stamp's pixels (image unit). ``hsm_flag`` is 0 on
    success; on failure the moments are NaN and the flag 1.
    """
    try:
        result = galsim.hsm.FindAdaptiveMom(galsim.Image(np.asarray(image, np.float64),
                                                         scale=pixel_scale), strict=False)
    except galsim.GalSimError:
        result = None
    flux = float(np.sum(image))
    if result is None or result.moments_status != 0:
        return {"flux": flux, "sigma": np.nan, "g1": np.nan, "g2": np.nan, "abs_g": np.nan,
                "hsm_flag": 1}
    shape = result.observed_shape
    return {"flux": flux, "sigma": result.moments_sigma * pixel_scale, "g1": shape.g1,
            "g2": shape.g2, "abs_g": shape.g, "hsm_flag": 0}


def central_segment(image: np.ndarray, noise_sigma: float, *, threshold_nsigma: float,
                    npixels: int, smoothing_sigma: float, centre_radius: float):
    """photutils segmentation of ``image`` and the label of its central source (or None)."""
    from photutils.segmentation import detect_sources

    smoothed = gaussian_filter(image, smoothing_sigma)
    # the smoothed noise has std noise_sigma / (2 sqrt(pi) s) for a Gaussian of s pixels
    smoothed_noise = noise_sigma / (2 * np.sqrt(np.pi) * smoothing_sigma)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no sources found" is handled below
        segmap = detect_sources(smoothed, threshold_nsigma * smoothed_noise, n_pixels=npixels)
    if segmap is None:
        return None, None
    ny, nx = image.shape
    y, x = np.indices(image.shape)
    near = np.hypot(y - (ny - 1) / 2, x - (nx - 1) / 2) <= centre_radius
    candidates = near & (segmap.data > 0)
    if not candidates.any():
        return segmap, None
    peak = np.argmax(np.where(candidates, smoothed, -np.inf))
    return segmap, int(segmap.data.ravel()[peak])


@functools.cache
def _five_statistics_class():
    """statmorph's ``SourceMorphology`` computing only Gini, M20, M, I, D (lazily, on demand)."""
    import statmorph

    class _FiveStatistics(statmorph.SourceMorphology):
        # statmorph evaluates every lazy property in __init__ (_calculate_morphology); the
        # background check after it needs sky_mean and sky_sigma, the segmap check after it
        # the Gini and MID segments (both computed for the statistics anyway).
        def _calculate_morphology(self):
            for name in HIGHER_ORDER + ("sky_mean", "sky_sigma"):
                getattr(self, name)

    return _FiveStatistics


def statmorph_statistics(image: np.ndarray, noise_sigma: float, *, threshold_nsigma: float,
                         npixels: int, smoothing_sigma: float,
                         centre_radius: float) -> dict[str, float]:
    """Gini, M20, M, I, D of the central source by statmorph, and statmorph's flag.

    ``statmorph_flag`` is statmorph's flag (0 good, 1 suspect, >= 2 bad), or 5 when no
    central source is detected; with a flag >= 2 every value is NaN.
    """
    nan = {c: np.nan for c in STATMORPH_COLUMNS}
    image = np.asarray(image, np.float64)
    segmap, label = central_segment(image, noise_sigma, threshold_nsigma=threshold_nsigma,
                                    npixels=npixels, smoothing_sigma=smoothing_sigma,
                                    centre_radius=centre_radius)
    if label is None:
        return {**nan, "statmorph_flag": 5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            morph = _five_statistics_class()(
                image, segmap, label, weightmap=np.full_like(image, noise_sigma),
                sersic_maxiter=1, min_cutout_size=min(48, image.shape[0]))
        except Exception as err:  # statmorph raises many types on degenerate sources
            logger.debug("statmorph failed: %s", err)
            return {**nan, "statmorph_flag": 5}
    if morph.flag >= 2:  # statmorph's "bad measurement": not used
        return {**nan, "statmorph_flag": int(morph.flag)}
    return {"gini": float(morph.gini), "m20": float(morph.m20),
            "multimode": float(morph.multimode), "intensity": float(morph.intensity),
            "deviation": float(morph.deviation), "statmorph_flag": int(morph.flag)}


def measure_morphology(images: np.ndarray, noise_sigma: np.ndarray, pixel_scale: np.ndarray,
                       *, threshold_nsigma: float, npixels: int, smoothing_sigma: float,
                       centre_radius: float, desc: str = "morphology") -> pd.DataFrame:
    """HSM moments and statmorph statistics of each of ``(N, H, W)`` images.

    Args:
        images: observed images (PSF-convolved, with noise). Unit: image unit.
        noise_sigma: ``(N,)`` per-pixel noise standard deviation. Unit: image unit.
        pixel_scale: ``(N,)`` pixel size. Unit: arcsec.

    Returns:
        One row per image with the columns ``HSM_COLUMNS + STATMORPH_COLUMNS`` (all NaN
        for an image holding NaN).
    """
    rows = []
    for i in progress_bar(range(len(images)), desc=desc, unit="gal"):
        if not np.all(np.isfinite(images[i])):  # e.g. no parametric model for this galaxy
            rows.append({c: np.nan for c in HSM_COLUMNS + STATMORPH_COLUMNS})
            continue
        row = hsm_moments(images[i], float(pixel_scale[i]))
        row.update(statmorph_statistics(
            images[i], float(noise_sigma[i]), threshold_nsigma=threshold_nsigma,
            npixels=npixels, smoothing_sigma=smoothing_sigma, centre_radius=centre_radius))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(HSM_COLUMNS + STATMORPH_COLUMNS))


# -- two-sample statistics --------------------------------------------------------------

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


def two_sample_test(x: np.ndarray, y: np.ndarray, *, n_bootstrap: int, n_permutations: int,
                    seed: int) -> dict[str, float]:
    """Energy distance between ``x`` and ``y`` with a bootstrap error and a permutation p-value.

    NaN rows (failed measurements) are dropped. The bootstrap resamples each sample
    with replacement; the p-value is ``(1 + #{D_perm >= D}) / (1 + n_permutations)``
    under random relabelling of the pooled sample.
    """
    x, y = _as_2d(x), _as_2d(y)
    x, y = x[np.isfinite(x).all(1)], y[np.isfinite(y).all(1)]
    if len(x) < 2 or len(y) < 2:
        return {"energy_distance": np.nan, "energy_distance_std": np.nan, "p_value": np.nan,
                "n_x": len(x), "n_y": len(y)}
    rng = np.random.default_rng(seed)
    observed = energy_distance(x, y)
    boot = [energy_distance(x[rng.integers(0, len(x), len(x))],
                            y[rng.integers(0, len(y), len(y))]) for _ in range(n_bootstrap)]
    pooled = np.concatenate([x, y])
    exceed = 0
    for _ in range(n_permutations):
        perm = rng.permutation(len(pooled))
        exceed += energy_distance(pooled[perm[:len(x)]], pooled[perm[len(x):]]) >= observed
    return {"energy_distance": observed,
            "energy_distance_std": float(np.std(boot)) if boot else np.nan,
            "p_value": (1 + exceed) / (1 + n_permutations), "n_x": len(x), "n_y": len(y)}


def standardise_like(reference: pd.DataFrame, other: pd.DataFrame,
                     columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Both tables' ``columns`` scaled by the reference sample's mean and std (NaN-safe)."""
    mean = reference[list(columns)].mean()
    std = reference[list(columns)].std().replace(0, 1.0)
    return (((reference[list(columns)] - mean) / std).to_numpy(),
            ((other[list(columns)] - mean) / std).to_numpy())


SAMPLES = ("cosmos", "parametric", "flowvae")
SECOND_ORDER = ("sigma", "abs_g")
MID = ("multimode", "intensity", "deviation")


def _sem(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.std() / np.sqrt(len(values))) if len(values) > 1 else np.nan


def morphology_summary(measurements: pd.DataFrame, *, n_bootstrap: int, n_permutations: int,
                       seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figures 6, 8, 9 in numbers: one row per sample, and the two-sample tests.

    Args:
        measurements: :func:`measure_morphology` rows with a ``sample`` column
            (``cosmos``, ``parametric``, ``flowvae``; ``cosmos`` is the reference).

    Returns:
        ``summary``: per sample ``n``, means and standard errors of ``sigma`` (arcsec),
        ``|g|`` and each higher-order statistic, the relative differences of the mean
        size and mean ``|g|`` to the reference, and ``distance_to_cosmos``: the energy
        distance to the reference in the space of the higher-order statistics (Gini,
        M20, M, I, D; each scaled by the reference's std), with its bootstrap std and
        permutation p-value. ``tests``: the same per statistic and for the groups
        ``second_order``, ``mid`` and ``higher_order``.
    """
    reference = measurements[measurements["sample"] == "cosmos"]
    groups = {**{c: (c,) for c in SECOND_ORDER + HIGHER_ORDER},
              "second_order": SECOND_ORDER, "mid": MID, "higher_order": HIGHER_ORDER}
    rows, tests = [], []
    for k, sample in enumerate(s for s in SAMPLES if s in set(measurements["sample"])):
        table = measurements[measurements["sample"] == sample]
        row: dict[str, float | str] = {"sample": sample, "n": len(table)}
        for column in ("sigma", "abs_g") + HIGHER_ORDER:
            name = {"sigma": "mean_sigma", "abs_g": "mean_abs_g"}.get(column, f"{column}_mean")
            row[name] = float(table[column].mean())
            row[f"{name}_err"] = _sem(table[column])
        row["rel_diff_sigma"] = row["mean_sigma"] / float(reference["sigma"].mean()) - 1
        row["rel_diff_abs_g"] = row["mean_abs_g"] / float(reference["abs_g"].mean()) - 1
        for g, (group, columns) in enumerate(groups.items()):
            x, y = standardise_like(reference, table, columns)
            test = two_sample_test(x, y, n_bootstrap=n_bootstrap,
                                   n_permutations=n_permutations, seed=seed + 100 * k + g)
            tests.append({"sample": sample, "statistic": group, **test})
            if group == "higher_order":
                row["distance_to_cosmos"] = test["energy_distance"]
                row["distance_to_cosmos_std"] = test["energy_distance_std"]
                row["p_value"] = test["p_value"]
        rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(tests)


def conditioning_table(cosmos: pd.DataFrame, flowvae: pd.DataFrame,
                       properties: pd.DataFrame, zeropoint: float) -> pd.DataFrame:
    """Fig. 7 per galaxy: size and magnitude differences of each Flow-VAE draw to its galaxy.

    ``delta_sigma`` = relative difference of the HSM determinant radii; ``delta_mag`` =
    magnitude of the draw's stamp flux minus that of the real stamp (both
    ``zeropoint - 2.5 log10(flux)``; NaN for a non-positive flux).
    """
    def mag(flux: pd.Series) -> np.ndarray:
        flux = flux.to_numpy(np.float64)
        return np.where(flux > 0, zeropoint - 2.5 * np.log10(np.abs(flux) + 1e-300), np.nan)

    return pd.DataFrame({
        "mag": properties["mag"].to_numpy(), "half_light_radius":
        properties["half_light_radius"].to_numpy(),
        "delta_sigma": flowvae["sigma"].to_numpy() / cosmos["sigma"].to_numpy() - 1,
        "delta_mag": mag(flowvae["flux"]) - mag(cosmos["flux"]),
    })


def measure_sample(samples, name: str, *, threshold_nsigma: float, npixels: int,
                   smoothing_sigma: float, centre_radius: float) -> pd.DataFrame:
    """:func:`measure_morphology` of one sample (``cosmos``, ``parametric`` or ``flowvae``)
    of a :class:`~galprior.store.MorphologySampleSet`, with its noise and pixel scale."""
    if name not in SAMPLES:
        raise ValueError(f"unknown morphology sample {name!r}; expected one of {SAMPLES}")
    return measure_morphology(getattr(samples, name), samples.noise_sigma, samples.pixel_scale,
                              threshold_nsigma=threshold_nsigma, npixels=npixels,
                              smoothing_sigma=smoothing_sigma, centre_radius=centre_radius,
                              desc=f"morphology of {name}")


def conditioning_numbers(conditioning: pd.DataFrame) -> dict[str, float]:
    """Fig. 7 in numbers: median and robust scatter (1.4826 MAD) of the size and
    magnitude differences (paper: unbiased, ~27 % scatter in size, ~0.3 mag)."""
    out = {}
    for column, name in (("delta_sigma", "size"), ("delta_mag", "mag")):
        values = conditioning[column].dropna().to_numpy()
        median = float(np.median(values)) if len(values) else np.nan
        out[f"conditioning_{name}_median"] = median
        out[f"conditioning_{name}_scatter"] = (float(1.4826 * np.median(np.abs(values - median)))
                                               if len(values) else np.nan)
    return out
