"""Pixelated source placed in the source plane (Chianese et al. 2020 eq. 17).

Why our own code: the source must be sampled for a batch of systems with gradients
w.r.t. the pixels, the intensity, the scale and the position at once, in float32 or
float64; caustics' ``Pixelated`` samples one image at a time (``vmap`` for batches).

Convention: I_src(beta) = intensity * d((beta - beta_src) / scale), where the source
image ``d`` (shape (h, w), e.g. 64 x 64) covers the square
[-1/2, 1/2] x [-1/2, 1/2] in units of ``scale``: the source plane is a square of side
``scale`` arcsec centred on ``(x_src, y_src)``, pixel (j, i) of ``d`` has its centre at
``((i + 1/2)/w - 1/2, (j + 1/2)/h - 1/2) * scale`` (column i along x, row j along y,
row 0 lowest). Values are bilinearly interpolated between pixel centres
(``grid_sample`` with ``align_corners=False``) and taken as zero outside (half a pixel
from the edge they ramp to zero). This equals caustics' ``Pixelated`` with
``pixelscale = scale / w``, ``x0 = x_src``, ``y0 = y_src``, ``scale = intensity``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["source_brightness"]


def source_brightness(
    beta_x: Tensor,
    beta_y: Tensor,
    image: Tensor,
    intensity: Tensor,
    scale: Tensor,
    x_src: Tensor,
    y_src: Tensor,
) -> Tensor:
    """Surface brightness of a batch of pixelated sources at source-plane positions.

    Parameters
    ----------
    beta_x, beta_y: source-plane positions, shape (B, H, W). Unit: arcsec.
    image: source pixels d, shape (B, h, w). Unit: flux (relative).
    intensity: iota, shape (B,). Unit: flux (multiplies d).
    scale: s, side of the source square, shape (B,). Unit: arcsec.
    x_src, y_src: centre of the source square, shape (B,). Unit: arcsec.

    Returns
    -------
    Brightness, shape (B, H, W). Unit: flux.
    """
    inv = (2.0 / scale)[:, None, None]
    u = (beta_x - x_src[:, None, None]) * inv
    v = (beta_y - y_src[:, None, None]) * inv
    grid = torch.stack((u, v), dim=-1)
    out = torch.nn.functional.grid_sample(
        image[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )[:, 0]
    return out * intensity[:, None, None]
