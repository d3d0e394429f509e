"""The units the score prior learns galaxies in, and how they map to surface brightness.

Adam et al. 2022 sec. 3: "We used the data normalization scheme described in sec. 3.1 of
Smith et al. [19]" (Smith et al. 2022, MNRAS 511, 1808). That section is not in the text we
work from; the scheme below is the one of Smith et al.'s released code
(github.com/Smith42/astroddpm, ``Galaxies`` in ``denoising_diffusion_pytorch.py``, used with
their PROBES cut-outs): every pixel of a DESI Legacy Surveys cut-out (nanomaggies) is
clipped to [0, 5.5] and mapped linearly to [-1, 1],

    x = 2 clip(I, 0, c) / c - 1,    c = 5.5 (``adam.probes.clip_level``).

The paper's sigma_max = 263.4 (Technique 1: the largest distance between two training
images, at n = 256^2 pixels) supports a [-1, 1] range: images in [0, 1] (our ``unit_peak``)
are never further apart than sqrt(n) = 256, images in [-1, 1] up to 2 sqrt(n) = 512.

Two schemes (``adam.normalisation``):

* ``unit_peak`` (the quick default): negative pixels clipped, each image divided by its
  peak, x in [0, 1]; the mock sources' brightness is x itself (unit: the source's peak).
  Kept for the galaxy products of the quick default, whose stamps have no common flux scale
  (simulated or COSMOS counts) and are denoised first (:func:`galprior.lensing.mocks.clean_source_image`).
* ``smith2022`` (the paper preset): x = 2 clip(I, 0, c) / c - 1 as above, for PROBES with
  c = ``adam.probes.clip_level`` (5.5 nanomaggies); for a galaxy product the denoised unit-peak
  stamp takes the place of I with c = 1, so x = 2 I - 1.

The prior's units and surface brightness: the lens equation acts on surface brightness s,
and the background of a [-1, 1] image is -1. The paper does not say how its [-1, 1]
images were lensed; we take the brightness that the normalisation clipped and scaled,

    s = (x + 1) / 2 = clip(I, 0, c) / c    (smith2022; unit: c)      s = x (unit_peak),

so that the background has no flux; :class:`Normalisation` holds this affine map
s = scale x + offset. The likelihood is then written in the prior's units
(:func:`galprior.inference.sde.posterior.data_in_prior_units`): y' = (y - offset A 1) / scale
and sigma_N' = sigma_N / scale, so that eq. 19 holds as printed with A acting on x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Normalisation", "NORMALISATIONS", "get_normalisation", "normalise_image"]


@dataclass(frozen=True)
class Normalisation:
    """The affine map from the prior's units x to source surface brightness s = scale x + offset.

    ``low`` and ``high``: the range of x the scheme produces.
    """

    name: str
    scale: float
    offset: float
    low: float
    high: float

    def to_brightness(self, x):
        """s = scale x + offset (numpy or torch, any shape)."""
        return self.scale * x + self.offset

    def from_brightness(self, s):
        """x = (s - offset) / scale, the inverse of :meth:`to_brightness`."""
        return (s - self.offset) / self.scale


NORMALISATIONS: dict[str, Normalisation] = {
    "unit_peak": Normalisation("unit_peak", scale=1.0, offset=0.0, low=0.0, high=1.0),
    "smith2022": Normalisation("smith2022", scale=0.5, offset=0.5, low=-1.0, high=1.0),
}


def get_normalisation(name: str) -> Normalisation:
    """The scheme called ``name`` (``adam.normalisation``); ValueError naming the choices."""
    try:
        return NORMALISATIONS[name]
    except KeyError:
        raise ValueError(f"adam.normalisation: unknown scheme {name!r}; expected one of "
                         f"{sorted(NORMALISATIONS)}") from None


def normalise_image(image: NDArray, name: str, clip_level: float = 1.0) -> NDArray[np.float32]:
    """One image (H, W) in the prior's units x.

    ``unit_peak``: clip(I, 0) / max; an image without a positive pixel raises ValueError.
    ``smith2022``: 2 clip(I, 0, clip_level) / clip_level - 1 (Smith et al. 2022, module
    docstring); ``clip_level`` in the unit of I (PROBES cut-outs: nanomaggies, 5.5).
    """
    image = np.asarray(image, dtype=np.float64)
    scheme = get_normalisation(name)
    if scheme.name == "unit_peak":
        clipped = np.clip(image, 0.0, None)
        peak = clipped.max()
        if not peak > 0:
            raise ValueError("unit_peak normalisation: the image has no positive pixel")
        return (clipped / peak).astype(np.float32)
    if not clip_level > 0:
        raise ValueError(f"smith2022 normalisation: the clip level must be > 0, got {clip_level}")
    brightness = np.clip(image, 0.0, clip_level) / clip_level
    return scheme.from_brightness(brightness).astype(np.float32)
