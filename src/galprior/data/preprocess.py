"""Stamp preprocessing shared by every galaxy source: crops, resampling, S/N and cuts.

Pure numpy (plus ``skimage.measure.block_reduce``). Every source (real COSMOS,
simulated) first produces :class:`RawStamp` records at its native pixel scale; the
product builders in :mod:`galprior.data.galaxies` then call the functions here, so
both sources go through exactly the same processing.

Resampling
----------
:func:`resample_area` is an *area-weighted (pixel-overlap) resampling*: each input
pixel's flux is shared between the output pixels it overlaps, in proportion to the
overlapping area. It conserves the total flux exactly, is anti-aliased by construction
(box filter of the output pixel) and, for an integer factor, reduces to a block sum.
It is separable, ``out = A @ image @ A.T`` with ``A`` the 1-D overlap matrix, so the
noise variance of the output follows exactly from ``A`` and the input noise
correlation (:func:`resampled_noise_variance`). Images keep their unit per pixel
(flux per pixel, e.g. e-/s), so a downscaled stamp has larger pixel values.

Chianese et al. (2020) S/N heuristic
------------------------------------
``snr = max(I_{1/4}) / sigma_noise`` where ``I_{1/4}`` is the stamp block-averaged by
4 x 4 pixels and ``sigma_noise`` the per-pixel noise standard deviation of the stamp
(:func:`chianese_snr`); galaxies with ``15 <= snr <= 50`` are kept. The heuristic is
invariant to the image normalisation (numerator and denominator scale alike).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
from skimage.measure import block_reduce

logger = logging.getLogger(__name__)


@dataclass
class RawStamp:
    """One galaxy stamp with its PSF, noise and properties, before or after a product.

    Attributes:
        ident: source identifier (COSMOS IDENT, or running index for simulated data).
        image: observed (noisy) stamp, shape (H, W). Unit: image unit (e-/s per pixel
            for native COSMOS / simulated stamps).
        noiseless: noiseless truth, same shape as ``image``; None for real data.
        psf: effective PSF image (pixel response included) at the stamp's pixel
            scale, sums to 1, shape (P, P), centred on pixel (P // 2, P // 2).
        noise_variance: per-pixel noise variance. Unit: image unit squared.
        noise_correlation: normalised noise correlation function xi(dy, dx)/xi(0, 0)
            on a (2k+1, 2k+1) grid of pixel lags, or None for white noise.
        pixel_scale: pixel size. Unit: arcsec.
        mag: AB magnitude. Unit: mag.
        half_light_radius: half-light radius (NaN if unknown). Unit: arcsec.
        flux_radius: SExtractor-like flux radius of the observed light. Unit: arcsec.
        redshift: (photometric) redshift.
        source_file: file the stamp was read from ("" for simulated), for messages.
        parametric: noiseless parametric model of the galaxy convolved with ``psf``,
            same shape as ``image`` (simulated: its smooth bulge + disk; COSMOS: the
            catalogue's Sersic or bulge + disk fit), or None when not drawn.
    """

    ident: int
    image: np.ndarray
    noiseless: np.ndarray | None
    psf: np.ndarray
    noise_variance: float
    noise_correlation: np.ndarray | None
    pixel_scale: float
    mag: float
    half_light_radius: float
    flux_radius: float
    redshift: float
    source_file: str = ""
    parametric: np.ndarray | None = None


def noise_power_spectrum(noise_variance: float, noise_correlation: np.ndarray | None,
                         shape: tuple[int, int]) -> np.ndarray:
    """Power spectrum ``P_k = E|DFT(n)_k|^2`` of a stationary noise on a stamp of ``shape``.

    The covariance at each pixel lag, ``noise_variance * noise_correlation`` (None:
    white noise), is wrapped onto the periodic ``shape`` grid; for a circulant
    covariance ``C`` on ``N`` pixels, ``E|DFT(n)_k|^2 = N lambda_k(C)`` (numpy's
    unnormalised FFT, unshifted order), so white noise gives ``N * noise_variance``
    everywhere. Negative values from a truncated correlation function are clipped at
    1e-6 of the mean. Unit: image unit squared times pixels.
    """
    h, w = shape
    if noise_correlation is None:
        return np.full(shape, h * w * noise_variance, dtype=np.float64)
    k = noise_correlation.shape[0] // 2
    if noise_correlation.shape != (2 * k + 1, 2 * k + 1) or 2 * k + 1 > min(h, w):
        raise ValueError(f"noise_correlation of shape {noise_correlation.shape} does not fit "
                         f"a stamp of shape {shape}; expected (2k+1, 2k+1) lags, 2k+1 <= side")
    cov = np.zeros(shape)
    lags = np.arange(-k, k + 1)
    cov[np.ix_(lags % h, lags % w)] = noise_variance * noise_correlation
    power = h * w * np.fft.fft2(cov).real
    return np.clip(power, 1e-6 * power.mean(), None)


def check_finite(stamp: RawStamp) -> None:
    """Raise ValueError naming the galaxy and file if its image or PSF is not finite, or
    if its image or PSF holds only zeros (a blank stamp: no galaxy to learn from)."""
    where = f" in {stamp.source_file}" if stamp.source_file else ""
    for name in ("image", "noiseless", "psf", "parametric"):
        value = getattr(stamp, name)
        if value is not None and not np.all(np.isfinite(value)):
            raise ValueError(
                f"galaxy IDENT={stamp.ident}{where}: {name} holds "
                f"{int(np.sum(~np.isfinite(value)))} NaN/inf pixels; expected a finite image"
            )
    for name in ("image", "psf"):
        if not np.any(getattr(stamp, name)):
            raise ValueError(f"galaxy IDENT={stamp.ident}{where}: {name} holds only zeros; "
                             "expected a galaxy stamp (the file may be corrupted)")


def crop_to_square(image: np.ndarray) -> np.ndarray:
    """Centred crop of a (H, W) image to its smaller side, (S, S) with S = min(H, W)."""
    height, width = image.shape
    side = min(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    return image[top:top + side, left:left + side]


def overlap_matrix(n_in: int, n_out: int, ratio: float, centre_in: float,
                   centre_out: float) -> np.ndarray:
    """1-D area-overlap weights A (n_out, n_in) of output pixels onto input pixels.

    Input pixel ``j`` covers ``[j - 1/2, j + 1/2]`` (input pixel units); output pixel
    ``i`` covers ``centre_in + (i - centre_out) * ratio +- ratio / 2``. ``A[i, j]`` is the
    overlap length, so each column sums to at most 1 and a fully covered input pixel's
    flux is conserved. ``ratio`` is output pixel size / input pixel size.
    """
    centres = centre_in + (np.arange(n_out) - centre_out) * ratio
    lo = centres - ratio / 2
    hi = centres + ratio / 2
    j = np.arange(n_in)
    return np.clip(np.minimum(hi[:, None], j[None, :] + 0.5)
                   - np.maximum(lo[:, None], j[None, :] - 0.5), 0.0, None)


def resample_area(image: np.ndarray, n_out: int, ratio: float | None = None,
                  centred_on_pixel: bool = False) -> np.ndarray:
    """Flux-conserving area-weighted resampling of a square image to (n_out, n_out).

    Args:
        image: square (n, n) image, unit per pixel.
        n_out: output side in pixels.
        ratio: output pixel size / input pixel size; default ``n / n_out`` (the whole
            image maps onto the whole output, edges aligned).
        centred_on_pixel: map input pixel ``n // 2`` onto output pixel ``n_out // 2``
            (GalSim's centre convention, used for PSFs) instead of aligning the
            geometric centres.

    Returns:
        (n_out, n_out) image whose sum equals the input sum when the output covers it.
    """
    n = image.shape[0]
    if image.ndim != 2 or image.shape[1] != n:
        raise ValueError(f"resample_area expects a square 2-D image, got shape {image.shape}")
    ratio = n / n_out if ratio is None else ratio
    if centred_on_pixel:
        centre_in, centre_out = float(n // 2), float(n_out // 2)
    else:
        centre_in, centre_out = (n - 1) / 2, (n_out - 1) / 2
    a = overlap_matrix(n, n_out, ratio, centre_in, centre_out)
    return a @ image @ a.T


def resample_mean(image: np.ndarray, n_out: int) -> np.ndarray:
    """A square image resampled to (n_out, n_out) keeping its surface brightness: the
    area-weighted :func:`resample_area` divided by the pixel-area ratio (n / n_out)^2.

    The one resampling of galaxy images between resolutions, both ways: down it is the mean
    of the input pixels each output pixel covers (anti-aliased; the block mean for an
    integer factor), up each input pixel is spread over the output pixels it covers
    (piecewise constant: no detail finer than the input pixels is invented, and resampling
    back down returns the input). Unit: the input's per-pixel unit (a surface brightness).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or image.shape[0] != image.shape[1]:
        raise ValueError(f"resample_mean expects a square 2-D image, got shape {image.shape}")
    n = image.shape[0]
    if n == n_out:
        return image.copy()
    return resample_area(image, n_out) * (n_out / n) ** 2


def resampled_noise_variance(noise_variance: float, n_in: int, n_out: int,
                             noise_correlation: np.ndarray | None = None) -> float:
    """Per-pixel noise variance after :func:`resample_area` (geometric centres).

    Exact for stationary noise with normalised correlation ``noise_correlation``
    (None: white noise), averaged over output pixels. Unit: image unit squared.
    """
    a = overlap_matrix(n_in, n_out, n_in / n_out, (n_in - 1) / 2, (n_out - 1) / 2)
    if noise_correlation is None:
        per_axis = np.mean(np.sum(a**2, axis=1))
        return float(noise_variance * per_axis**2)
    k = noise_correlation.shape[0] // 2
    lags = np.arange(-k, k + 1)
    # g[d] = mean_i sum_j A[i, j] A[i, j + d]
    g = np.array([np.mean(np.sum(a[:, max(0, -d):n_in - max(0, d)]
                                 * a[:, max(0, d):n_in - max(0, -d)], axis=1))
                  if abs(d) < n_in else 0.0 for d in lags])
    return float(noise_variance * np.sum(noise_correlation * np.outer(g, g)))


def fit_psf(psf: np.ndarray, size: int) -> np.ndarray:
    """Centred crop or zero-pad of a PSF to (size, size), renormalised to sum 1.

    Pixel ``n // 2`` of the input stays pixel ``size // 2`` of the output.
    """
    n = psf.shape[0]
    out = np.zeros((size, size), dtype=np.float64)
    offset = size // 2 - n // 2  # output index = input index + offset
    src_lo, src_hi = max(0, -offset), min(n, size - offset)
    out[src_lo + offset:src_hi + offset, src_lo + offset:src_hi + offset] = \
        psf[src_lo:src_hi, src_lo:src_hi]
    return normalise_psf(out)


def normalise_psf(psf: np.ndarray) -> np.ndarray:
    """PSF divided by its sum; ValueError if the sum is not positive and finite."""
    total = float(np.sum(psf))
    if not np.isfinite(total) or total <= 0:
        raise ValueError(f"PSF image sums to {total}; expected a positive finite sum")
    return psf / total


def normalise_by_max(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Image divided by its maximum pixel, and that maximum (the scale factor).

    Raises ValueError when the maximum is not positive (nothing to normalise by).
    """
    peak = float(np.max(image))
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError(f"cannot normalise by the maximum: the maximum pixel is {peak}")
    return image / peak, peak


def block_mean(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Image averaged over ``factor x factor`` blocks (``skimage`` ``block_reduce``).

    A side not divisible by ``factor`` is padded with zeros by ``block_reduce``; the
    64-pixel stamps used here divide evenly.
    """
    return block_reduce(image, block_size=(factor, factor), func=np.mean, cval=0.0)


def chianese_snr(image: np.ndarray, noise_std: float, factor: int = 4) -> float:
    """Chianese et al. (2020) heuristic S/N: ``max(block_mean(image, factor)) / noise_std``.

    Args:
        image: stamp (unit per pixel).
        noise_std: per-pixel noise standard deviation of that stamp, same unit.
        factor: block-averaging factor (4 in the paper).
    """
    if noise_std <= 0 or not np.isfinite(noise_std):
        raise ValueError(f"noise_std must be positive and finite, got {noise_std}")
    return float(np.max(block_mean(image, factor)) / noise_std)


def select_chianese(stamp_sizes: np.ndarray, snr: np.ndarray, *, min_stamp_size: int = 64,
                    snr_min: float = 15.0, snr_max: float = 50.0,
                    ) -> tuple[np.ndarray, Counter]:
    """Boolean mask of the stamps kept by the Chianese cuts, and the drop counts.

    Cuts are applied in order and each galaxy is counted once, under the first cut
    that drops it: ``stamp_too_small`` (min side < ``min_stamp_size`` pixels),
    ``snr_too_low`` (snr < ``snr_min``), ``snr_too_high`` (snr > ``snr_max``). ``snr``
    may be NaN for too-small stamps (never computed).
    """
    stamp_sizes = np.asarray(stamp_sizes)
    snr = np.asarray(snr, dtype=np.float64)
    small = stamp_sizes < min_stamp_size
    low = ~small & ~(snr >= snr_min)
    high = ~small & ~low & (snr > snr_max)
    keep = ~(small | low | high)
    counts = Counter({"stamp_too_small": int(small.sum()), "snr_too_low": int(low.sum()),
                      "snr_too_high": int(high.sum()), "kept": int(keep.sum())})
    logger.debug("Chianese cuts on %d stamps: %s", len(keep), dict(counts))
    return keep, counts


def chianese_stamp(stamp: RawStamp, *, output_size: int = 64, psf_size: int = 32,
                   snr_block: int = 4) -> tuple[RawStamp, float]:
    """Crop to square, resample to ``output_size``, S/N, then divide by the maximum.

    The noiseless image and the noise variance are transformed with the image (same
    crop, resampling and division by the observed image's maximum); the PSF is
    resampled by the same ratio about its centre pixel and fitted to ``psf_size``.

    Returns:
        The processed stamp (pixel scale multiplied by the resampling ratio) and its
        Chianese S/N computed on the resampled stamp before normalisation.
    """
    image = crop_to_square(stamp.image)
    side = image.shape[0]
    ratio = side / output_size
    resampled = resample_area(image, output_size)
    variance = resampled_noise_variance(stamp.noise_variance, side, output_size,
                                        stamp.noise_correlation)
    snr = chianese_snr(resampled, np.sqrt(variance), snr_block)
    normalised, peak = normalise_by_max(resampled)
    noiseless = None
    if stamp.noiseless is not None:
        noiseless = resample_area(crop_to_square(stamp.noiseless), output_size) / peak
    psf = fit_psf(resample_area(stamp.psf, psf_size, ratio=ratio, centred_on_pixel=True),
                  psf_size)
    out = replace(stamp, image=normalised, noiseless=noiseless, psf=psf,
                  noise_variance=variance / peak**2, noise_correlation=None,
                  pixel_scale=stamp.pixel_scale * ratio, parametric=None)
    return out, snr
