"""Pure, batched, differentiable torch functions for strong lensing (maths only).

The parametrised classes built on them live one level up (``galprior.lensing``).
"""

from .epl import EPLTable, build_epl_table, epl_angular_series, epl_deflection, epl_n_terms
from .epl import lenstronomy_einstein_radius, paper_einstein_radius
from .instrument import add_gaussian_noise, avg_pool, fft_convolve, gaussian_psf
from .raytrace import DEFAULT_N_PIX, DEFAULT_PIXEL_SCALE, lens_equation, pixel_grid
from .shear import shear_deflection
from .snr import signal_to_noise, snr_mask
from .source import source_brightness

__all__ = [
    "EPLTable", "build_epl_table", "epl_angular_series", "epl_deflection", "epl_n_terms",
    "lenstronomy_einstein_radius", "paper_einstein_radius",
    "add_gaussian_noise", "avg_pool", "fft_convolve", "gaussian_psf",
    "DEFAULT_N_PIX", "DEFAULT_PIXEL_SCALE", "lens_equation", "pixel_grid",
    "shear_deflection", "signal_to_noise", "snr_mask", "source_brightness",
]
