"""Layouts of the Adam et al. 2022 system (score-based source priors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import ArraySpec, Store, StoreError

__all__ = ["ScoreGalaxySet", "ScoreLensSet", "ScorePriorSampleSet", "SdePosteriorSet", "SdeEvaluationSet", "OodSampleSet"]


@dataclass
class ScoreGalaxySet(Store):
    """One split of the galaxies of the score prior (Adam et al. 2022 sec. 3), at the prior's
    resolution and in its units (rule prepare_score_galaxies).

    The prior trains on the train split, its samples are compared with it, the mock lenses
    take their sources from the test split: one galaxy set at one resolution for all. From
    PROBES (``attrs['source'] == 'probes'``, paper) or from a galaxy product (denoised stamps).
    ``attrs['normalisation']`` names the units (:mod:`galprior.data.score_normalisation`).
    """

    LAYOUT: ClassVar[str] = "score_galaxy_set"
    ENTRY_AXIS: ClassVar[str] = "N"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("images", ("N", "M", "M"), "float32", "prior unit",
                  "galaxies at the prior's resolution, normalised (attrs normalisation)"),
        ArraySpec("source_index", ("N",), "int64", "1",
                  "row in the galaxy-product split, or index of the PROBES galaxy among the usable files"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ("source", "split", "normalisation", "source_size", "names")

    images: np.ndarray
    source_index: np.ndarray

    def check(self) -> None:
        super().check()
        if len(self.attrs["names"]) != len(self.source_index):
            raise StoreError(f"{self.LAYOUT}: {len(self.attrs['names'])} names for {len(self.source_index)} galaxies")
        if self.images.shape[-1] != self.attrs["source_size"]:
            raise StoreError(f"{self.LAYOUT}: images of {self.images.shape[-1]} pixels, attrs source_size "
                             f"{self.attrs['source_size']}")


@dataclass
class ScoreLensSet(Store):
    """Mock SIE + shear lenses of Adam et al. 2022, one noise level per system; the sources are
    test galaxies of :class:`ScoreGalaxySet` as surface brightness (the truth of the evaluation)."""

    LAYOUT: ClassVar[str] = "score_lens_set"
    LAYOUT_VERSION: ClassVar[int] = 2
    ENTRY_AXIS: ClassVar[str] = "S"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("observations", ("S", "H", "W"), "float32", "image",
                  "noisy observations at the pooled resolution"),
        ArraySpec("noiseless", ("S", "H", "W"), "float32", "image",
                  "noiseless observations at the pooled resolution"),
        ArraySpec("sources", ("S", "M", "M"), "float32", "brightness unit",
                  "source surface brightness at the prior's resolution (attrs normalisation: s = scale x + offset)"),
        ArraySpec("lens_parameters", ("S", "K"), "float64", "arcsec|rad|1",
                  "true lens parameters (names in attrs)"),
        ArraySpec("source_parameters", ("S", "J"), "float64", "1|arcsec",
                  "true source parameters (names in attrs)"),
        ArraySpec("noise_sigma", ("S",), "float64", "image", "per-pixel noise std"),
        ArraySpec("galaxy_index", ("S",), "int64", "1", "row in the test split of the score galaxies"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = (
        "lens_parameter_names", "source_parameter_names", "pixel_scale",
        "render_pixel_scale", "pool_factor", "normalisation",
    )

    observations: np.ndarray
    noiseless: np.ndarray
    sources: np.ndarray
    lens_parameters: np.ndarray
    source_parameters: np.ndarray
    noise_sigma: np.ndarray
    galaxy_index: np.ndarray


@dataclass
class ScorePriorSampleSet(Store):
    """Unconditional samples of the score prior beside training galaxies (same size)."""

    LAYOUT: ClassVar[str] = "score_prior_sample_set"
    ENTRY_AXIS: ClassVar[str] = "N"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("samples", ("N", "M", "M"), "float32", "prior unit",
                  "prior samples, reverse-time SDE without likelihood"),
        ArraySpec("training", ("N", "M", "M"), "float32", "prior unit",
                  "training galaxies as the prior saw them (the score galaxies' train split)"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ("solver", "n_steps")

    samples: np.ndarray
    training: np.ndarray


@dataclass
class SdePosteriorSet(Store):
    """Posterior samples of the pixelated source of every mock system (Adam et al. 2022 sec. 2.2).

    ``lens_parameters`` and ``source_parameters`` are those the likelihood used: the truth
    (``attrs['lens'] == 'known'``) or a MAP fit (``'map'``).
    """

    LAYOUT: ClassVar[str] = "sde_posterior_set"
    ENTRY_AXIS: ClassVar[str] = "S"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("samples", ("S", "N", "M", "M"), "float32", "brightness unit",
                  "posterior samples of the source pixels, as surface brightness (like the mocks' sources)"),
        ArraySpec("lens_parameters", ("S", "K"), "float64", "arcsec|rad|1",
                  "lens parameters of the likelihood (names in attrs)"),
        ArraySpec("source_parameters", ("S", "J"), "float64", "1|arcsec",
                  "source-grid parameters of the likelihood (names in attrs)"),
        ArraySpec("wall_time", ("S",), "float64", "s", "sampling wall time per system"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = (
        "solver", "n_steps", "score_evaluations", "lens", "technique2_probability",
        "lens_parameter_names", "source_parameter_names",
    )

    samples: np.ndarray
    lens_parameters: np.ndarray
    source_parameters: np.ndarray
    wall_time: np.ndarray


@dataclass
class SdeEvaluationSet(Store):
    """Posterior summaries of every system and sampler run (rule evaluate_sde).

    ``R`` runs (solver x lens mode, names in ``attrs['runs']``), ``N`` samples.
    """

    LAYOUT: ClassVar[str] = "sde_evaluation_set"
    ENTRY_AXIS: ClassVar[str] = "S"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("truth", ("S", "M", "M"), "float32", "brightness unit", "true source at the prior's resolution"),
        ArraySpec("posterior_mean", ("S", "R", "M", "M"), "float32", "brightness unit", "posterior mean source"),
        ArraySpec("posterior_std", ("S", "R", "M", "M"), "float32", "brightness unit",
                  "posterior standard deviation"),
        ArraySpec("residual_snr_source", ("S", "R", "M", "M"), "float32", "1",
                  "(mean - truth) / std in the source plane"),
        ArraySpec("residual_snr_lens", ("S", "R", "H", "W"), "float32", "1",
                  "(y - A mean) / sigma_N in the lens plane"),
        ArraySpec("model_images", ("S", "R", "E", "H", "W"), "float32", "image",
                  "A x of the first E samples"),
        ArraySpec("chi2_nu", ("S", "R", "N"), "float64", "1", "reduced chi^2 of every sample's residual"),
        ArraySpec("magnification", ("S", "R", "M", "M"), "float32", "1",
                  "magnification of each source pixel, (A^T 1) x image-pixel / source-pixel area"),
        ArraySpec("observations", ("S", "H", "W"), "float32", "image", "the observed images"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ("runs",)

    truth: np.ndarray
    posterior_mean: np.ndarray
    posterior_std: np.ndarray
    residual_snr_source: np.ndarray
    residual_snr_lens: np.ndarray
    model_images: np.ndarray
    chi2_nu: np.ndarray
    magnification: np.ndarray
    observations: np.ndarray


@dataclass
class OodSampleSet(Store):
    """Out-of-distribution experiment (Adam et al. Fig. 2): a non-galaxy source at rising noise."""

    LAYOUT: ClassVar[str] = "ood_sample_set"
    ENTRY_AXIS: ClassVar[str] = "L"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("truth", ("M", "M"), "float32", "brightness unit", "the out-of-distribution source (peak 1)"),
        ArraySpec("observations", ("L", "H", "W"), "float32", "image", "observation at each noise level"),
        ArraySpec("samples", ("L", "N", "M", "M"), "float32", "brightness unit",
                  "posterior samples per noise level, as surface brightness"),
        ArraySpec("noise_sigma", ("L",), "float64", "image", "noise std of each observation"),
        ArraySpec("chi2_nu", ("L", "N"), "float64", "1", "reduced chi^2 of every sample"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ("glyph", "solver", "n_steps", "system")

    truth: np.ndarray
    observations: np.ndarray
    samples: np.ndarray
    noise_sigma: np.ndarray
    chi2_nu: np.ndarray
