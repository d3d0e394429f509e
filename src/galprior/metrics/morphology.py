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

Two-sample comparisons (beyond the paper, which compares histograms by eye; the
statistics are in :mod:`galprior.metrics.two_sample`):

- :func:`two_sample_test`: the energy distance (Székely & Rizzo 2013) between the data and
  one generated sample, with the p-value of a paired test (random swaps of a galaxy and
  its twin) and of the pooled permutation test;
- :func:`comparison_table`: per statistic and per family (size/shape, Gini-M20, MID) the
  distance with a galaxy-bootstrap interval, the test's p-value, the galaxies the test
  would need where it cannot decide, and the Flow-VAE's margin over the parametric twins
  with its paired interval; :func:`morphology_summary` puts them beside the means.
"""

from __future__ import annotations

import functools
import logging
import warnings

import galsim
import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter
from galprior.metrics import two_sample
from galprior.metrics.two_sample import energy_distance  # noqa: F401 (re-exported)
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


# -- two-sample statistics (the statistics themselves: galprior.metrics.two_sample) -----

def two_sample_test(x: np.ndarray, y: np.ndarray, *, n_bootstrap: int, n_permutations: int,
                    seed: int, alpha: float) -> dict[str, float]:
    """Energy distance between galaxy-paired samples ``x`` and ``y`` (rows ``(N, d)``), two tests.

    ``distance``: the unbiased paired estimate
    (:func:`~galprior.metrics.two_sample.paired_energy_distance`, finite rows) with its
    galaxy-bootstrap std ``distance_std``; ``p_value``: the paired test
    (:func:`~galprior.metrics.two_sample.swap_distances`: the estimate on the ``n_pairs``
    complete pairs, ``paired_statistic``, against random swaps within pairs), with
    ``critical_value`` the ``1 - alpha`` quantile of its swap distribution;
    ``energy_distance``: the V-statistic of all finite rows and ``p_value_unpaired`` its
    permutation test on the pooled sample (blind to the pairing, conservative).
    """
    x, y = two_sample._as_2d(x), two_sample._as_2d(y)
    fx, fy = x[np.isfinite(x).all(1)], y[np.isfinite(y).all(1)]
    n_pairs = int((np.isfinite(x).all(1) & np.isfinite(y).all(1)).sum())
    out = {"energy_distance": np.nan, "p_value_unpaired": np.nan, "p_value": np.nan,
           "paired_statistic": np.nan, "critical_value": np.nan, "distance": np.nan,
           "distance_std": np.nan, "n_x": len(fx), "n_y": len(fy), "n_pairs": n_pairs}
    if len(fx) < 2 or len(fy) < 2:
        return out
    out["energy_distance"] = energy_distance(fx, fy)
    permuted = two_sample.permutation_distances(fx, fy, n_permutations=n_permutations,
                                                seed=seed)
    out["p_value_unpaired"] = two_sample.permutation_p_value(out["energy_distance"], permuted)
    if n_pairs >= 2:
        observed, swapped = two_sample.swap_distances(x, y, n_permutations=n_permutations,
                                                      seed=seed + 1)
        out.update(paired_statistic=observed,
                   p_value=two_sample.permutation_p_value(observed, swapped),
                   critical_value=float(np.quantile(swapped, 1 - alpha)) if len(swapped)
                   else np.nan)
    estimate, boot = two_sample.galaxy_bootstrap(x, [y], n_bootstrap=n_bootstrap, seed=seed + 2)
    out.update(distance=float(estimate[0]), distance_std=two_sample.bootstrap_std(boot[0]))
    return out


def standardise_like(reference: pd.DataFrame, other: pd.DataFrame,
                     columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Both tables' ``columns`` scaled by the reference sample's mean and std (NaN-safe)."""
    mean = reference[list(columns)].mean()
    std = reference[list(columns)].std().replace(0, 1.0)
    return (((reference[list(columns)] - mean) / std).to_numpy(),
            ((other[list(columns)] - mean) / std).to_numpy())


