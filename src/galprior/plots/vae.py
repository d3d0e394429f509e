"""Figures of the VAE: loss curves, test reconstructions (Chianese Fig. 2) and the
rotation test (Fig. 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from galprior.store import ReconstructionSet
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
    """Chianese et al. 2020 Fig. 2: test galaxies (top row) and their reconstructions
    mu_d(z), z ~ q(z|x) (bottom row); a third row shows the residual."""
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
    for i, label in enumerate(["galaxy x", "mu_d(z), z ~ q(z|x)", "x - mu_d(z)"]):
        axes[i, 0].set_ylabel(label, fontsize=8)
    fig.suptitle("VAE reconstructions of test galaxies (cf. Chianese et al. 2020 Fig. 2)",
                 fontsize=9)
    return fig


def rotation_figure(result: ReconstructionSet, galaxy: int = 0):
    """Chianese et al. 2020 Fig. 3 for one test galaxy: the galaxy rotated counter-clockwise
    by the angle above each column (new corner pixels filled with noise), the VAE
    reconstructions, and those rotated back; one colour scale for every panel."""
    angles = result.attrs["angles"]
    n = len(angles)
    fig, axes = plt.subplots(3, n, figsize=(1.7 * n, 5.4), squeeze=False, constrained_layout=True)
    rows = (result.rotated_inputs[:, galaxy], result.rotated_reconstructions[:, galaxy], result.rotated[:, galaxy])
    vmax = float(max(np.max(r) for r in rows))
    reference = result.rotated[0, galaxy]
    for a, angle in enumerate(angles):
        show_image(axes[0, a], rows[0][a], f"{angle:g} deg", vmin=0, vmax=vmax)
        show_image(axes[1, a], rows[1][a], vmin=0, vmax=vmax)
        rms = np.sqrt(np.mean((rows[2][a] - reference) ** 2))
        show_image(axes[2, a], rows[2][a], f"rms vs 0 deg {rms:.3f}" if a else None, vmin=0, vmax=vmax)
    for i, label in enumerate(["rotated", "reconstructed", "derotated"]):
        axes[i, 0].set_ylabel(label, fontsize=8)
    fig.suptitle("Rotation test (cf. Chianese et al. 2020 Fig. 3)", fontsize=9)
    return fig
