"""Figures of the Nguyen 2025 system, drawn from evaluation stores and histories (never recomputed).

- :func:`deblend_examples_figure` (Fig. 11) and :func:`regressor_sticks_figure` (Fig. 12);
- :func:`similarity_figure` (Fig. 13): SSIM and cosine similarity after trainings 1 and 2;
- :func:`ellipticity_scatter_figure` (Figs. 15, 17) and :func:`ellipticity_distribution_figure`
  (Figs. 16, 18), with the flow-prior estimates beside the report's two;
- :func:`normalisation_figure` (Figs. 20-21): raw against eq. 9-normalised r-band images;
- :func:`loss_figure` (Figs. 22-23): loss curves of the stages.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from galprior.data.normalisation import normalise  # noqa: E402
from galprior.plots.images import show_image  # noqa: E402
from galprior.store import BlendSet, DeblendEvaluation, StoreReader  # noqa: E402

ESTIMATOR_STYLE = {
    "e_recon_t2": ("VAE reconstruction", "tab:blue"),
    "e_regressor": ("regressor", "tab:orange"),
    "e_flow_map": ("flow-prior MAP", "tab:green"),
    "e_flow_sample": ("flow-posterior draw", "tab:purple"),
}


def _rgb(image: np.ndarray, bands: list[str]) -> np.ndarray:
    """i, r, g channels of a normalised multi-band stamp as an RGB array in [0, 1]."""
    lowered = [b.lower() for b in bands]
    rgb = np.stack([image[lowered.index(b)] for b in ("i", "r", "g")], axis=-1)
    return np.clip(np.nan_to_num(rgb), 0, 1)


def deblend_examples_figure(ev: DeblendEvaluation, n: int = 6):
    """Fig. 11: noisy blend, noiseless centre galaxy, reconstructions after trainings 1 and 2 (gri)."""
    n = min(n, len(ev.example_input))
    bands = ev.attrs["network_bands"]
    fig, axes = plt.subplots(n, 4, figsize=(6.4, 1.7 * n), squeeze=False)
    columns = (("noisy blend", ev.example_input), ("truth", ev.example_truth),
               ("training 1", ev.example_recon_t1), ("training 2", ev.example_recon_t2))
    for row in range(n):
        for col, (title, images) in enumerate(columns):
            ax = axes[row, col]
            ax.imshow(_rgb(images[row], bands), origin="lower")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"{ev.attrs['survey'].upper()} ({ev.attrs['data']}): deblending examples (g r i, eq. 9 units)", fontsize=9)
    fig.tight_layout()
    return fig


def _stick(ax, e: np.ndarray, centre: float, length: float, color: str) -> None:
    mod = np.hypot(*e)
    theta = 0.5 * np.arctan2(e[1], e[0])
    half = 0.5 * length * mod / 0.5  # |e| = 0.5 spans `length` pixels
    dx, dy = half * np.cos(theta), half * np.sin(theta)
    ax.plot([centre - dx, centre + dx], [centre - dy, centre + dy], color=color, lw=2)


def regressor_sticks_figure(ev: DeblendEvaluation, n: int = 8):
    """Fig. 12: training-2 reconstructions with true (red) and regressor (yellow) ellipticity sticks."""
    n = min(n, len(ev.example_recon_t2))
    channel = [b.lower() for b in ev.attrs["network_bands"]].index(ev.attrs["ellipticity_band"].lower())
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.0 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        image = ev.example_recon_t2[k, channel]
        show_image(ax, image, cmap="gray")
        centre = (image.shape[-1] - 1) / 2
        _stick(ax, ev.e_true[k], centre, 20, "red")
        _stick(ax, ev.e_regressor[k], centre, 20, "yellow")
        ax.set_title(f"true {np.hypot(*ev.e_true[k]):.2f}, reg. {np.hypot(*ev.e_regressor[k]):.2f}", fontsize=7)
    fig.suptitle("Training 3: true (red) and regressor (yellow) ellipticities", fontsize=9)
    fig.tight_layout()
    return fig


def similarity_figure(evaluations: dict):
    """Fig. 13: distributions of SSIM and cosine similarity after trainings 1 and 2."""
    names = [k for k, ev in evaluations.items() if np.isfinite(ev.ssim_t2).any()]
    fig, axes = plt.subplots(len(names), 2, figsize=(8, 3 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        ev = evaluations[name]
        for col, (q, label) in enumerate((("ssim", "SSIM"), ("cosine", "cosine similarity"))):
            ax = axes[row, col]
            for stage, color in (("t1", "tab:gray"), ("t2", "tab:blue")):
                v = getattr(ev, f"{q}_{stage}")
                ax.hist(v, bins=30, histtype="step", color=color, lw=1.5, label=f"{stage}: mean {np.nanmean(v):.3f}")
            ax.set_xlabel(label)
            ax.set_ylabel("galaxies")
            ax.set_title(f"{name.upper()} validation blends", fontsize=9)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _contour(ax, d: np.ndarray, color: str, label: str) -> None:
    """1σ, 2σ, 3σ ellipses of the sample covariance of Δe, centred on its mean (Fig. 15, last panel)."""
    mean = d.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(d.T))
    t = np.linspace(0, 2 * np.pi, 200)
    circle = np.stack([np.cos(t), np.sin(t)])
    for k, ls in ((1, "-"), (2, "--"), (3, ":")):
        path = vectors @ (k * np.sqrt(np.clip(values, 0, None))[:, None] * circle)
        ax.plot(mean[0] + path[0], mean[1] + path[1], color=color, ls=ls, lw=1.2, label=label if k == 1 else None)


def ellipticity_scatter_figure(ev: DeblendEvaluation, title: str):
    """Figs. 15/17: e1, e2, |e| against the truth, and Δe contours, per estimator."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    truth = ev.e_true.astype(float)
    for attr, (label, color) in ESTIMATOR_STYLE.items():
        est = getattr(ev, attr).astype(float)
        alpha = 0.5 if attr in ("e_recon_t2", "e_regressor") else 0.25
        for k, (ax, comp) in enumerate(zip(axes[:2], ("e1", "e2"))):
            ax.scatter(truth[:, k], est[:, k], s=4, color=color, alpha=alpha, label=label)
        axes[2].scatter(np.hypot(*truth.T), np.hypot(*est.T), s=4, color=color, alpha=alpha, label=label)
        _contour(axes[3], est - truth, color, label)
    for ax, name in zip(axes[:3], ("e1", "e2", "|e|")):
        lo = -0.8 if name != "|e|" else 0
        ax.plot([lo, 0.8], [lo, 0.8], "k--", lw=0.8)
        ax.set_xlabel(f"true {name}")
        ax.set_ylabel(f"estimated {name}")
    axes[3].set_xlabel("Δe1")
    axes[3].set_ylabel("Δe2")
    axes[3].axhline(0, color="k", lw=0.5)
    axes[3].axvline(0, color="k", lw=0.5)
    axes[3].set_title("Δe: 1σ (solid), 2σ, 3σ covariance ellipses", fontsize=9)
    axes[0].legend(fontsize=7, markerscale=3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def ellipticity_distribution_figure(ev: DeblendEvaluation, title: str):
    """Figs. 16/18: smoothed distributions of e1, e2 and |e|, truth against each estimator."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    truth = ev.e_true.astype(float)
    series = {"truth": (truth, "black")} | {label: (getattr(ev, a).astype(float), c) for a, (label, c) in ESTIMATOR_STYLE.items()}
    for label, (e, color) in series.items():
        values = (e[:, 0], e[:, 1], np.hypot(*e.T))
        for ax, v, rng in zip(axes, values, ((-0.8, 0.8), (-0.8, 0.8), (0, 0.9))):
            h, edges = np.histogram(v, bins=40, range=rng, density=True)
            smooth = np.convolve(h, np.ones(3) / 3, mode="same")
            ax.plot(0.5 * (edges[1:] + edges[:-1]), smooth, color=color, lw=2 if label == "truth" else 1.3, label=label)
    for ax, name in zip(axes, ("e1", "e2", "|e|")):
        ax.set_xlabel(name)
        ax.set_ylabel("density")
    axes[2].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _blend_chunks(blends, n: int | None = None):
    """The raw ``blend`` images of a blend set (a store's reader: a chunk at a time)."""
    if isinstance(blends, StoreReader):
        for part in blends.chunks(stop=n):
            yield blends.read("blend", part)
    else:
        yield blends.blend[:n]


def normalised_histogram(blends, channel: int, bins: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of the eq. 9-normalised pixel values of one channel of every blend
    (``bins`` equal bins from the smallest to the largest value, as ``numpy.histogram``),
    in two passes over the chunks: memory is a chunk, not the split."""
    scale = np.asarray(blends.attrs["band_scale"])
    beta = blends.attrs["normalisation_beta"]
    low, high = np.inf, -np.inf
    for images in _blend_chunks(blends):
        values = normalise(images[:, channel:channel + 1], scale[channel:channel + 1], beta)
        low, high = min(low, float(values.min())), max(high, float(values.max()))
    edges = np.histogram_bin_edges([low, high], bins=bins, range=(low, high))
    counts = np.zeros(bins, np.int64)
    for images in _blend_chunks(blends):
        values = normalise(images[:, channel:channel + 1], scale[channel:channel + 1], beta)
        counts += np.histogram(values.ravel(), bins=edges)[0]
    return counts, edges


def normalisation_figure(blends, n: int = 4, band: str = "r"):
    """Figs. 20-21: raw and eq. 9-normalised images in one band, and their pixel histograms.

    ``blends``: a :class:`~galprior.store.BlendSet`, or its store opened lazily (the
    histogram of the whole split is then accumulated a chunk at a time).
    """
    bands = [b.lower() for b in blends.attrs["bands"]]
    channel = bands.index(band.lower())
    scale = np.asarray(blends.attrs["band_scale"])
    beta = blends.attrs["normalisation_beta"]
    n = min(n, len(blends))
    fig, axes = plt.subplots(3, n, figsize=(2.2 * n, 6.6), squeeze=False)
    first = np.concatenate(list(_blend_chunks(blends, n)))
    normed = normalise(first, scale, beta)
    for k in range(n):
        show_image(axes[0, k], first[k, channel], title="raw (electrons)", cmap="gray")
        show_image(axes[1, k], normed[k, channel], title="normalised, eq. 9", cmap="gray")
    gs = axes[2, 0].get_gridspec()
    for ax in axes[2]:
        ax.remove()
    ax = fig.add_subplot(gs[2, :])
    counts, edges = normalised_histogram(blends, channel)
    ax.stairs(counts, edges, label="normalised blends")
    ax.set_yscale("log")
    ax.set_xlabel(f"{band}-band pixel value, eq. 9 (β = {beta}, <max> = {scale[channel]:.1f} e-)")
    ax.legend(fontsize=7)
    fig.suptitle(f"{blends.attrs['survey'].upper()} {blends.attrs['split']} blends, {band} band", fontsize=10)
    fig.tight_layout()
    return fig


def loss_figure(histories: dict[str, pd.DataFrame]):
    """Figs. 22-23: per-epoch training and validation loss of every stage given."""
    fig, axes = plt.subplots(1, len(histories), figsize=(4.2 * len(histories), 3.4), squeeze=False)
    for ax, (name, history) in zip(axes[0], histories.items()):
        train_col = "train_nll" if "train_nll" in history else "train_loss"
        val_col = "val_nll" if "val_nll" in history else "val_loss"
        ax.plot(history["epoch"], history[train_col], label="training")
        ax.plot(history["epoch"], history[val_col], label="validation")
        if "val_kl" in history:
            twin = ax.twinx()
            twin.plot(history["epoch"], history["val_kl"], color="tab:gray", ls=":", label="validation KL")
            twin.set_ylabel("KL (nats)", fontsize=8)
            twin.legend(fontsize=7, loc="center right")
        ax.set_xlabel("epoch")
        ax.set_ylabel("NLL" if train_col == "train_nll" else "loss")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