SAMPLES = ("cosmos", "parametric", "flowvae")
SECOND_ORDER = ("sigma", "abs_g")
GINI_M20 = ("gini", "m20")
MID = ("multimode", "intensity", "deviation")
# The statistic families of the decision (size/shape, Gini-M20, MID; Lanusse et al. Figs. 6, 9, 8)
FAMILIES = {"second_order": SECOND_ORDER, "gini_m20": GINI_M20, "mid": MID}
GROUPS = {**{c: (c,) for c in SECOND_ORDER + HIGHER_ORDER}, **FAMILIES,
          "higher_order": HIGHER_ORDER}


def _sem(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.std() / np.sqrt(len(values))) if len(values) > 1 else np.nan


def _by_galaxy(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values("galaxy") if "galaxy" in table else table


def comparison_table(measurements: pd.DataFrame, *, n_bootstrap: int, n_permutations: int,
                     seed: int, alpha: float, power: float, confidence: float) -> pd.DataFrame:
    """Energy-distance comparison of each generated sample with the data, per statistic group.

    One row per (generated sample, group of :data:`GROUPS`), each group's statistics
    scaled by the data's std. Columns: ``distance`` (unbiased paired estimate) with its
    ``confidence`` percentile interval ``distance_low``/``distance_high`` and std from
    ``n_bootstrap`` resamples of the galaxies; ``p_value``: the paired swap test
    (``n_permutations`` swaps, :func:`two_sample_test`), ``decided``: ``p_value < alpha``;
    ``energy_distance`` (V-statistic) and ``p_value_unpaired``: the pooled permutation
    test, blind to the pairing; ``n_for_power``: where the paired test does not decide,
    the test galaxies at which it would with probability ``power``
    (:func:`~galprior.metrics.two_sample.sample_size_for_power`; inf where no difference
    is seen); on the Flow-VAE rows, ``difference_to_parametric`` =
    parametric's ``distance`` minus the Flow-VAE's (positive: the Flow-VAE is closer to the
    data) with its paired interval ``difference_low``/``difference_high`` (the same galaxy
    resamples for both distances).

    Args:
        measurements: :func:`measure_morphology` rows with a ``sample`` column (``cosmos``
            is the reference) and a ``galaxy`` column pairing the samples' rows (or rows in
            the same galaxy order in every sample).
    """
    reference = _by_galaxy(measurements[measurements["sample"] == "cosmos"])
    present = [s for s in SAMPLES[1:] if s in set(measurements["sample"])]
    tables = {s: _by_galaxy(measurements[measurements["sample"] == s]) for s in present}
    for sample, table in tables.items():
        if len(table) != len(reference):
            raise ValueError(f"sample {sample!r} has {len(table)} galaxies, the data "
                             f"{len(reference)}: the samples must be paired galaxy by galaxy")
    rows = []
    for g, (group, columns) in enumerate(GROUPS.items()):
        scaled = {s: standardise_like(reference, t, columns) for s, t in tables.items()}
        ref = next(iter(scaled.values()))[0] if scaled else None
        estimate, boot = two_sample.galaxy_bootstrap(
            ref, [scaled[s][1] for s in present], n_bootstrap=n_bootstrap, seed=seed + 1000 + g)
        low, high = two_sample.percentile_interval(boot, confidence)
        for k, sample in enumerate(present):
            test = two_sample_test(ref, scaled[sample][1], n_bootstrap=0,
                                   n_permutations=n_permutations, seed=seed + 100 * k + g,
                                   alpha=alpha)
            row = {"sample": sample, "statistic": group, "n_galaxies": len(reference),
                   "n_x": test["n_x"], "n_y": test["n_y"], "n_pairs": test["n_pairs"],
                   "energy_distance": test["energy_distance"],
                   "p_value_unpaired": test["p_value_unpaired"], "p_value": test["p_value"],
                   "distance": estimate[k], "distance_low": low[k], "distance_high": high[k],
                   "distance_std": two_sample.bootstrap_std(boot[k])}
            row["decided"] = bool(row["p_value"] < alpha)
            undecided = np.isfinite(row["p_value"]) and not row["decided"]
            # the paired test's statistic is the unbiased estimate itself (no offset); pairs
            # are counted back to test galaxies at the observed fraction of complete pairs
            row["n_for_power"] = np.nan if not undecided else float(np.ceil(
                two_sample.sample_size_for_power(
                    power, n_observed=test["n_pairs"], distance=test["paired_statistic"],
                    distance_std=row["distance_std"], statistic=test["paired_statistic"],
                    critical_value=test["critical_value"]) * len(reference) / test["n_pairs"]))
            if sample == "flowvae" and "parametric" in present:
                p = present.index("parametric")
                difference = boot[p] - boot[k]
                d_low, d_high = two_sample.percentile_interval(difference, confidence)
                row.update(difference_to_parametric=estimate[p] - estimate[k],
                           difference_low=float(d_low), difference_high=float(d_high))
            rows.append(row)
    return pd.DataFrame(rows)


def morphology_summary(measurements: pd.DataFrame, *, n_bootstrap: int, n_permutations: int,
                       seed: int, alpha: float, power: float,
                       confidence: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figures 6, 8, 9 in numbers: one row per sample, and the two-sample comparisons.

    Args:
        measurements: :func:`measure_morphology` rows with a ``sample`` column
            (``cosmos``, ``parametric``, ``flowvae``; ``cosmos`` is the reference) and a
            ``galaxy`` column.

    Returns:
        ``summary``: per sample ``n``, means and standard errors of ``sigma`` (arcsec),
        ``|g|`` and each higher-order statistic, the relative differences of the mean
        size and mean ``|g|`` to the reference; for each generated sample and each family
        of :data:`FAMILIES` and ``higher_order``: ``distance_<group>`` with
        ``_low``/``_high``, ``p_value_<group>`` (paired test), ``p_value_unpaired_<group>``,
        ``n_for_power_<group>`` and, on the
        Flow-VAE row, ``difference_to_parametric_<group>`` with ``_low``/``_high``
        (:func:`comparison_table`); ``distance_to_cosmos`` (with ``_std``) and ``p_value``
        are those of ``higher_order`` (Gini, M20, M, I, D). ``tests``:
        :func:`comparison_table`.
    """
    reference = measurements[measurements["sample"] == "cosmos"]
    tests = comparison_table(measurements, n_bootstrap=n_bootstrap,
                             n_permutations=n_permutations, seed=seed, alpha=alpha,
                             power=power, confidence=confidence)
    rows = []
    for sample in (s for s in SAMPLES if s in set(measurements["sample"])):
        table = measurements[measurements["sample"] == sample]
        row: dict[str, float | str] = {"sample": sample, "n": len(table)}
        for column in ("sigma", "abs_g") + HIGHER_ORDER:
            name = {"sigma": "mean_sigma", "abs_g": "mean_abs_g"}.get(column, f"{column}_mean")
            row[name] = float(table[column].mean())
            row[f"{name}_err"] = _sem(table[column])
        row["rel_diff_sigma"] = row["mean_sigma"] / float(reference["sigma"].mean()) - 1
        row["rel_diff_abs_g"] = row["mean_abs_g"] / float(reference["abs_g"].mean()) - 1
        mine = tests[tests["sample"] == sample].set_index("statistic")
        if len(mine):
            row["distance_to_cosmos"] = mine.loc["higher_order", "distance"]
            row["distance_to_cosmos_std"] = mine.loc["higher_order", "distance_std"]
            row["p_value"] = mine.loc["higher_order", "p_value"]
            for group in (*FAMILIES, "higher_order"):
                for column in ("distance", "distance_low", "distance_high", "p_value",
                               "p_value_unpaired", "n_for_power", "difference_to_parametric", "difference_low",
                               "difference_high"):
                    if column in mine:
                        row[f"{column}_{group}"] = mine.loc[group, column]
        rows.append(row)
    summary = pd.DataFrame(rows)
    return summary, tests


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
