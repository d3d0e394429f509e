"""Figures of the lens inference: fits (Chianese Figs. 6-7), posteriors (Figs. 8-9),
MAP loss traces."""

from __future__ import annotations

import corner
import numpy as np
from matplotlib import pyplot as plt
from matplotlib.lines import Line2D

from galprior.store import MapResultSet, MockLensSet, PosteriorSampleSet
from galprior.metrics.lens_recovery import CIRCULAR, nearest_turn
from galprior.plots.images import show_image

#: Axis labels; r_Ein is Chianese et al.'s (eqs. 11-12, major axis), not lenstronomy's theta_E.
LABELS = {"einstein_radius": "r_Ein (eq. 11) [\"]", "slope": "slope gamma", "position_angle": "phi [rad]",
          "axis_ratio": "q"}
LEVEL_COLOURS = ("tab:red", "tab:orange", "tab:blue", "tab:green", "tab:purple")


def fit_figure(mocks: MockLensSet, fits: MapResultSet, system: int):
    """Chianese et al. 2020 Figs. 6-7: one row per noise level; true and fitted
    observation (same colour scale), their residual divided by the noise sigma, true and
    fitted source (same colour scale) and their residual divided by 10 % of the source
    maximum. r_Ein in the title is the paper's (eqs. 11-12)."""
    n_lev = len(mocks.noise_sigma)
    fig, axes = plt.subplots(n_lev, 6, figsize=(13, 2.3 * n_lev), squeeze=False,
                             constrained_layout=True)
    half = mocks.noiseless.shape[-1] * mocks.attrs["pixel_scale"] / 2
    image_extent = (-half, half, -half, half)
    s_half = fits.attrs["source_plane_size"] / 2
    source_extent = (-s_half, s_half, -s_half, s_half)
    truth_src = fits.source_plane_truth[system]
    for level in range(n_lev):
        sigma = mocks.noise_sigma[level]
        obs, model = mocks.observations[system, level], fits.model_images[system, level]
        vmax = float(mocks.noiseless[system].max())
        row = axes[level]
        show_image(row[0], obs, f"observation, S/N={mocks.snr[system, level]:.0f}",
                   image_extent, vmin=-0.1 * vmax, vmax=vmax)
        row[0].set_ylabel(f"sigma={sigma:.3g}")
        show_image(row[1], model, f"MAP model, chi2_red={fits.reduced_chi2[system, level]:.2f}",
                   image_extent, vmin=-0.1 * vmax, vmax=vmax)
        show_image(row[2], (obs - model) / sigma, "(obs - model) / sigma", image_extent,
                   cmap="RdBu_r", vmin=-4, vmax=4)
        smax = float(truth_src.max()) or 1.0
        fitted = fits.source_plane[system, level]
        show_image(row[3], truth_src, "true source", source_extent, vmin=0, vmax=smax)
        show_image(row[4], fitted, "MAP source", source_extent, vmin=0, vmax=smax)
        # Fig. 6 caption: "source residuals are normalized by dividing by 10% of the
        # maximum value of the source"
        show_image(row[5], (truth_src - fitted) / (0.1 * smax), "(true - MAP) / (0.1 max)", source_extent,
                   cmap="RdBu_r", vmin=-4, vmax=4)
    names = mocks.attrs["lens_parameter_names"]
    truth = ", ".join(f"{n}={v:.3f}" for n, v in zip(names[:3], mocks.lens_parameters[system]))
    fig.suptitle(f"System {system} ({truth}): MAP reconstructions at three noise levels "
                 "(cf. Chianese et al. 2020 Figs. 6-7)", fontsize=9)
    return fig


