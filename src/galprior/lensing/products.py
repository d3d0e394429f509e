"""Mock-lens products of the workflow, as Zarr-ready store objects.

``chianese_mock_set`` builds the systems of Chianese et al. 2020 section 5.1 from the
test split of a galaxy set: each source is denoised and rescaled to fill the central
third of its stamp (``mocks.fill_stamp``), placed by eq. 17 with iota, s and position
drawn from the source prior (eqs. 14-16), lensed by an EPL + external shear drawn from
the lens prior (eqs. 18-23, r_Ein in the paper's convention), convolved with a Gaussian
PSF and observed at several noise levels. ``adam_mock_set`` builds the SIE + shear systems of Adam et al.
2022 (256^2 render pooled to 128^2) from the test split of the score galaxies
(:class:`galprior.store.ScoreGalaxySet`, at the prior's resolution), as surface brightness.

Lens parameters and source positions are drawn from the one prior object
(:class:`galprior.lensing.priors.LensSourcePrior`) that the inference scores. For
the Adam mocks the source intensity is 1 and the scale comes from ``source_scale``.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from galprior.progress import progress_bar

from galprior.data.score_normalisation import get_normalisation
from galprior.store import GalaxySet, MockLensSet, ScoreGalaxySet, ScoreLensSet

from .func.raytrace import pixel_grid
from .func.source import source_brightness
from .mocks import mock_source, render_adam_mocks, render_mock_lenses, source_scale
from .priors import LensSourcePrior
from .simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES, LensSimulator

logger = logging.getLogger(__name__)

#: Meaning of ``einstein_radius`` in every Chianese store (eqs. 11-12, major axis).
CHIANESE_CONVENTION = "chianese2020"


def choose_galaxies(n_galaxies: int, n_systems: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of the test split used as sources (distinct, seeded)."""
    if n_systems > n_galaxies:
        raise ValueError(
            f"n_systems={n_systems} mock lenses need as many test galaxies, but the test "
            f"split holds {n_galaxies}: raise galaxies.split_sizes.<product>.test"
        )
    return np.sort(rng.choice(n_galaxies, size=n_systems, replace=False))


def substructure(sources: np.ndarray, smoothing: float = 2.0) -> np.ndarray:
    """Fraction of each source's squared brightness (S, M, M) -> (S,) in structure finer
    than a Gaussian of ``smoothing`` pixels: |I - G * I|^2 / |I|^2 (knots, arms, clumps)."""
    from scipy.ndimage import gaussian_filter

    smooth = np.stack([gaussian_filter(np.asarray(src, np.float64), smoothing) for src in sources])
    power = np.square(np.asarray(sources, np.float64)).sum(axis=(1, 2))
    return np.square(sources - smooth).sum(axis=(1, 2)) / np.maximum(power, 1e-30)


def showcase_order(sources: np.ndarray) -> np.ndarray:
    """Order of the systems that puts Chianese et al.'s two showcases first (sec. 5.1:
    "Source 1 has a fairly simple spiral morphology. Source 2 has a significant amount of
    substructure"): the smoothest source (least :func:`substructure`), then the most
    structured, then the others in their drawn order. The sampled systems
    (``chianese.hmc.systems: [0, 1]``) are then the paper's two kinds."""
    score = substructure(sources)
    if len(score) < 2:
        return np.arange(len(score))
    first = int(np.argmin(score))
    others = [i for i in range(len(score)) if i != first]
    second = others[int(np.argmax(score[others]))]  # distinct from first even if all scores tie
    rest = [i for i in others if i != second]
    return np.asarray([first, second] + rest)


