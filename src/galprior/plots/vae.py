"""Figures of the VAE: loss curves, test reconstructions (Chianese Fig. 2) and the
rotation test (Fig. 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from galprior.data.store import ReconstructionSet
from galprior.plots.images import show_image


def loss_curves(history: pd.DataFrame):
    """Training and validation ELBO per epoch (symlog axis: early epochs are very low)."""
    fig, ax = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
    ax.plot(history["epoch"], history["train_elbo"], label="train")
    ax.plot(history["epoch"], history["val_elbo"], label="validation")
    best = history.loc[history["val_elbo"].idxmax()]
    ax.axvline(best["epoch"], color="0.6", ls=":", label=f"best (epoch {int(best['epoch'])})")
    ax.set_yscale("symlog")
    ax.set_xlabel("epoch")
    ax.set_ylabel("ELBO per image (nats)")
    ax.legend(frameon=False)
    ax.set_title("VAE training (Chianese et al. 2020, eq. 4)", fontsize=9)
    return fig


def reconstruction_figure(result: ReconstructionSet, n_galaxies: int = 8):
    """Rows: test galaxy, reconstruction, residual (Chianese et al. 2020 Fig. 2)."""
    n = min(n_galaxies, len(result))
    fig, axes = plt.subplots(3, n, figsize=(1.7 * n, 5.3), squeeze=False,
                             constrained_layout=True)
    for j in range(n):
        image, recon = result.images[j], result.reconstructions[j]
        show_image(axes[0, j], image, vmin=0, vmax=1)
        show_image(axes[1, j], recon, vmin=0, vmax=1)
        residual = image - recon
        lim = float(np.abs(residual).max()) or 1.0
        show_image(axes[2, j], residual, f"rms {np.sqrt(np.mean(residual**2)):.3f}",
                   vmin=-lim, vmax=lim, cmap="RdBu_r")
    for i, label in enumerate(["galaxy", "reconstruction", "residual"]):
        axes[i, 0].set_ylabel(label)
    fig.suptitle("VAE reconstructions of test galaxies (cf. Chianese et al. 2020 Fig. 2)",
                 fontsize=9)
    return fig


def rotation_figure(result: ReconstructionSet, n_galaxies: int = 4):
    """Per galaxy: the image and its derotated reconstructions at each angle (Fig. 3)."""
    n = min(n_galaxies, len(result))
    angles = result.attrs["angles"]
    fig, axes = plt.subplots(n, 1 + len(angles), figsize=(1.7 * (1 + len(angles)), 1.8 * n),
                             squeeze=False, constrained_layout=True)
    for i in range(n):
        show_image(axes[i, 0], result.images[i], "galaxy" if i == 0 else None, vmin=0, vmax=1)
        for a, angle in enumerate(angles):
            recon = result.rotated[a, i]
            rms = np.sqrt(np.mean((recon - result.rotated[0, i]) ** 2))
            show_image(axes[i, 1 + a], recon,
                       f"{angle} deg" + (f" (rms vs 0: {rms:.3f})" if a else ""), vmin=0, vmax=1)
    fig.suptitle("Rotation test: rotate, reconstruct, rotate back "
                 "(cf. Chianese et al. 2020 Fig. 3)", fontsize=9)
    return fig