def corner_figure(mocks: MockLensSet, posterior: PosteriorSampleSet, row: int,
                  parameters=("einstein_radius", "slope", "position_angle")):
    """Posterior of a few lens parameters at every noise level, truth marked
    (Chianese et al. 2020 Figs. 8-9); ``row`` indexes the sampled systems."""
    names = posterior.attrs["parameter_names"]
    cols = [names.index(p) for p in parameters]
    system = posterior.attrs["systems"][row]
    truth = mocks.lens_parameters[system, [mocks.attrs["lens_parameter_names"].index(p)
                                           for p in parameters]]
    every = posterior.samples[row][..., cols].reshape(-1, len(cols)).astype(np.float64)
    circular = [j for j, p in enumerate(parameters) if p in CIRCULAR]
    for j in circular:  # unwrap the angle next to its truth (no split across 0 / pi)
        every[:, j] = nearest_turn(every[:, j], truth[j], CIRCULAR[parameters[j]])
    lo = np.minimum(every.min(0), truth)
    hi = np.maximum(every.max(0), truth)
    pad = np.maximum(0.05 * (hi - lo), 1e-3 * np.maximum(np.abs(hi), 1.0))
    ranges = list(zip(lo - pad, hi + pad))  # also for chains that never moved (tiny runs)
    fig = None
    handles = []
    for level in range(posterior.samples.shape[1]):
        samples = posterior.samples[row, level][..., cols].reshape(-1, len(cols)).astype(np.float64)
        for j in circular:
            samples[:, j] = nearest_turn(samples[:, j], truth[j], CIRCULAR[parameters[j]])
        colour = LEVEL_COLOURS[level % len(LEVEL_COLOURS)]
        fig = corner.corner(samples, fig=fig, color=colour, labels=[LABELS.get(p, p) for p in parameters],
                            truths=truth, truth_color="k", plot_datapoints=False, range=ranges,
                            plot_density=False, levels=(0.68, 0.95), smooth=1.0,
                            hist_kwargs={"density": True})
        handles.append(Line2D([], [], color=colour,
                              label=f"S/N={mocks.snr[system, level]:.0f}"))
    fig.legend(handles=handles, loc="upper right", frameon=False)
    fig.suptitle(f"System {system}: posterior at three S/N (cf. Chianese et al. 2020 Figs. 8-9)",
                 fontsize=9)
    return fig


def _mark_map_stages(ax, config: dict) -> None:
    """Dotted lines and names at the starts of the MAP stages (Adam screen, Adam lens, Adam all, L-BFGS)."""
    screened = config.get("n_candidates", 0) > config.get("n_restarts", 1)
    lengths = [config.get("screen_steps", 0) if screened else 0, config.get("n_steps_lens", 0),
               config.get("n_steps_all", 0), config.get("lbfgs_iterations", 0)]
    names = ["Adam screen", "Adam, z fixed", "Adam, all", "L-BFGS"]
    start = 0
    for name, length in zip(names, lengths):
        if length:
            ax.axvline(start, color="0.5", ls=":", lw=0.8)
            ax.text(start, 1.0, f" {name}", transform=ax.get_xaxis_transform(), fontsize=6, va="top",
                    color="0.3")
        start += length


def loss_trace_figure(fits: MapResultSet):
    """Negative log posterior along the MAP optimisation, every restart, per noise level."""
    n_sys, n_lev = fits.loss_trace.shape[:2]
    fig, axes = plt.subplots(1, n_lev, figsize=(4 * n_lev, 3.2), squeeze=False,
                             constrained_layout=True)
    for level in range(n_lev):
        ax = axes[0, level]
        for s in range(n_sys):
            for r in range(fits.loss_trace.shape[2]):
                best = r == fits.best_restart[s, level]
                trace = fits.loss_trace[s, level, r]
                ax.plot(trace - np.nanmin(fits.loss_trace[s, level]) + 1,
                        color=f"C{s % 10}", alpha=0.9 if best else 0.15, lw=1 if best else 0.6)
        ax.set_yscale("log")
        _mark_map_stages(ax, fits.attrs.get("map_config", {}))
        ax.set_xlabel("iteration")
        ax.set_title(f"sigma={fits.attrs['noise_sigma'][level]:.3g}", fontsize=8)
    axes[0, 0].set_ylabel("-log posterior - min + 1")
    fig.suptitle("MAP optimisation (bold: kept restart; one colour per system)", fontsize=9)
    return fig
