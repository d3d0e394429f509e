"""Mock strong lenses: lens-parameter priors, source preparation, noisy renders.

Why our own code: the mocks must be rendered with exactly the simulator used for
inference (``LensSimulator``), for whole batches at once and reproducibly seeded.

Two products:

* Chianese et al. 2020 section 5.1: EPL + external shear lenses of COSMOS-like
  sources, 256 x 256 pixels of 0.04 arcsec, Gaussian PSF (0.05 arcsec), three
  noise levels (default 0.333, 0.1, 0.0333 in units of the image, i.e. relative to a
  source of peak ``intensity``), S/N by eqs. 24-25 (``func.snr``).
* Adam et al. 2022: SIE + shear (slope fixed at 2), rendered noise-free on 256 x 256
  and average-pooled to 128 x 128, noise sigma_N = relative_noise x the source's peak or
  x the brightness unit (``adam.mocks.noise_reference``; paper: sigma_N = 0.01).

The lens and source priors the mocks are drawn from live in :mod:`galprior.lensing.priors`.
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
    "make_source",
    "source_scale",
    "fill_stamp",
    "mock_source",
    "render_mock_lenses",
    "render_adam_mocks",
    "clean_source_image",
]

log = logging.getLogger(__name__)

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


def _flux_diameter(image: NDArray, fraction: float) -> float:
    """Diameter (pixels, at least 1) of the circle around the flux centroid holding ``fraction``
    of the flux: the galaxy's extent that :func:`source_scale` and :func:`fill_zoom` scale."""
    return 2.0 * max(_flux_radius(image, fraction), 0.5)


def clean_source_image(image: NDArray, denoise: bool = True) -> NDArray[np.float64]:
    """A galaxy stamp denoised (non-local means, see :func:`make_source`), clipped at zero
    and normalised to unit peak."""
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
    return img


