"""Mock strong lenses: lens-parameter priors, source preparation, noisy renders.

Why our own code: the mocks must be rendered with exactly the simulator used for
inference (``LensSimulator``), for whole batches at once and reproducibly seeded.

Two products:

* Chianese et al. 2020 section 5.1: EPL + external shear lenses of COSMOS-like
  sources, 256 x 256 pixels of 0.04 arcsec, Gaussian PSF (0.05 arcsec), three
  noise levels (default 0.333, 0.1, 0.0333 in units of the image, i.e. relative to a
  source of peak ``intensity``), S/N by eqs. 24-25 (``func.snr``).
* Adam et al. 2022: SIE + shear (slope fixed at 2), rendered noise-free on 256 x 256
  and average-pooled to 128 x 128, noise sigma_N = relative_noise x source peak
  (paper: 0.01).

Lens prior (``sample_lens_parameters``). The text of Chianese et al. eqs. 18-23 could
not be retrieved while writing this module, so these are OUR stand-in distributions
(flagged for the lead to check against the paper), with the truncations that keep
every draw physical:

=================  ===========================================  =================
parameter          distribution                                 truncation
=================  ===========================================  =================
einstein_radius    U(1.0, 2.0) arcsec                           > 0 by construction
slope              N(2.0, 0.2)                                  [1.2, 2.8] (resampled)
axis_ratio         U(0.4, 1.0)                                  (0, 1] by construction
position_angle     U(0, pi) radians                             --
x0, y0             N(0, 0.05) arcsec each                       --
gamma1, gamma2     N(0, 0.05) each                              |gamma_i| <= 0.2 (resampled)
=================  ===========================================  =================
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from numpy.typing import NDArray

from .func.instrument import add_gaussian_noise
from .func.snr import signal_to_noise
from .simulator import LENS_PARAMETER_NAMES, LensSimulator

__all__ = [
    "CHIANESE_NOISE_LEVELS",
    "sample_lens_parameters",
    "make_source",
    "render_mock_lenses",
    "render_adam_mocks",
]

log = logging.getLogger(__name__)

CHIANESE_NOISE_LEVELS = (0.333, 0.1, 0.0333)


def _truncated_normal(rng: np.random.Generator, mean: float, sd: float, lo: float, hi: float, n: int) -> NDArray:
    out = rng.normal(mean, sd, n)
    bad = (out < lo) | (out > hi)
    while bad.any():
        out[bad] = rng.normal(mean, sd, int(bad.sum()))
        bad = (out < lo) | (out > hi)
    return out


def sample_lens_parameters(n: int, rng: np.random.Generator, slope: float | None = None) -> NDArray[np.float64]:
    """Draw n lens-parameter vectors from the prior in the module docstring.

    Parameters
    ----------
    n: number of systems.
    rng: numpy random generator.
    slope: if given, fix the slope (2.0 gives the SIE + shear of Adam et al.).

    Returns
    -------
    (n, 8) float64 array, columns ``LENS_PARAMETER_NAMES``.
    """
    out = np.empty((n, len(LENS_PARAMETER_NAMES)))
    out[:, 0] = rng.uniform(1.0, 2.0, n)
    out[:, 1] = slope if slope is not None else _truncated_normal(rng, 2.0, 0.2, 1.2, 2.8, n)
    out[:, 2] = rng.uniform(0.4, 1.0, n)
    out[:, 3] = rng.uniform(0.0, np.pi, n)
    out[:, 4:6] = rng.normal(0.0, 0.05, (n, 2))
    out[:, 6] = _truncated_normal(rng, 0.0, 0.05, -0.2, 0.2, n)
    out[:, 7] = _truncated_normal(rng, 0.0, 0.05, -0.2, 0.2, n)
    return out


def _flux_radius(image: NDArray, fraction: float) -> float:
    """Radius (in pixels) around the flux centroid enclosing ``fraction`` of the flux."""
    img = np.clip(image, 0.0, None)
    total = img.sum()
    if total <= 0:
        return float(image.shape[0]) / 2
    rows, cols = np.indices(img.shape)
    cy, cx = (rows * img).sum() / total, (cols * img).sum() / total
    r = np.hypot(rows - cy, cols - cx).ravel()
    order = np.argsort(r)
    cum = np.cumsum(img.ravel()[order]) / total
    return float(r[order][np.searchsorted(cum, fraction)])


def make_source(
    image: NDArray,
    source_plane_size: float = 2.0,
    fill_fraction: float = 1.0 / 3.0,
    flux_fraction: float = 0.9,
    denoise: bool = True,
) -> tuple[NDArray[np.float64], float]:
    """Denoise and normalise a galaxy stamp and choose its source-plane ``scale``.

    The stamp is denoised with ``skimage.restoration.denoise_nl_means`` (noise level
    from ``estimate_sigma``, h = 0.8 sigma, 5 x 5 patches, search distance 6),
    clipped at zero and normalised to unit peak. Its extent is the diameter D (in
    stamp widths) of the circle holding ``flux_fraction`` of the flux; the scale is
    then chosen so that this diameter is ``fill_fraction`` of ``source_plane_size``:
    ``scale = fill_fraction * source_plane_size / D`` (arcsec), i.e. by default the
    galaxy fills about the central third of a 2 arcsec source plane (0.67 arcsec).

    Parameters
    ----------
    image: (h, w) galaxy stamp (e.g. 64 x 64). Unit: flux (any normalisation).
    source_plane_size: side of the source-plane region of interest. Unit: arcsec.
    fill_fraction: fraction of that side the galaxy should span.

    Returns
    -------
    (source image with peak 1, scale in arcsec).
    """
    from skimage.restoration import denoise_nl_means, estimate_sigma

    img = np.asarray(image, dtype=np.float64)
    peak = np.abs(img).max()
    img = img / peak if peak > 0 else img
    if denoise:
        sigma = float(estimate_sigma(img))
        if sigma > 0:
            img = denoise_nl_means(img, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True)
    img = np.clip(img, 0.0, None)
    peak = img.max()
    img = img / peak if peak > 0 else img
    diameter = 2.0 * max(_flux_radius(img, flux_fraction), 0.5) / img.shape[1]
    scale = fill_fraction * source_plane_size / diameter
    return img, float(scale)


def _render(sim: LensSimulator, sources, lens_params, source_params, batch_size: int) -> torch.Tensor:
    dt = sim.theta_x.dtype
    out = []
    with torch.no_grad():
        for i in range(0, len(sources), batch_size):
            sl = slice(i, i + batch_size)
            out.append(sim(torch.as_tensor(lens_params[sl], dtype=dt), torch.as_tensor(sources[sl], dtype=dt),
                           torch.as_tensor(source_params[sl], dtype=dt)))
    return torch.cat(out)


def render_mock_lenses(
    sources: NDArray,
    lens_params: NDArray,
    source_params: NDArray,
    noise_levels: tuple[float, ...] = CHIANESE_NOISE_LEVELS,
    n_pix: int = 256,
    pixel_scale: float = 0.04,
    psf_sigma: float | None = 0.05,
    seed: int = 0,
    batch_size: int = 32,
    dtype: torch.dtype = torch.float64,
) -> dict[str, NDArray]:
    """Chianese et al. mocks: noiseless images, noisy observations per level, S/N.

    Parameters
    ----------
    sources: (S, h, w) source images (e.g. from ``make_source``). Unit: flux.
    lens_params: (S, 8) in ``LENS_PARAMETER_NAMES`` order.
    source_params: (S, 4): intensity, scale [arcsec], x_src, y_src [arcsec].
    noise_levels: L Gaussian pixel-noise standard deviations. Unit: image flux.
    seed: seeds the torch generator of the noise.

    Returns
    -------
    dict with ``noiseless`` (S, H, W), ``observations`` (S, L, H, W), ``snr`` (S, L),
    ``noise_levels`` (L,), ``lens_params``, ``source_params``.
    """
    sim = LensSimulator(n_pix, pixel_scale, psf_sigma=psf_sigma, dtype=dtype)
    clean = _render(sim, sources, lens_params, source_params, batch_size)
    gen = torch.Generator().manual_seed(seed)
    sigmas = torch.tensor(noise_levels, dtype=dtype)
    obs = add_gaussian_noise(clean[:, None].expand(-1, len(noise_levels), -1, -1), sigmas[:, None, None], generator=gen)
    snr = signal_to_noise(clean[:, None], sigmas, pixel_scale)
    log.info("rendered %d mock lenses at %d noise levels", len(sources), len(noise_levels))
    return {
        "noiseless": clean.numpy(),
        "observations": obs.numpy(),
        "snr": snr.numpy(),
        "noise_levels": sigmas.numpy(),
        "lens_params": np.asarray(lens_params, dtype=np.float64),
        "source_params": np.asarray(source_params, dtype=np.float64),
    }


def render_adam_mocks(
    sources: NDArray,
    lens_params: NDArray,
    source_params: NDArray,
    relative_noise: float = 0.01,
    n_render: int = 256,
    pool_factor: int = 2,
    field_of_view: float = 10.24,
    psf_sigma: float | None = None,
    seed: int = 0,
    batch_size: int = 32,
    dtype: torch.dtype = torch.float64,
) -> dict[str, NDArray]:
    """Adam et al. 2022 mocks: SIE + shear, 256^2 render pooled to 128^2, noisy.

    The slope column of ``lens_params`` is overwritten with 2 (SIE). The noise is
    sigma_N = relative_noise x (peak of the source image x intensity), per system.

    Parameters
    ----------
    field_of_view: side of the image. Unit: arcsec (render pixel = fov / n_render).

    Returns
    -------
    dict with ``noiseless`` (S, n, n), ``observations`` (S, n, n), ``sigma_noise``
    (S,), ``lens_params`` (slope = 2), ``source_params``, ``pixel_scale`` (of the
    pooled image, arcsec).
    """
    lens_params = np.array(lens_params, dtype=np.float64)
    lens_params[:, 1] = 2.0
    sim = LensSimulator(n_render, field_of_view / n_render, psf_sigma=psf_sigma, pool_factor=pool_factor, dtype=dtype)
    clean = _render(sim, sources, lens_params, source_params, batch_size)
    peak = np.abs(np.asarray(sources)).reshape(len(sources), -1).max(axis=1) * np.asarray(source_params)[:, 0]
    sigma = torch.as_tensor(relative_noise * peak, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    obs = add_gaussian_noise(clean, sigma[:, None, None], generator=gen)
    return {
        "noiseless": clean.numpy(),
        "observations": obs.numpy(),
        "sigma_noise": sigma.numpy(),
        "lens_params": lens_params,
        "source_params": np.asarray(source_params, dtype=np.float64),
        "pixel_scale": np.float64(sim.output_pixel_scale),
    }
