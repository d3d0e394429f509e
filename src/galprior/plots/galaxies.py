"""Figures of galaxy sets: a gallery of stamps with their PSFs and properties."""

from __future__ import annotations

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.colors import AsinhNorm

from galprior.store import GalaxySet


def galaxy_gallery(galaxies: GalaxySet, n_galaxies: int = 8, title: str | None = None):
    """Observed image, noiseless image and PSF of the first ``n_galaxies`` galaxies.

    Images use an asinh stretch (faint outskirts and bright cores both visible); each
    column is titled with the galaxy's identifier, magnitude, radius and redshift.
    """
    n = min(n_galaxies, len(galaxies))
    rows = ["images", "noiseless", "psf"]
    labels = ["observed", "noiseless" if galaxies.attrs.get("noiseless_is_truth") else
              "observed (no truth)", "PSF"]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.8 * n, 1.9 * len(rows)),
                             squeeze=False, constrained_layout=True)
    props = galaxies.properties
    for j in range(n):
        scale = float(galaxies.pixel_scale[j])
        for i, name in enumerate(rows):
            image = getattr(galaxies, name)[j]
            half = image.shape[0] * scale / 2
            vmax = float(np.max(image)) or 1.0
            ax = axes[i, j]
            ax.imshow(image, origin="lower", cmap="magma",
                      norm=AsinhNorm(linear_width=0.05 * vmax, vmin=-0.05 * vmax, vmax=vmax),
                      extent=(-half, half, -half, half))
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(labels[i])
        row = props.iloc[j]
        axes[0, j].set_title(
            f"#{int(row['ident'])}  m={row['mag']:.1f}\n"
            f"r={row['flux_radius']:.2f}\"  z={row['redshift']:.2f}", fontsize=7
        )
    if title:
        fig.suptitle(title)
    return fig
