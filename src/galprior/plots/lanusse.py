"""Figures of Lanusse et al. 2021 (Figs. 1, 4-9) from the stored samples and tables.

Plotting only: every number is read from the workflow's stores and tables
(:class:`~galprior.store.MorphologySampleSet`, :class:`~galprior.store.LatentSampleSet`,
the morphology CSV tables); nothing is recomputed here. Matplotlib, Agg backend.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from galprior.plots.images import show_image  # noqa: E402

SAMPLE_LABELS = {"cosmos": "data", "parametric": "parametric", "flowvae": "Flow-VAE"}
SAMPLE_COLOURS = {"cosmos": "black", "parametric": "tab:blue", "flowvae": "tab:red"}


def _asinh(image: np.ndarray, scale: float) -> np.ndarray:
    return np.arcsinh(np.nan_to_num(image) / scale)


def _examples(samples, n: int) -> np.ndarray:
    """``n`` test galaxies spread over the range of sizes (smallest to largest)."""
    order = np.argsort(samples.properties["half_light_radius"].to_numpy())
    return order[np.linspace(0, len(order) - 1, min(n, len(order))).astype(int)]


def training_curves(vae_history: pd.DataFrame, flow_history: pd.DataFrame) -> plt.Figure:
    """VAE loss after each pass (train with aids, validation without) and the flow's
    log-likelihood, against the optimiser step (the paper counts iterations)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    ax = axes[0]
    ax.plot(vae_history["step"], vae_history["train_loss"], "o-", label="train (with aids)")
    ax.plot(vae_history["step"], vae_history["val_loss"], "s-", label="validation")
    ax.set(xlabel="optimiser step", ylabel="loss per galaxy (nats)", yscale="log",
           title="VAE: -log L + max(lambda, KL) + TV")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(flow_history["step"], flow_history["train_log_prob"], label="train")
    ax.plot(flow_history["step"], flow_history["val_log_prob"], label="validation")
    ax.set(xlabel="optimiser step", ylabel="mean log p(z | y)", title="latent flow")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig1_samples(samples, n: int) -> plt.Figure:
    """Fig. 1: data (top), parametric twins, random and conditional Flow-VAE draws with the
    same PSF and noise, and the conditional draws noise-free and unconvolved (bottom)."""
    index = _examples(samples, n)
    # row labels on the left, as y-labels (tight_layout makes room for them; a title as wide
    # as the label ran off the figure's left edge)
    rows = [("data", samples.cosmos), ("parametric\n+ PSF + noise", samples.parametric),
            ("random Flow-VAE\ndraw + PSF + noise", samples.flowvae_random),
            ("conditional Flow-VAE\n+ PSF + noise", samples.flowvae),
            ("Flow-VAE profile\n(no PSF, no noise)", samples.flowvae_profile)]
    fig, axes = plt.subplots(len(rows), len(index), figsize=(1.6 * len(index) + 0.8,
                                                             1.7 * len(rows)), squeeze=False)
    for col, i in enumerate(index):
        scale = 2.0 * float(samples.noise_sigma[i])
        vmax = _asinh(samples.cosmos[i], scale).max()
        for row, (label, images) in enumerate(rows):
            show_image(axes[row, col], _asinh(images[i], scale), vmin=-1, vmax=vmax)
            if col == 0:
                axes[row, col].set_ylabel(label, fontsize=7)
        props = samples.properties.iloc[i]
        axes[-1, col].set_xlabel(f"m={props['mag']:.1f} r={props['half_light_radius']:.2f}\"",
                                 fontsize=7)
    fig.suptitle("Lanusse et al. 2021 Fig. 1: conditional draws (asinh stretch)", fontsize=9)
    fig.tight_layout()
    return fig


