"""Figures of the Adam et al. 2022 system: training curves, prior samples, Figs. 1-3,
the unknown-lens comparison. Every function reads stores/tables; nothing is recomputed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.ticker import NullFormatter

from galprior.plots.images import show_image

__all__ = ["training_figure", "prior_samples_figure", "fig1_posterior", "fig2_ood", "fig3_gallery",
           "lens_mode_figure"]


def _residual(ax, image, title):
    im = show_image(ax, image, title, cmap="RdBu_r", vmin=-3, vmax=3)
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)


def training_figure(history: pd.DataFrame):
    """DSM loss (eq. 3) per block of steps: training, validation, validation with EMA weights."""
    fig, ax = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
    for column, label in (("train_loss", "training"), ("val_loss", "validation"),
                          ("val_loss_ema", "validation, EMA weights")):
        ax.plot(history["step"], history[column], marker="o", ms=3, label=label)
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("DSM loss (eq. 3), per image")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title("Score-model training (Adam et al. 2022 sec. 2.1)", fontsize=9)
    return fig


def prior_samples_figure(samples: np.ndarray, training: np.ndarray, moments: pd.DataFrame, n: int = 8):
    """Prior samples beside training galaxies, and the quartiles of flux, size, ellipticity."""
    n = min(n, len(samples), len(training))
    fig = plt.figure(figsize=(max(1.6 * n, 7.5), 6.4), constrained_layout=True)
    grid = fig.add_gridspec(3, n)
    for i in range(n):
        show_image(fig.add_subplot(grid[0, i]), samples[i], "prior sample" if i == 0 else None)
        show_image(fig.add_subplot(grid[1, i]), training[i], "training galaxy" if i == 0 else None)
    quantities = list(moments["quantity"])
    bottom = grid[2, :].subgridspec(1, len(quantities))  # one panel per quantity, whatever n
    for k, q in enumerate(quantities):
        ax = fig.add_subplot(bottom[0, k])
        row = moments.set_index("quantity").loc[q]
        for j, (who, colour) in enumerate((("samples", "C0"), ("training", "C1"))):
            lo, mid, hi = row[f"{who}_q25"], row[f"{who}_q50"], row[f"{who}_q75"]
            ax.errorbar([j], [mid], yerr=[[mid - lo], [hi - mid]], fmt="o", color=colour, capsize=4)
        ax.set_xticks([0, 1], ["prior", "training"], fontsize=7)
        ax.set_title(f"{q}: KS = {row['ks_statistic']:.2f}", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("Unconditional samples of the score prior against training galaxies\n"
                 "(median and quartiles of moment-based flux, size, ellipticity)", fontsize=9)
    return fig


def fig1_posterior(evaluation, posterior_samples: np.ndarray, system: int, run: int, noise_sigma: float):
    """Adam et al. Fig. 1: truth and observation, two samples, mean, std, residual SNR,
    in the source plane (top) and the lens plane (bottom)."""
    fig, axes = plt.subplots(2, 6, figsize=(13, 4.6), constrained_layout=True)
    truth = evaluation.truth[system]
    vmax = float(truth.max())
    chi2 = evaluation.chi2_nu[system, run]
    show_image(axes[0, 0], truth, "true source", vmin=0, vmax=vmax)
    for k in range(2):
        show_image(axes[0, 1 + k], posterior_samples[k], f"sample {k + 1}", vmin=0, vmax=vmax)
        show_image(axes[1, 1 + k], evaluation.model_images[system, run, k],
                   f"A x, sample {k + 1}: chi2_nu = {chi2[k]:.2f}", cmap="gray")
    show_image(axes[0, 3], evaluation.posterior_mean[system, run], "posterior mean", vmin=0, vmax=vmax)
    im = show_image(axes[0, 4], evaluation.posterior_std[system, run], "posterior std")
    plt.colorbar(im, ax=axes[0, 4], fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
    _residual(axes[0, 5], evaluation.residual_snr_source[system, run], "(mean - truth) / std")
    show_image(axes[1, 0], evaluation.observations[system], f"observation, sigma_N = {noise_sigma:.3g}",
               cmap="gray")
    im = show_image(axes[1, 3], np.log10(np.clip(evaluation.magnification[system, run], 1e-2, None)),
                    "log10 magnification (source plane)", cmap="viridis")
    plt.colorbar(im, ax=axes[1, 3], fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
    mu = evaluation.magnification[system, run].ravel()
    sd = evaluation.posterior_std[system, run].ravel()
    keep = mu > 0.05
    axes[1, 4].scatter(mu[keep], sd[keep], s=2, alpha=0.5)
    axes[1, 4].set_xscale("log")
    axes[1, 4].xaxis.set_minor_formatter(NullFormatter())
    axes[1, 4].set_xlabel("magnification", fontsize=7)
    axes[1, 4].set_ylabel("posterior std", fontsize=7)
    axes[1, 4].tick_params(labelsize=6)
    _residual(axes[1, 5], evaluation.residual_snr_lens[system, run], "(y - A mean) / sigma_N")
    fig.suptitle(f"System {system}, {evaluation.attrs['runs'][run]} "
                 f"({evaluation.attrs['n_steps'][run]} steps): median chi2_nu = {np.median(chi2):.2f} "
                 f"(Adam et al. 2022 Fig. 1)", fontsize=9)
    return fig


def fig2_ood(ood):
    """Adam et al. Fig. 2: the out-of-distribution source, then a posterior sample (top) and
    the observation (bottom) at each noise level."""
    n = len(ood.noise_sigma)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.2 * (n + 1), 4.6), constrained_layout=True)
    show_image(axes[0, 0], ood.truth, "ground truth", vmin=0, vmax=1)
    axes[1, 0].axis("off")
    for i in range(n):
        show_image(axes[0, i + 1], ood.samples[i, 0], f"sample, chi2_nu = {ood.chi2_nu[i, 0]:.2f}",
                   vmin=0, vmax=1)
        show_image(axes[1, i + 1], ood.observations[i], f"sigma_N = {ood.noise_sigma[i]:.3g}", cmap="gray")
    fig.suptitle(f"Out-of-distribution source '{ood.attrs['glyph']}' at rising noise: samples turn "
                 "galaxy-like as the likelihood weakens (Adam et al. 2022 Fig. 2)", fontsize=9)
    return fig


def fig3_gallery(evaluation, posterior_samples: np.ndarray, system: int, run: int, n: int = 6):
    """Adam et al. Fig. 3: posterior samples (source plane) and their lensed images with chi2_nu."""
    n = min(n, evaluation.model_images.shape[2], len(posterior_samples))
    fig, axes = plt.subplots(2, n, figsize=(2.1 * n, 4.4), squeeze=False, constrained_layout=True)
    vmax = float(evaluation.truth[system].max())
    for k in range(n):
        show_image(axes[0, k], posterior_samples[k], f"sample {k + 1}", vmin=0, vmax=vmax)
        show_image(axes[1, k], evaluation.model_images[system, run, k],
                   f"chi2_nu = {evaluation.chi2_nu[system, run, k]:.2f}", cmap="gray")
    fig.suptitle(f"Posterior samples of system {system} ({evaluation.attrs['runs'][run]}), source and "
                 "lens planes (Adam et al. 2022 Fig. 3)", fontsize=9)
    return fig


def lens_mode_figure(evaluation, runs: list[int]):
    """Truth, then posterior mean and std of each chosen run, one row per system."""
    n_sys = len(evaluation.truth)
    fig, axes = plt.subplots(n_sys, 1 + 2 * len(runs), figsize=(2.1 * (1 + 2 * len(runs)), 2.2 * n_sys),
                             squeeze=False, constrained_layout=True)
    for s in range(n_sys):
        vmax = float(evaluation.truth[s].max())
        show_image(axes[s, 0], evaluation.truth[s], "truth" if s == 0 else None, vmin=0, vmax=vmax)
        std_max = float(max(evaluation.posterior_std[s, r].max() for r in runs))
        for j, r in enumerate(runs):
            name = evaluation.attrs["runs"][r]
            show_image(axes[s, 1 + 2 * j], evaluation.posterior_mean[s, r], f"mean, {name}" if s == 0 else None,
                       vmin=0, vmax=vmax)
            show_image(axes[s, 2 + 2 * j], evaluation.posterior_std[s, r], f"std, {name}" if s == 0 else None,
                       vmin=0, vmax=std_max)
    fig.suptitle("Source posterior with the true lens and with a MAP lens (beyond the paper)", fontsize=9)
    return fig
