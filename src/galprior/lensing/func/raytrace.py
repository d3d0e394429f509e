"""Pixel grid of the image plane and the lens equation.

Why our own code: the grid is shared by every batched, differentiable torch
computation downstream (caustics' ``meshgrid`` has the same convention, lenstronomy's
is numpy).

Grid convention: ``n x n`` pixels of side ``pixel_scale`` (default 256 and 0.04
arcsec, a 10.24 arcsec field), pixel *centres* at ``(i - (n - 1) / 2) * pixel_scale``,
origin at the centre of the field (between the four central pixels for even n).
``x`` increases with the column index and ``y`` with the row index (``indexing='xy'``,
row 0 is the lowest y: display with ``origin='lower'``), as in caustics.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["DEFAULT_N_PIX", "DEFAULT_PIXEL_SCALE", "pixel_grid", "lens_equation"]

DEFAULT_N_PIX = 256
DEFAULT_PIXEL_SCALE = 0.04  # arcsec / pixel (Chianese et al. 2020)


def pixel_grid(
    n_pix: int = DEFAULT_N_PIX,
    pixel_scale: float = DEFAULT_PIXEL_SCALE,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates ``(x, y)``, each of shape (n_pix, n_pix).

    Parameters
    ----------
    n_pix: pixels per side.
    pixel_scale: pixel side. Unit: arcsec.
    """
    half = (n_pix - 1) / 2.0
    c = (torch.arange(n_pix, dtype=torch.float64, device=device) - half) * pixel_scale
    c = c.to(dtype)
    y, x = torch.meshgrid(c, c, indexing="ij")
    return x, y


def lens_equation(x: Tensor, y: Tensor, alpha_x: Tensor, alpha_y: Tensor) -> tuple[Tensor, Tensor]:
    """Source-plane position beta = theta - alpha(theta). Unit: arcsec."""
    return x - alpha_x, y - alpha_y
