"""Layout of the galaxy sets shared by every system (COSMOS or simulated stamps)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from .base import ArraySpec, Store, StoreError

__all__ = ["GalaxySet"]


@dataclass
class GalaxySet(Store):
    """Galaxy stamps with PSFs, noise variances and a per-galaxy property table.

    ``noise_power`` and ``parametric`` (Lanusse et al. 2021 sec. 4.1 and 4.4) may be left
    out when constructing: ``noise_power`` then defaults to white noise of
    ``noise_variance`` (``H W noise_variance`` at every frequency) and ``parametric`` to
    NaN (no parametric model).
    """

    LAYOUT: ClassVar[str] = "galaxy_set"
    LAYOUT_VERSION: ClassVar[int] = 2
    ENTRY_AXIS: ClassVar[str] = "N"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("images", ("N", "H", "W"), "float32", "image", "observed stamps"),
        ArraySpec("noiseless", ("N", "H", "W"), "float32", "image",
                  "noiseless truth (observed image when noiseless_is_truth is False)"),
        ArraySpec("psf", ("N", "P", "P"), "float32", "1", "PSF image, sums to 1"),
        ArraySpec("noise_variance", ("N",), "float32", "image^2",
                  "per-pixel noise variance"),
        ArraySpec("pixel_scale", ("N",), "float32", "arcsec", "pixel size"),
        ArraySpec("noise_power", ("N", "H", "W"), "float32", "image^2 pixel",
                  "noise power spectrum E|DFT(noise)_k|^2 (numpy FFT order, unshifted; "
                  "white noise: H W noise_variance)"),
        ArraySpec("parametric", ("N", "H", "W"), "float32", "image",
                  "noiseless PSF-convolved parametric model (simulated: smooth bulge+disk; "
                  "COSMOS: catalogue Sersic or bulge+disk fit); NaN when not available"),
    )
    NAN_ALLOWED: ClassVar[tuple[str, ...]] = ("parametric",)
    TABLE: ClassVar[dict[str, tuple[str, str]]] = {
        "ident": ("int64", "1"),
        "mag": ("float64", "mag (AB)"),
        "half_light_radius": ("float64", "arcsec"),
        "flux_radius": ("float64", "arcsec"),
        "redshift": ("float64", "1"),
    }
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = (
        "source", "product", "band", "image_unit", "noiseless_is_truth",
    )

    images: np.ndarray
    noiseless: np.ndarray
    psf: np.ndarray
    noise_variance: np.ndarray
    pixel_scale: np.ndarray
    properties: pd.DataFrame
    noise_power: np.ndarray | None = None
    parametric: np.ndarray | None = None

    def __post_init__(self) -> None:
        shape = np.shape(self.images)
        if self.noise_power is None:
            self.noise_power = (np.asarray(self.noise_variance, np.float32)[:, None, None]
                                * np.float32(shape[-1] * shape[-2])
                                * np.ones(shape, np.float32))
        if self.parametric is None:
            self.parametric = np.full(shape, np.nan, np.float32)
        super().__post_init__()

    def check(self) -> None:
        super().check()
        if self.TABLE and self.properties[["mag", "flux_radius", "redshift"]].isna().any().any():
            raise StoreError(f"{self.LAYOUT}: properties mag/flux_radius/redshift hold NaN")
        if np.any(self.noise_variance < 0):
            raise StoreError(f"{self.LAYOUT}: noise_variance must be >= 0")
        if np.any(self.pixel_scale <= 0):
            raise StoreError(f"{self.LAYOUT}: pixel_scale must be > 0")
