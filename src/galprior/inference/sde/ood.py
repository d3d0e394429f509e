"""Out-of-distribution experiment of Adam et al. 2022 (Fig. 2): a source that is not a galaxy.

A glyph (a letter or digit drawn with matplotlib's Agg renderer, unit peak) is lensed by
one of the mock lenses and observed at rising noise levels; the source posterior is
sampled at each. With an informative likelihood the samples follow the glyph; as the noise
grows the prior dominates and the samples become galaxy-like.
"""

from __future__ import annotations

import numpy as np
import torch

from galprior.lensing.operator import LensingOperator
from galprior.metrics.sde import reduced_chi2
from galprior.store import OodSampleSet, ScoreLensSet

from .posterior import SdeSettings, sample_sources, score_simulator

__all__ = ["glyph_source", "ood_experiment"]


def glyph_source(glyph: str, size: int) -> np.ndarray:
    """The character ``glyph`` drawn in white on black, (size, size) float32 with peak 1.

    Row 0 is the lowest row (the ``func.source`` convention), so the glyph appears upright
    with ``origin='lower'``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not glyph:
        raise ValueError("adam.ood.glyph must be a non-empty string")
    fig = Figure(figsize=(1, 1), dpi=4 * size)
    canvas = FigureCanvasAgg(fig)
    fig.patch.set_facecolor("black")
    fig.text(0.5, 0.5, glyph, color="white", ha="center", va="center", fontsize=48, fontweight="bold")
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba(), dtype=np.float32)[..., 0] / 255.0
    image = rgba.reshape(size, 4, size, 4).mean(axis=(1, 3))[::-1]
    return (image / image.max()).astype(np.float32)


def ood_experiment(model, mocks: ScoreLensSet, system: int, glyph: str, noise_levels: list[float],
                   settings: SdeSettings, solver: str, n_samples: int, seed: int,
                   device: torch.device | str = "cpu") -> OodSampleSet:
    """Observations of the glyph behind mock lens ``system`` at each relative noise level
    (noise std = level x source peak) and ``n_samples`` posterior samples of each."""
    size = model.image_size
    truth = glyph_source(glyph, size)
    levels = np.asarray(noise_levels, dtype=np.float64)
    sim = score_simulator(mocks, device=device)
    lens = np.repeat(mocks.lens_parameters[[system]], len(levels), axis=0)
    src = np.repeat(mocks.source_parameters[[system]], len(levels), axis=0)
    src[:, 0] = 1.0
    op = LensingOperator(sim, torch.as_tensor(lens, dtype=torch.float32, device=device),
                         torch.as_tensor(src, dtype=torch.float32, device=device), (size, size))
    x_true = torch.as_tensor(np.repeat(truth[None], len(levels), axis=0), device=device)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        clean = op.forward(x_true).cpu().numpy()
    noise = torch.randn(clean.shape, generator=gen).numpy()
    obs = (clean + levels[:, None, None] * noise).astype(np.float32)
    n_steps = settings.n_steps(solver, size * size, model.sde.sigma_min, model.sde.sigma_max)
    samples, _, n_steps = sample_sources(model, sim, lens, src, obs, levels, solver, n_steps, n_samples,
                                settings.max_batch, seed + 1, device=device,
                                stability_refinement=settings.stability_refinement,
                                likelihood=settings.likelihood, **settings.options(solver))
    chi2 = np.zeros((len(levels), n_samples))
    for i in range(len(levels)):
        op_i = LensingOperator(sim, torch.as_tensor(lens[[i] * n_samples], dtype=torch.float32, device=device),
                               torch.as_tensor(src[[i] * n_samples], dtype=torch.float32, device=device),
                               (size, size))
        with torch.no_grad():
            model_images = op_i.forward(torch.as_tensor(samples[i], device=device)).cpu().numpy()
        chi2[i] = reduced_chi2(obs[i], model_images, levels[i])
    return OodSampleSet(truth=truth, observations=obs, samples=samples, noise_sigma=levels, chi2_nu=chi2,
                        attrs={"glyph": glyph, "solver": solver, "n_steps": n_steps, "system": system})