def chianese_mock_set(
    galaxies: GalaxySet, *, n_systems: int, noise_sigma: list[float], n_pix: int,
    pixel_scale: float, psf_sigma: float, fill_fraction: float | None, require_detection: bool,
    prior: LensSourcePrior, seed: int, max_redraws: int = 50,
) -> MockLensSet:
    """Mock lenses of Chianese et al. 2020 section 5.1.

    Systems 0 and 1 are the paper's two showcases, the smoothest source and the one
    with most substructure (:func:`showcase_order`). Each source is the test galaxy's
    noiseless truth where the set has one, else the galaxy denoised, and with a
    ``fill_fraction`` rescaled to fill that central fraction of its stamp
    (:func:`galprior.lensing.mocks.mock_source`); intensity iota, scale s and
    position come from the source prior (eqs. 14-16) and the lens from eqs. 18-23, all
    drawn from ``prior`` (the prior the inference scores). With ``require_detection``
    a system whose eq. 25 mask is empty at some noise level (S/N 0: no pixel of the
    blurred observation above the noise, a lens nobody would have found) gets new lens
    and source parameters, up to ``max_redraws`` times: the mock population is the prior
    conditioned on detection (the paper is silent; its systems are visible lenses). The stored
    ``einstein_radius`` is the paper's r_Ein (eqs. 11-12, attribute
    ``parameter_convention``); S/N by eqs. 24-25 on the noisy observations.
    """
    rng = np.random.default_rng(seed)
    index = choose_galaxies(len(galaxies), n_systems, rng)
    truth = galaxies.attrs.get("noiseless_is_truth", False)
    sources = np.asarray([mock_source(galaxies.images[i], galaxies.noiseless[i] if truth else None, fill_fraction)
                          for i in progress_bar(index, desc="mock sources", leave=False)], np.float32)
    order = showcase_order(sources)
    index, sources = index[order], sources[order]
    source_params = prior.sample_source(n_systems, rng)
    lens_params = prior.sample_lens(n_systems, rng)
    render = dict(noise_sigma=tuple(noise_sigma), n_pix=n_pix, pixel_scale=pixel_scale, psf_sigma=psf_sigma,
                  parameter_convention=CHIANESE_CONVENTION)
    noise_seed = int(rng.integers(2**31))
    out = render_mock_lenses(sources, lens_params, source_params, seed=noise_seed, **render)
    for _ in range(max_redraws if require_detection else 0):
        undetected = np.nonzero((out["snr"] <= 0).any(axis=1))[0]
        if len(undetected) == 0:
            break
        logger.info("systems %s have an empty eq. 25 mask at some noise level: new lens and source "
                    "parameters for them", undetected.tolist())
        source_params[undetected] = prior.sample_source(len(undetected), rng)
        lens_params[undetected] = prior.sample_lens(len(undetected), rng)
        out = render_mock_lenses(sources, lens_params, source_params, seed=noise_seed, **render)
    else:
        if require_detection and (out["snr"] <= 0).any():
            raise ValueError(f"no detectable draw after {max_redraws} tries for systems "
                             f"{np.nonzero((out['snr'] <= 0).any(axis=1))[0].tolist()}: check the priors block")
    return MockLensSet(
        observations=out["observations"].astype(np.float32),
        noiseless=out["noiseless"].astype(np.float32),
        sources=sources,
        lens_parameters=out["lens_params"],
        source_parameters=out["source_params"],
        noise_sigma=out["noise_sigma"].astype(np.float64),
        snr=out["snr"].astype(np.float64),
        galaxy_index=index.astype(np.int64),
        attrs={
            "lens_parameter_names": list(LENS_PARAMETER_NAMES),
            "source_parameter_names": list(SOURCE_PARAMETER_NAMES),
            "pixel_scale": pixel_scale, "psf_sigma": psf_sigma,
            "parameter_convention": CHIANESE_CONVENTION,
            "fill_fraction": fill_fraction,  # None: the galaxies keep their size in the stamp
            "source_image": "noiseless truth" if truth else "denoised (non-local means)",
            "showcase": "system 0: the smoothest source, system 1: the most substructure (sec. 5.1)",
            "substructure": substructure(sources).tolist(),
            # source-plane window of Figs. 6-7: the galaxy of the largest s, with margin
            "source_plane_size": float(1.5 * 2.0 * (fill_fraction or 2.0 / 3.0) * source_params[:, 1].max()),
            "galaxy_source": galaxies.attrs["source"],
        },
    )