def fig4_latents(latents, dims: int = 4) -> plt.Figure:
    """Fig. 4: pairs of latent dimensions, encoded training galaxies (upper triangle) and
    latent-flow draws for the same conditions (lower triangle), coloured by magnitude."""
    dims = min(dims, latents.encoded.shape[1])
    mag = latents.conditions[:, 0]
    fig, axes = plt.subplots(dims, dims, figsize=(2.0 * dims, 2.0 * dims), squeeze=False)
    for r in range(dims):
        for c in range(dims):
            ax = axes[r, c]
            if r == c:
                bins = np.linspace(*np.percentile(latents.encoded[:, r], [0.5, 99.5]), 30)
                ax.hist(latents.encoded[:, r], bins, histtype="step", color="k", density=True,
                        label="encoded")
                ax.hist(latents.sampled[:, r], bins, histtype="step", color="tab:red",
                        density=True, label="flow")
                if r == 0:
                    ax.legend(fontsize=6)
            else:
                points = latents.encoded if r < c else latents.sampled
                sc = ax.scatter(points[:, c], points[:, r], c=mag, s=2, cmap="viridis")
            ax.tick_params(labelsize=6)
            if r == dims - 1:
                ax.set_xlabel(f"z{c}", fontsize=8)
            if c == 0:
                ax.set_ylabel(f"z{r}", fontsize=8)
    fig.colorbar(sc, ax=axes, shrink=0.6, label="mag")
    fig.suptitle("Fig. 4: encoded (upper right) vs flow draws (lower left)", fontsize=9)
    return fig


def fig5_reconstructions(samples, n: int) -> plt.Figure:
    """Fig. 5: input, VAE reconstruction, parametric model and both residuals, by size."""
    index = _examples(samples, n)
    fig, axes = plt.subplots(len(index), 5, figsize=(8, 1.6 * len(index)), squeeze=False)
    titles = ("data", "VAE", "parametric", "data - VAE", "data - parametric")
    for row, i in enumerate(index):
        sigma = float(samples.noise_sigma[i])
        scale = 2.0 * sigma
        vmax = _asinh(samples.cosmos[i], scale).max()
        panels = (samples.cosmos[i], samples.reconstruction[i], samples.parametric_noiseless[i])
        for col, image in enumerate(panels):
            show_image(axes[row, col], _asinh(image, scale), vmin=-1, vmax=vmax,
                       title=titles[col] if row == 0 else None)
        for col, model in ((3, samples.reconstruction[i]), (4, samples.parametric_noiseless[i])):
            show_image(axes[row, col], (samples.cosmos[i] - model) / sigma, cmap="RdBu_r",
                       vmin=-5, vmax=5, title=titles[col] if row == 0 else None)
    fig.suptitle("Fig. 5: reconstructions (residuals in units of the noise std, +-5)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def _hist_by_sample(ax, morphology: pd.DataFrame, column: str, bins, transform=None,
                    means: bool = False) -> None:
    for sample, table in morphology.groupby("sample", sort=False):
        values = table[column].dropna().to_numpy()
        if transform is not None:
            values = transform(values)
            values = values[np.isfinite(values)]
        if len(values) == 0:
            continue
        ax.hist(values, bins, histtype="step", density=True, lw=1.5,
                color=SAMPLE_COLOURS.get(sample), label=SAMPLE_LABELS.get(sample, sample))
        if means:
            ax.axvline(values.mean(), color=SAMPLE_COLOURS.get(sample), ls="--", lw=1)


