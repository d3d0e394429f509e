"""Mock-lens products of the workflow, as Zarr-ready store objects.

``chianese_mock_set`` builds the systems of Chianese et al. 2020 section 5.1 from the
test split of a galaxy set: each source is denoised and scaled (``mocks.make_source``),
lensed by an EPL + external shear drawn from the lens prior
(``mocks.sample_lens_parameters``), convolved with a Gaussian PSF and observed at
several noise levels. ``adam_mock_set`` builds the SIE + shear systems of Adam et al.
2022 (256^2 render pooled to 128^2, noise relative to the source peak).

Source parameters (our choice, documented here because the mock generator needs one):
intensity 1 (sources have unit peak, so the noise levels are relative to the source
peak), scale from ``make_source``, position ``(x_src, y_src)`` drawn from a normal of
standard deviation ``source_offset_sigma`` arcsec, truncated at 3 sigma, so that the
source lies near the caustics and is strongly lensed.
"""

from __future__ import annotations

import logging

import numpy as np
from tqdm import tqdm

from galprior.data.store import GalaxySet, MockLensSet, ScoreLensSet

from .mocks import make_source, render_adam_mocks, render_mock_lenses, sample_lens_parameters
from .simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES

logger = logging.getLogger(__name__)


def choose_galaxies(n_galaxies: int, n_systems: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of the test split used as sources (distinct, seeded)."""
    if n_systems > n_galaxies:
        raise ValueError(
            f"n_systems={n_systems} mock lenses need as many test galaxies, but the test "
            f"split holds {n_galaxies}: raise galaxies.split_sizes.<product>.test"
        )
    return np.sort(rng.choice(n_galaxies, size=n_systems, replace=False))


def prepare_sources(
    galaxies: GalaxySet, index: np.ndarray, rng: np.random.Generator,
    source_plane_size: float, fill_fraction: float, source_offset_sigma: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Denoised unit-peak source images (S, M, M) and source parameters (S, 4)."""
    images, params = [], []
    for i in tqdm(index, desc="denoising sources", leave=False):
        image, scale = make_source(galaxies.images[i], source_plane_size, fill_fraction)
        offset = np.clip(rng.normal(0.0, source_offset_sigma, 2),
                         -3 * source_offset_sigma, 3 * source_offset_sigma)
        images.append(image)
        params.append([1.0, scale, *offset])
    return np.asarray(images, np.float32), np.asarray(params, np.float64)


def _draw_systems(galaxies: GalaxySet, n_systems: int, rng: np.random.Generator,
                  source_plane_size: float, fill_fraction: float,
                  source_offset_sigma: float, slope: float | None = None):
    """Test-galaxy rows, source images, source and lens parameters of the mocks."""
    index = choose_galaxies(len(galaxies), n_systems, rng)
    sources, source_params = prepare_sources(galaxies, index, rng, source_plane_size,
                                             fill_fraction, source_offset_sigma)
    return index, sources, source_params, sample_lens_parameters(n_systems, rng, slope=slope)


def chianese_mock_set(
    galaxies: GalaxySet, *, n_systems: int, noise_levels: list[float], n_pix: int,
    pixel_scale: float, psf_sigma: float, source_plane_size: float, fill_fraction: float,
    source_offset_sigma: float, seed: int,
) -> MockLensSet:
    """Mock lenses of Chianese et al. 2020 section 5.1 (see the module docstring)."""
    rng = np.random.default_rng(seed)
    index, sources, source_params, lens_params = _draw_systems(
        galaxies, n_systems, rng, source_plane_size, fill_fraction, source_offset_sigma)
    out = render_mock_lenses(sources, lens_params, source_params,
                             noise_levels=tuple(noise_levels), n_pix=n_pix,
                             pixel_scale=pixel_scale, psf_sigma=psf_sigma,
                             seed=int(rng.integers(2**31)))
    return MockLensSet(
        observations=out["observations"].astype(np.float32),
        noiseless=out["noiseless"].astype(np.float32),
        sources=sources,
        lens_parameters=out["lens_params"],
        source_parameters=out["source_params"],
        noise_sigma=out["noise_levels"].astype(np.float64),
        snr=out["snr"].astype(np.float64),
        galaxy_index=index.astype(np.int64),
        attrs={
            "lens_parameter_names": list(LENS_PARAMETER_NAMES),
            "source_parameter_names": list(SOURCE_PARAMETER_NAMES),
            "pixel_scale": pixel_scale, "psf_sigma": psf_sigma,
            "source_plane_size": source_plane_size,
            "galaxy_source": galaxies.attrs["source"],
        },
    )


def adam_mock_set(
    galaxies: GalaxySet, *, n_systems: int, relative_noise: float, n_render: int,
    pool_factor: int, field_of_view: float, source_plane_size: float,
    fill_fraction: float, source_offset_sigma: float, seed: int,
) -> ScoreLensSet:
    """SIE + shear mock lenses of Adam et al. 2022 (see the module docstring)."""
    rng = np.random.default_rng(seed)
    index, sources, source_params, lens_params = _draw_systems(
        galaxies, n_systems, rng, source_plane_size, fill_fraction, source_offset_sigma,
        slope=2.0)
    out = render_adam_mocks(sources, lens_params, source_params,
                            relative_noise=relative_noise, n_render=n_render,
                            pool_factor=pool_factor, field_of_view=field_of_view,
                            seed=int(rng.integers(2**31)))
    return ScoreLensSet(
        observations=out["observations"].astype(np.float32),
        noiseless=out["noiseless"].astype(np.float32),
        sources=sources,
        lens_parameters=out["lens_params"],
        source_parameters=out["source_params"],
        noise_sigma=out["sigma_noise"].astype(np.float64),
        galaxy_index=index.astype(np.int64),
        attrs={
            "lens_parameter_names": list(LENS_PARAMETER_NAMES),
            "source_parameter_names": list(SOURCE_PARAMETER_NAMES),
            "pixel_scale": float(out["pixel_scale"]),
            "render_pixel_scale": field_of_view / n_render, "pool_factor": pool_factor,
            "relative_noise": relative_noise, "source_plane_size": source_plane_size,
            "galaxy_source": galaxies.attrs["source"],
        },
    )
