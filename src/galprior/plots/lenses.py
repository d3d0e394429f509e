"""Figures of mock strong lenses: source, lensed image and noisy observations."""

from __future__ import annotations

import numpy as np
from matplotlib import pyplot as plt

from galprior.store import MockLensSet
from galprior.plots.images import show_image


def mock_lens_figure(mocks: MockLensSet, n_systems: int = 3):
    """One row per system: source, noiseless lensed image, one panel per noise level."""
    n = min(n_systems, len(mocks))
    n_levels = len(mocks.noise_sigma)
    fig, axes = plt.subplots(n, 2 + n_levels, figsize=(2.2 * (2 + n_levels), 2.3 * n),
                             squeeze=False, constrained_layout=True)
    half = mocks.noiseless.shape[-1] * mocks.attrs["pixel_scale"] / 2
    extent = (-half, half, -half, half)
    names = mocks.attrs["lens_parameter_names"]
    for s in range(n):
        lens = dict(zip(names, mocks.lens_parameters[s]))
        scale = mocks.source_parameters[s, 1]  # eq. 17: the stamp spans [-s, s] (chianese2020)
        half_side = scale if mocks.attrs.get("parameter_convention") == "chianese2020" else scale / 2
        src_extent = (-half_side, half_side, -half_side, half_side)
        show_image(axes[s, 0], mocks.sources[s], "source" if s == 0 else None, src_extent)
        axes[s, 0].set_ylabel(f"system {s}\n"
                              f"r_Ein(eq. 11)={lens['einstein_radius']:.2f}\", "
                              f"slope={lens['slope']:.2f}", fontsize=7)
        show_image(axes[s, 1], mocks.noiseless[s], "lensed, noiseless" if s == 0 else None,
                   extent)
        for level in range(n_levels):
            show_image(axes[s, 2 + level], mocks.observations[s, level],
                       f"sigma={mocks.noise_sigma[level]:.3g}" if s == 0 else None, extent,
                       cmap="gray")
            axes[s, 2 + level].text(0.03, 0.04, f"S/N={mocks.snr[s, level]:.0f}",
                                    transform=axes[s, 2 + level].transAxes, color="w",
                                    fontsize=7)
    fig.suptitle("Mock lenses (Chianese et al. 2020 sec. 5.1): source, lensed image, "
                 "observations at three noise levels", fontsize=9)
    return fig


def score_lens_figure(observations: np.ndarray, sources: np.ndarray, pixel_scale: float,
                      n_systems: int = 4):
    """Sources and pooled noisy observations of the Adam et al. 2022 mocks."""
    n = min(n_systems, len(observations))
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 4.6), squeeze=False,
                             constrained_layout=True)
    half = observations.shape[-1] * pixel_scale / 2
    for s in range(n):
        show_image(axes[0, s], sources[s], f"source {s}")
        show_image(axes[1, s], observations[s], "observation", (-half, half, -half, half),
                   cmap="gray")
    fig.suptitle("SIE + shear mocks (Adam et al. 2022)", fontsize=9)
    return fig
