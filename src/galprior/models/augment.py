"""Random orientations of galaxy images: the dihedral group D4 of the square, exact on the pixel grid.

Galaxies have no preferred orientation as a population, so the score prior (Adam et al.
2022) and the Flow-VAE (Lanusse et al. 2021) may train on flipped and transposed copies
(both papers are silent on augmentation; each system's config says whether it does).
An element is three booleans per image, applied in this order: flip rows, flip
columns, transpose; the 8 combinations are the 8 elements of D4.

What a flip does to the index depends on what the array is (``layout``):

* ``"image"``: pixel i goes to P - 1 - i (a galaxy stamp);
* ``"centred"``: as "image", then rolled so that pixel ``P // 2`` stays where it was
  (one pixel for an even side): a PSF that
  :func:`galprior.models.flowvae.likelihood.convolve_psf` takes as centred there;
* ``"spectrum"``: a 2-D FFT array in numpy's unshifted order, where flipping an image
  along an axis reflects that frequency component, k -> -k mod P (a noise power
  spectrum); a transpose transposes it in every layout.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["LAYOUTS", "random_dihedral", "apply_dihedral"]


def random_dihedral(n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> Tensor:
    """A uniformly random D4 element per image: a (3, n) boolean tensor (flip rows, flip
    columns, transpose), drawn with ``generator`` (CPU) and moved to ``device``."""
    return (torch.rand(3, n, generator=generator) < 0.5).to(device)


LAYOUTS = ("image", "centred", "spectrum")


def apply_dihedral(x: Tensor, element: Tensor, layout: str = "image") -> Tensor:
    """Arrays ``(n, ..., P, P)`` under their elements (3, n) of :func:`random_dihedral`;
    ``layout`` (module docstring) says how a flip moves the indices."""
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"dihedral transforms need square images, got {tuple(x.shape[-2:])}")
    side = x.shape[-1]
    shifts = {"image": 0, "centred": 2 * (side // 2) - (side - 1), "spectrum": 1}
    if layout not in shifts:
        raise ValueError(f"layout {layout!r}: expected one of {LAYOUTS}")
    shift = shifts[layout]
    out = x.clone()
    for mask, dim in ((element[0], -2), (element[1], -1)):
        if mask.any():
            out[mask] = out[mask].flip(dim).roll(shift, dim)
    if element[2].any():
        out[element[2]] = out[element[2]].transpose(-1, -2)
    return out
