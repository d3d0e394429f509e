"""Layouts of the Lanusse et al. 2021 system: latent samples and the three morphology samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from .base import ArraySpec, Store

__all__ = ["LatentSampleSet", "MorphologySampleSet"]


@dataclass
class LatentSampleSet(Store):
    """The VAE's aggregate posterior on the training set and the latent flow's draws (Fig. 4)."""

    LAYOUT: ClassVar[str] = "latent_sample_set"
    ENTRY_AXIS: ClassVar[str] = "N"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("encoded", ("N", "D"), "float32", "1",
                  "one draw z ~ q(z | x) per training galaxy (the aggregate posterior)"),
        ArraySpec("sampled", ("N", "D"), "float32", "1",
                  "one latent-flow draw per training galaxy, conditioned on its properties"),
        ArraySpec("conditions", ("N", "C"), "float32", "mag|arcsec|1",
                  "conditions: mag, half-light radius, redshift (names in attrs)"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ("condition_names",)

    encoded: np.ndarray
    sampled: np.ndarray
    conditions: np.ndarray


@dataclass
class MorphologySampleSet(Store):
    """Test galaxies and, for each, a parametric and a Flow-VAE twin with its PSF and noise.

    Lanusse et al. 2021 sec. 4.4: the COSMOS (here: the data) sample, the parametric
    sample and the mock (Flow-VAE) sample, each drawn with the same PSF and matching
    noise; plus what Figs. 1 and 5 show (noise-free profiles, reconstructions).
    """

    LAYOUT: ClassVar[str] = "morphology_sample_set"
    ENTRY_AXIS: ClassVar[str] = "N"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("cosmos", ("N", "H", "W"), "float32", "image",
                  "observed test stamps (central crop of the galaxy set)"),
        ArraySpec("parametric", ("N", "H", "W"), "float32", "image",
                  "parametric model convolved with the PSF, plus a noise draw (NaN: none)"),
        ArraySpec("parametric_noiseless", ("N", "H", "W"), "float32", "image",
                  "parametric model convolved with the PSF (NaN: none)"),
        ArraySpec("flowvae", ("N", "H", "W"), "float32", "image",
                  "Flow-VAE draw conditioned on the galaxy's (mag, hlr, z), convolved "
                  "with its PSF, plus a noise draw of its noise power spectrum"),
        ArraySpec("flowvae_profile", ("N", "H", "W"), "float32", "image",
                  "the same draw, noise-free and unconvolved"),
        ArraySpec("flowvae_random", ("N", "H", "W"), "float32", "image",
                  "random Flow-VAE draw (conditions of another test galaxy), with this "
                  "galaxy's PSF and noise"),
        ArraySpec("reconstruction", ("N", "H", "W"), "float32", "image",
                  "VAE reconstruction g(E[z | x]) convolved with the PSF"),
        ArraySpec("psf", ("N", "P", "P"), "float32", "1", "PSF image, sums to 1"),
        ArraySpec("noise_sigma", ("N",), "float32", "image", "per-pixel noise std"),
        ArraySpec("pixel_scale", ("N",), "float32", "arcsec", "pixel size"),
        ArraySpec("latents", ("N", "D"), "float32", "1", "latents of the Flow-VAE draws"),
    )
    TABLE: ClassVar[dict[str, tuple[str, str]]] = {
        "ident": ("int64", "1"),
        "mag": ("float64", "mag (AB)"),
        "half_light_radius": ("float64", "arcsec"),
        "redshift": ("float64", "1"),
    }
    NAN_ALLOWED: ClassVar[tuple[str, ...]] = ("parametric", "parametric_noiseless")
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ("source", "image_unit")

    cosmos: np.ndarray
    parametric: np.ndarray
    parametric_noiseless: np.ndarray
    flowvae: np.ndarray
    flowvae_profile: np.ndarray
    flowvae_random: np.ndarray
    reconstruction: np.ndarray
    psf: np.ndarray
    noise_sigma: np.ndarray
    pixel_scale: np.ndarray
    latents: np.ndarray
    properties: pd.DataFrame

    @property
    def has_parametric(self) -> bool:
        """Whether the galaxies come with a parametric model (not all NaN)."""
        return bool(np.isfinite(self.parametric).any())
