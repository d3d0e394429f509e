"""External shear deflection (lenstronomy ``SHEAR`` convention, ra_0 = dec_0 = 0).

Why our own code: two lines of maths, but it must be batched torch with autograd in
float32/float64 next to our EPL; lenstronomy is numpy-only.

alpha_x = gamma1 x + gamma2 y,  alpha_y = gamma2 x - gamma1 y, with (x, y) measured
from the origin of the image plane (not from the lens centre).
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["shear_deflection"]


def shear_deflection(x: Tensor, y: Tensor, gamma1: Tensor, gamma2: Tensor) -> tuple[Tensor, Tensor]:
    """Deflection of an external shear field.

    Parameters
    ----------
    x, y: image-plane positions (broadcast with the shear). Unit: arcsec.
    gamma1, gamma2: shear components. Unit: unitless.

    Returns
    -------
    alpha_x, alpha_y. Unit: arcsec.
    """
    return gamma1 * x + gamma2 * y, gamma2 * x - gamma1 * y