def adam_mock_set(
    galaxies: ScoreGalaxySet, *, n_systems: int, relative_noise: float, noise_reference: str, n_render: int,
    pool_factor: int, field_of_view: float, source_plane_size: float,
    fill_fraction: float, slope: float, prior: LensSourcePrior, seed: int,
) -> ScoreLensSet:
    """SIE + shear mock lenses of Adam et al. 2022 sec. 3 from the test split of the score
    galaxies: "noise-free images at 256x256 resolution by ray-tracing and
    bilinearly-interpolating the source over the deflected coordinates", "pixelate[d] at
    128x128 resolution with average pooling" (``n_render``, ``pool_factor``), Gaussian noise
    (``relative_noise``, ``noise_reference``: :func:`galprior.lensing.mocks.render_adam_mocks`).

    Each source is the galaxy as surface brightness s = scale x + offset of its normalisation
    (:mod:`galprior.data.score_normalisation`), at the prior's resolution: the truth the
    evaluation compares the posterior samples with. Its source-plane ``scale`` makes the
    galaxy span ``fill_fraction`` of ``source_plane_size`` (:func:`source_scale`); position
    and lens from ``prior``, intensity 1.
    """
    rng = np.random.default_rng(seed)
    normalisation = get_normalisation(galaxies.attrs["normalisation"])
    index = choose_galaxies(len(galaxies), n_systems, rng)
    sources = normalisation.to_brightness(galaxies.images[index].astype(np.float64)).astype(np.float32)
    scales = np.array([source_scale(src, source_plane_size, fill_fraction) for src in sources])
    position = prior.sample_source_position(n_systems, rng)
    source_params = np.column_stack([np.ones(n_systems), scales, position])
    lens_params = prior.sample_lens(n_systems, rng, slope=slope)
    out = render_adam_mocks(sources, lens_params, source_params,
                            relative_noise=relative_noise, noise_reference=noise_reference, n_render=n_render,
                            pool_factor=pool_factor, field_of_view=field_of_view,
                            seed=int(rng.integers(2**31)))
    return ScoreLensSet(
        observations=out["observations"].astype(np.float32),
        noiseless=out["noiseless"].astype(np.float32),
        sources=sources,
        lens_parameters=out["lens_params"],
        source_parameters=out["source_params"],
        noise_sigma=out["noise_sigma"].astype(np.float64),
        galaxy_index=index.astype(np.int64),
        attrs={
            "lens_parameter_names": list(LENS_PARAMETER_NAMES),
            "source_parameter_names": list(SOURCE_PARAMETER_NAMES),
            "pixel_scale": float(out["pixel_scale"]),
            "render_pixel_scale": field_of_view / n_render, "pool_factor": pool_factor,
            "relative_noise": relative_noise, "noise_reference": noise_reference,
            "source_plane_size": source_plane_size, "normalisation": normalisation.name,
            "galaxy_source": galaxies.attrs["source"],
            "galaxy_names": [galaxies.attrs["names"][i] for i in index],
        },
    )


def simulator_for(mocks: MockLensSet, dtype: torch.dtype = torch.float32,
                  device: torch.device | str = "cpu") -> LensSimulator:
    """The simulator that rendered the mocks (grid, pixel scale, PSF), computing in ``dtype``."""
    return LensSimulator(mocks.noiseless.shape[-1], mocks.attrs["pixel_scale"],
                         psf_sigma=mocks.attrs["psf_sigma"], dtype=dtype,
                         parameter_convention=mocks.attrs["parameter_convention"]).to(device)




def source_plane_image(images: np.ndarray, source_params: np.ndarray, size: float,
                       n_pix: int, parameter_convention: str = CHIANESE_CONVENTION) -> np.ndarray:
    """Sources (B, M, M) placed by their parameters (B, 4) on a source-plane grid.

    The grid has ``n_pix`` pixels per side over ``size`` arcsec, centred on the axis,
    so that true and fitted sources can be compared pixel by pixel (Chianese Figs. 6-7).
    ``parameter_convention``: meaning of the scale column (see ``LensSimulator``).
    """
    images_t = torch.as_tensor(images, dtype=torch.get_default_dtype())
    params = torch.as_tensor(source_params, dtype=images_t.dtype).clone()
    if parameter_convention == CHIANESE_CONVENTION:
        params[:, 1] = 2.0 * params[:, 1]  # eq. 17: the stamp spans [-s, s]
    x, y = pixel_grid(n_pix, size / n_pix, dtype=images_t.dtype)
    batch = images_t.shape[0]
    with torch.no_grad():
        out = source_brightness(x.expand(batch, -1, -1), y.expand(batch, -1, -1), images_t,
                                *params.unbind(-1))
    return out.numpy().astype(np.float32)


def score_simulator(mocks: ScoreLensSet, dtype: torch.dtype = torch.float32,
                    device: torch.device | str = "cpu") -> LensSimulator:
    """The simulator that rendered the Adam mocks (render grid, no PSF, pooling)."""
    pool = int(mocks.attrs["pool_factor"])
    return LensSimulator(mocks.observations.shape[-1] * pool, float(mocks.attrs["render_pixel_scale"]),
                         psf_sigma=None, pool_factor=pool, dtype=dtype).to(device)


def truth_sources(mocks: ScoreLensSet, size: int) -> np.ndarray:
    """The true sources (S, size, size): the mocks' sources, which are at the prior's resolution
    (rule make_score_lenses draws them from the score galaxies); a store of another size was
    made for another ``adam.source_size`` and is refused by name."""
    if mocks.sources.shape[-1] != size:
        raise ValueError(f"the mock sources are {mocks.sources.shape[-1]}x{mocks.sources.shape[-1]} pixels but the "
                         f"score prior's are {size}x{size}: the mocks and the model were made with different "
                         f"adam.source_size; rerun rule make_score_lenses")
    return np.asarray(mocks.sources, dtype=np.float32)