def make_source(
    image: NDArray,
    source_plane_size: float,
    fill_fraction: float,
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
    img = clean_source_image(image, denoise)
    return img, source_scale(img, source_plane_size, fill_fraction, flux_fraction)


def source_scale(image: NDArray, source_plane_size: float, fill_fraction: float,
                 flux_fraction: float = 0.9) -> float:
    """The source-plane ``scale`` (arcsec) that makes the diameter D (in image widths) of the
    circle holding ``flux_fraction`` of the image's flux span ``fill_fraction`` of
    ``source_plane_size``: ``fill_fraction * source_plane_size / D`` (see :func:`make_source`).
    ``image``: a source surface brightness (H, W), any normalisation."""
    diameter = _flux_diameter(np.asarray(image, np.float64), flux_fraction) / np.shape(image)[1]
    return float(fill_fraction * source_plane_size / diameter)


def fill_zoom(image: NDArray, fill_fraction: float, flux_fraction: float = 0.9) -> float:
    """The zoom by which :func:`fill_stamp` shrinks a clean, unit-peak ``image``:
    ``fill_fraction * w / D``, D the diameter (pixels) of the circle around the flux
    centroid holding ``flux_fraction`` of the flux."""
    return fill_fraction * image.shape[1] / _flux_diameter(image, flux_fraction)


def fill_stamp(image: NDArray, fill_fraction: float, flux_fraction: float = 0.9,
               denoise: bool = True) -> NDArray[np.float64]:
    """A denoised, unit-peak galaxy stamp rescaled to fill ``fill_fraction`` of its width
    (Chianese et al. 2020 sec. 5.1: "rescaled to fill roughly the central third of the
    source image plane").

    The galaxy is denoised as in :func:`clean_source_image`; its extent is the diameter D
    (in pixels) of the circle around the flux centroid holding ``flux_fraction`` of the
    flux. The stamp is then resampled (bilinear, ``scipy.ndimage.affine_transform``) by
    the zoom ``fill_fraction * w / D`` about that centroid onto the stamp centre, so that
    the galaxy spans the central ``fill_fraction`` of the stamp whatever its size in the
    galaxy set, clipped at zero and normalised to unit peak again. Its size on the sky is
    then set by the source scale s (eq. 15, :meth:`LensSourcePrior.sample_source`).

    Shrinking (zoom < 1) first smooths the stamp with a Gaussian of
    ``0.5 sqrt(1 / zoom^2 - 1)`` input pixels, so that each output pixel averages the
    input pixels it covers instead of sampling one of them: bilinear resampling alone
    aliases the galaxy's knots into single-pixel spikes that no smooth source model
    represents (at the quick default's zoom of ~0.43 the VAE then misses 13 % of the
    source in L2 instead of 10 %). The paper does not say how it rescaled.

    Parameters
    ----------
    image: (h, w) galaxy stamp. Unit: flux (any normalisation).
    fill_fraction: fraction of the stamp width the galaxy should span (paper: 1/3).
    """
    from scipy.ndimage import affine_transform, gaussian_filter

    img = clean_source_image(image, denoise)
    h, w = img.shape
    total = img.sum()
    rows, cols = np.indices(img.shape)
    centre = np.array([(rows * img).sum(), (cols * img).sum()]) / total if total > 0 else np.array([h, w]) / 2 - 0.5
    zoom = fill_zoom(img, fill_fraction, flux_fraction)
    if zoom < 1.0:
        img = gaussian_filter(img, sigma=0.5 * np.sqrt(1.0 / zoom**2 - 1.0), mode="constant")
    out_centre = np.array([h, w]) / 2 - 0.5
    out = affine_transform(img, np.full(2, 1.0 / zoom), offset=centre - out_centre / zoom, order=1,
                           mode="constant", cval=0.0)
    out = np.clip(out, 0.0, None)
    peak = out.max()
    return out / peak if peak > 0 else out


def mock_source(image: NDArray, noiseless: NDArray | None, fill_fraction: float | None) -> NDArray[np.float64]:
    """The source image of one Chianese mock, unit peak.

    ``noiseless``: the galaxy's noiseless truth where the galaxy set has one (simulated
    galaxies), used as it is (clipped at zero): denoising a noisy stamp of a galaxy whose
    truth is known only adds non-local-means textures and a clipped-noise floor that no
    decoder can match (issue 32, E0: a floor of 0.25-1.2 % of the peak ending in a square
    edge). Real galaxies (``None``) are denoised as the paper did
    (:func:`clean_source_image`). ``fill_fraction``: shrink the galaxy into that fraction of
    its stamp (:func:`fill_stamp`, reading A of sec. 5.1, the default); ``None``: the galaxy
    keeps the size it has in its stamp, as the decoder's galaxies do (reading B:
    docs/decisions.md, E3 of issue 32).
    """
    img = _unit_source(image, noiseless)
    return img if fill_fraction is None else fill_stamp(img, fill_fraction, denoise=False)


def mock_source_zoom(image: NDArray, noiseless: NDArray | None, fill_fraction: float | None) -> float:
    """The zoom :func:`mock_source` shrinks the galaxy by (1 without ``fill_fraction``): a
    decoded galaxy, which fills its stamp as the galaxy set's do, matches the mock's source
    at a scale ``zoom * s`` (E0 and E5 of issue 32)."""
    return 1.0 if fill_fraction is None else fill_zoom(_unit_source(image, noiseless), fill_fraction)


def _unit_source(image: NDArray, noiseless: NDArray | None) -> NDArray[np.float64]:
    """The noiseless truth clipped at zero (where there is one), else the denoised stamp; unit peak."""
    if noiseless is None:
        return clean_source_image(image)
    img = np.clip(np.asarray(noiseless, np.float64), 0.0, None)
    peak = img.max()
    return img / peak if peak > 0 else img


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
    noise_sigma: tuple[float, ...],
    n_pix: int,
    pixel_scale: float,
    psf_sigma: float | None,
    seed: int = 0,
    batch_size: int = 32,
    dtype: torch.dtype = torch.float64,
    parameter_convention: str = "chianese2020",
) -> dict[str, NDArray]:
    """Chianese et al. mocks: noiseless images, noisy observations per level, S/N.

    Parameters
    ----------
    sources: (S, h, w) source images (e.g. from ``make_source``). Unit: flux.
    lens_params: (S, 8) in ``LENS_PARAMETER_NAMES`` order (einstein_radius in
        ``parameter_convention``, by default the paper's eqs. 11-12).
    source_params: (S, 4): intensity, scale [arcsec], x_src, y_src [arcsec].
    noise_sigma: L Gaussian pixel-noise standard deviations (noise levels). Unit: image flux.
    seed: seeds the torch generator of the noise.

    Returns
    -------
    dict with ``noiseless`` (S, H, W), ``observations`` (S, L, H, W), ``snr`` (S, L),
    ``noise_sigma`` (L,), ``lens_params``, ``source_params``.
    """
    sim = LensSimulator(n_pix, pixel_scale, psf_sigma=psf_sigma, dtype=dtype,
                        parameter_convention=parameter_convention)
    clean = _render(sim, sources, lens_params, source_params, batch_size)
    gen = torch.Generator().manual_seed(seed)
    sigmas = torch.tensor(noise_sigma, dtype=dtype)
    obs = add_gaussian_noise(clean[:, None].expand(-1, len(noise_sigma), -1, -1), sigmas[:, None, None], generator=gen)
    snr = signal_to_noise(obs, sigmas, pixel_scale)
    log.info("rendered %d mock lenses at %d noise levels", len(sources), len(noise_sigma))
    return {
        "noiseless": clean.numpy(),
        "observations": obs.numpy(),
        "snr": snr.numpy(),
        "noise_sigma": sigmas.numpy(),
        "lens_params": np.asarray(lens_params, dtype=np.float64),
        "source_params": np.asarray(source_params, dtype=np.float64),
    }