def fig6_second_moments(morphology: pd.DataFrame, summary: pd.DataFrame) -> plt.Figure:
    """Fig. 6: determinant radius (means as vertical lines) and mean |g| with 1-sigma errors."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    bins = np.linspace(0, np.nanpercentile(morphology["sigma"], 99), 30)
    _hist_by_sample(axes[0], morphology, "sigma", bins, means=True)
    axes[0].set(xlabel="HSM determinant radius sigma (arcsec)", ylabel="density")
    axes[0].legend(fontsize=8)
    ax = axes[1]
    x = np.arange(len(summary))
    ax.errorbar(x, summary["mean_abs_g"], yerr=summary["mean_abs_g_err"], fmt="o",
                color="k")
    ax.set_xticks(x, [SAMPLE_LABELS.get(s, s) for s in summary["sample"]])
    ax.set(ylabel="mean |g|", title="mean ellipticity (1-sigma errors)")
    for xi, (_, row) in zip(x, summary.iterrows()):
        ax.annotate(f"{100 * row['rel_diff_abs_g']:+.1f}%\nsize {100 * row['rel_diff_sigma']:+.1f}%",
                    (xi, row["mean_abs_g"]), textcoords="offset points", xytext=(8, 0),
                    fontsize=7)
    fig.suptitle("Fig. 6: second moments (differences to the data)", fontsize=9)
    fig.tight_layout()
    return fig


def _binned_median(x: np.ndarray, y: np.ndarray, n_bins: int = 6):
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2:
        return np.array([]), np.array([]), np.array([])
    edges = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)))
    centres, medians, errors = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (x >= lo) & (x <= hi)
        if sel.sum() < 2:
            continue
        centres.append(np.median(x[sel]))
        medians.append(np.median(y[sel]))
        errors.append(1.2533 * y[sel].std() / np.sqrt(sel.sum()))
    return np.array(centres), np.array(medians), np.array(errors)


def fig7_conditioning(conditioning: pd.DataFrame) -> plt.Figure:
    """Fig. 7: size and magnitude differences of each draw to its galaxy, binned medians."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, (x, y, xlabel, ylabel) in zip(axes, (
            ("half_light_radius", "delta_sigma", "half-light radius (arcsec)",
             "sigma(draw) / sigma(data) - 1"),
            ("mag", "delta_mag", "magnitude", "mag(draw) - mag(data)"))):
        ax.scatter(conditioning[x], conditioning[y], s=6, alpha=0.5, color="grey")
        c, m, e = _binned_median(conditioning[x].to_numpy(), conditioning[y].to_numpy())
        ax.errorbar(c, m, yerr=e, color="red", lw=2, label="binned median")
        ax.axhline(0, color="k", lw=0.8)
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.legend(fontsize=8)
    fig.suptitle("Fig. 7: conditioning accuracy", fontsize=9)
    fig.tight_layout()
    return fig


def fig8_mid(morphology: pd.DataFrame) -> plt.Figure:
    """Fig. 8: marginal M, log10 I and D statistics of the three samples."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    _hist_by_sample(axes[0], morphology, "multimode", np.linspace(0, 1, 21))
    _hist_by_sample(axes[1], morphology, "intensity", np.linspace(-4, 0, 21),
                    transform=lambda v: np.log10(np.where(v > 0, v, np.nan)))
    _hist_by_sample(axes[2], morphology, "deviation", np.linspace(0, 0.5, 21))
    for ax, label in zip(axes, ("M", "log10 I", "D")):
        ax.set(xlabel=label, ylabel="density")
    axes[0].legend(fontsize=8)
    fig.suptitle("Fig. 8: MID statistics (statmorph)", fontsize=9)
    fig.tight_layout()
    return fig


def fig9_gini_m20_id(morphology: pd.DataFrame) -> plt.Figure:
    """Fig. 9: 2-D histograms of Gini-M20 (top) and I-D (bottom) per sample."""
    samples = [s for s in SAMPLE_LABELS if s in set(morphology["sample"])]
    fig, axes = plt.subplots(2, len(samples), figsize=(3.3 * len(samples), 6.2), squeeze=False)
    for col, sample in enumerate(samples):
        table = morphology[morphology["sample"] == sample]
        for row, (x, y, xr, yr) in enumerate((("m20", "gini", (-3, 0), (0.3, 0.8)),
                                               ("intensity", "deviation", (0, 1), (0, 0.5)))):
            ok = table[[x, y]].dropna()
            ax = axes[row, col]
            ax.hist2d(ok[x], ok[y], bins=20, range=(xr, yr), cmap="Greys")
            ax.set(xlabel=x.upper() if x == "m20" else "I", ylabel="Gini" if y == "gini" else "D",
                   title=f"{SAMPLE_LABELS[sample]} (n={len(ok)})")
            if x == "m20":
                ax.invert_xaxis()
    fig.suptitle("Fig. 9: Gini-M20 (top) and I-D (bottom) planes", fontsize=9)
    fig.tight_layout()
    return fig
