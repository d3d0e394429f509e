"""Layouts of the Chianese et al. 2020 system: mocks, VAE reconstructions, MAP fits, posteriors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import ArraySpec, Store, StoreError

__all__ = ["MockLensSet", "ReconstructionSet", "MapResultSet", "PosteriorSampleSet"]


@dataclass
class MockLensSet(Store):
    """Mock strong lenses of Chianese et al. 2020 at several noise levels.

    ``einstein_radius`` is the paper's r_Ein (eqs. 11-12, major axis) and ``scale`` the
    s of eq. 17 (half side of the source stamp) when attrs['parameter_convention'] is
    ``chianese2020``; lenstronomy's theta_E = sqrt(q) r_Ein.
    """

    LAYOUT: ClassVar[str] = "mock_lens_set"
    LAYOUT_VERSION: ClassVar[int] = 2
    ENTRY_AXIS: ClassVar[str] = "S"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("observations", ("S", "L", "H", "W"), "float32", "image",
                  "noisy lensed images, one per noise level"),
        ArraySpec("noiseless", ("S", "H", "W"), "float32", "image",
                  "PSF-convolved lensed images without noise"),
        ArraySpec("sources", ("S", "M", "M"), "float32", "1", "source images, max 1"),
        ArraySpec("lens_parameters", ("S", "K"), "float64", "arcsec|rad|1",
                  "true lens parameters (names in attrs; einstein_radius in attrs['parameter_convention'])"),
        ArraySpec("source_parameters", ("S", "J"), "float64", "1|arcsec",
                  "true source parameters (names in attrs)"),
        ArraySpec("noise_sigma", ("L",), "float64", "image", "per-pixel noise std"),
        ArraySpec("snr", ("S", "L"), "float64", "1", "S/N, Chianese eq. 24-25"),
        ArraySpec("galaxy_index", ("S",), "int64", "1", "row in the test galaxy split"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = (
        "lens_parameter_names", "source_parameter_names", "pixel_scale", "psf_sigma",
        "parameter_convention", "source_plane_size",
    )

    observations: np.ndarray
    noiseless: np.ndarray
    sources: np.ndarray
    lens_parameters: np.ndarray
    source_parameters: np.ndarray
    noise_sigma: np.ndarray
    snr: np.ndarray
    galaxy_index: np.ndarray


@dataclass
class ReconstructionSet(Store):
    """VAE reconstructions of test galaxies, plain and rotated (Chianese Figs. 2-3)."""

    LAYOUT: ClassVar[str] = "reconstruction_set"
    LAYOUT_VERSION: ClassVar[int] = 2
    ENTRY_AXIS: ClassVar[str] = "N"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("images", ("N", "H", "W"), "float32", "image", "test galaxies"),
        ArraySpec("reconstructions", ("N", "H", "W"), "float32", "image",
                  "decoder mean mu_d(z) at z drawn from q(z|x) (Fig. 2)"),
        ArraySpec("rotated_inputs", ("A", "N", "H", "W"), "float32", "image",
                  "rotated counter-clockwise by attrs['angles'][a] degrees, corners noise-filled (Fig. 3 row 1)"),
        ArraySpec("rotated_reconstructions", ("A", "N", "H", "W"), "float32", "image",
                  "VAE reconstructions of rotated_inputs (Fig. 3 row 2)"),
        ArraySpec("rotated", ("A", "N", "H", "W"), "float32", "image",
                  "rotated_reconstructions rotated back (Fig. 3 row 3)"),
        ArraySpec("galaxy_index", ("N",), "int64", "1", "row in the test galaxy split"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ("angles",)

    images: np.ndarray
    reconstructions: np.ndarray
    rotated_inputs: np.ndarray
    rotated_reconstructions: np.ndarray
    rotated: np.ndarray
    galaxy_index: np.ndarray


@dataclass
class MapResultSet(Store):
    """MAP fits (best restart) of every system and noise level, with all restarts' scores."""

    LAYOUT: ClassVar[str] = "map_result_set"
    LAYOUT_VERSION: ClassVar[int] = 3  # 3: no theta (whitened coordinates valid only with the MAP's seed)
    ENTRY_AXIS: ClassVar[str] = "S"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("lens_parameters", ("S", "L", "K"), "float64", "arcsec|rad|1",
                  "MAP lens parameters (names in attrs)"),
        ArraySpec("source_parameters", ("S", "L", "J"), "float64", "1|arcsec",
                  "MAP source parameters (names in attrs)"),
        ArraySpec("latents", ("S", "L", "D"), "float64", "1", "MAP latent vector z"),
        ArraySpec("log_posterior", ("S", "L", "R"), "float64", "1",
                  "final log posterior of every restart (up to a constant)"),
        ArraySpec("best_restart", ("S", "L"), "int64", "1", "index of the kept restart"),
        ArraySpec("restarts_tried", ("S", "L"), "int64", "1",
                  "restarts run (n_restarts, plus extra rounds where the best two disagreed)"),
        ArraySpec("loss_trace", ("S", "L", "R", "T"), "float32", "1",
                  "negative log posterior along the optimisation"),
        ArraySpec("reduced_chi2", ("S", "L"), "float64", "1", "reduced chi^2 of the MAP image"),
        ArraySpec("wall_time", ("S", "L"), "float64", "s", "fit time per system"),
        ArraySpec("model_images", ("S", "L", "H", "W"), "float32", "image",
                  "noise-free model observation at the MAP"),
        ArraySpec("source_plane", ("S", "L", "G", "G"), "float32", "image",
                  "MAP source on the source-plane grid of attrs['source_plane_size']"),
        ArraySpec("source_plane_truth", ("S", "G", "G"), "float32", "image",
                  "true source on the same source-plane grid"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = (
        "lens_parameter_names", "source_parameter_names", "map_config", "noise_sigma",
    )

    lens_parameters: np.ndarray
    source_parameters: np.ndarray
    latents: np.ndarray
    log_posterior: np.ndarray
    best_restart: np.ndarray
    restarts_tried: np.ndarray
    loss_trace: np.ndarray
    reduced_chi2: np.ndarray
    wall_time: np.ndarray
    model_images: np.ndarray
    source_plane: np.ndarray
    source_plane_truth: np.ndarray


@dataclass
class PosteriorSampleSet(Store):
    """NUTS/HMC posterior samples of every system and noise level, with diagnostics.

    R-hat and ESS are NaN where they are not defined (fewer than 4 samples per chain, a
    parameter that never moved): missing, never a converged-looking 1.0. The R-hat
    method is named in ``attrs['r_hat_method']`` (split R-hat: with one chain it only
    compares the two halves of that chain).
    """

    LAYOUT: ClassVar[str] = "posterior_sample_set"
    LAYOUT_VERSION: ClassVar[int] = 2  # 2: tree_depth_hits; NaN R-hat/ESS where undefined
    ENTRY_AXIS: ClassVar[str] = "S"
    NAN_ALLOWED: ClassVar[tuple[str, ...]] = ("r_hat", "ess")
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("samples", ("S", "L", "C", "N", "P"), "float32", "arcsec|rad|1",
                  "posterior samples, parameters in attrs['parameter_names']"),
        ArraySpec("r_hat", ("S", "L", "P"), "float64", "1",
                  "split Gelman-Rubin R-hat (method in attrs['r_hat_method']); NaN where undefined"),
        ArraySpec("ess", ("S", "L", "P"), "float64", "1",
                  "effective sample size (all chains); NaN where undefined"),
        ArraySpec("divergences", ("S", "L", "C"), "int64", "1", "divergent transitions after warm-up"),
        ArraySpec("tree_depth_hits", ("S", "L", "C"), "int64", "1",
                  "samples whose trajectory reached the step cap (NUTS: max_tree_depth)"),
        ArraySpec("grad_evals", ("S", "L", "C", "N"), "int64", "1",
                  "log-density gradient evaluations per sample"),
        ArraySpec("step_size", ("S", "L", "C"), "float64", "1", "adapted leapfrog step size"),
        ArraySpec("wall_time", ("S", "L"), "float64", "s", "sampling time incl. the Hessian"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ("parameter_names", "hmc_config", "noise_sigma",
                                                 "r_hat_method")

    samples: np.ndarray
    r_hat: np.ndarray
    ess: np.ndarray
    divergences: np.ndarray
    tree_depth_hits: np.ndarray
    grad_evals: np.ndarray
    step_size: np.ndarray
    wall_time: np.ndarray

    @classmethod
    def concatenate(cls, parts: list) -> "PosteriorSampleSet":
        """The posteriors of ``parts`` (one job per system, rule merge_posteriors) in one set,
        ``attrs['systems']`` joined in order. Parts sampled with other settings, other
        parameters or noise levels, or holding a system twice, are refused."""
        merged = super().concatenate(parts)
        for key in ("parameter_names", "hmc_config", "noise_sigma", "parameter_convention"):
            values = [p.attrs.get(key) for p in parts]
            if any(v != values[0] for v in values[1:]):
                raise StoreError(f"{cls.LAYOUT}: the parts differ in attrs[{key!r}]: {values}")
        systems = [int(s) for p in parts for s in p.attrs.get("systems", [])]
        if len(set(systems)) != len(systems):
            raise StoreError(f"{cls.LAYOUT}: a system is in several parts: {systems}")
        merged.attrs["systems"] = systems
        return merged