def render_adam_mocks(
    sources: NDArray,
    lens_params: NDArray,
    source_params: NDArray,
    relative_noise: float,
    n_render: int,
    pool_factor: int,
    field_of_view: float,
    noise_reference: str = "source_peak",
    psf_sigma: float | None = None,
    seed: int = 0,
    batch_size: int = 32,
    dtype: torch.dtype = torch.float64,
) -> dict[str, NDArray]:
    """Adam et al. 2022 mocks: SIE + shear, 256^2 render pooled to 128^2, noisy.

    The slope column of ``lens_params`` is overwritten with 2 (SIE). The noise is
    sigma_N = relative_noise x (peak of the source image x intensity) per system with
    ``noise_reference = "source_peak"``, or sigma_N = relative_noise x intensity (the
    brightness unit) with ``"brightness_unit"``.

    Parameters
    ----------
    sources: (S, h, w) source surface brightness. Unit: the brightness unit.
    field_of_view: side of the image. Unit: arcsec (render pixel = fov / n_render).

    Returns
    -------
    dict with ``noiseless`` (S, n, n), ``observations`` (S, n, n), ``noise_sigma``
    (S,), ``lens_params`` (slope = 2), ``source_params``, ``pixel_scale`` (of the
    pooled image, arcsec).
    """
    lens_params = np.array(lens_params, dtype=np.float64)
    lens_params[:, 1] = 2.0
    sim = LensSimulator(n_render, field_of_view / n_render, psf_sigma=psf_sigma, pool_factor=pool_factor, dtype=dtype)
    clean = _render(sim, sources, lens_params, source_params, batch_size)
    intensity = np.asarray(source_params)[:, 0]
    if noise_reference == "source_peak":
        reference = np.abs(np.asarray(sources)).reshape(len(sources), -1).max(axis=1) * intensity
    elif noise_reference == "brightness_unit":
        reference = intensity
    else:
        raise ValueError(f"adam.mocks.noise_reference must be 'source_peak' or 'brightness_unit', "
                         f"got {noise_reference!r}")
    sigma = torch.as_tensor(relative_noise * reference, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    obs = add_gaussian_noise(clean, sigma[:, None, None], generator=gen)
    return {
        "noiseless": clean.numpy(),
        "observations": obs.numpy(),
        "noise_sigma": sigma.numpy(),
        "lens_params": lens_params,
        "source_params": np.asarray(source_params, dtype=np.float64),
        "pixel_scale": np.float64(sim.output_pixel_scale),
    }
