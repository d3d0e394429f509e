"""Unconditional samples of a trained score prior: the reverse-time SDE with s_theta alone
(Adam et al. 2022 sec. 2.1), for comparing the prior with its training galaxies."""

from __future__ import annotations

import numpy as np
import torch

from galprior.models.score.network import ScoreUNet

from .solvers import solve

__all__ = ["sample_prior"]


def sample_prior(model: ScoreUNet, n_samples: int, solver: str, n_steps: int, seed: int,
                 max_batch: int, device: torch.device | str = "cpu", **options) -> np.ndarray:
    """Unconditional samples (n, M, M) of the prior: the reverse-time SDE with s_theta alone."""
    model = model.to(device).eval()
    generator = torch.Generator().manual_seed(seed)
    size = model.image_size

    def score(x, t):
        with torch.no_grad():
            return model.score(x, t)

    out = [solve(solver, score, model.sde, (min(max_batch, n_samples - i), size, size), n_steps,
                 generator=generator, device=device, progress=True, **options).cpu().numpy()
           for i in range(0, n_samples, max_batch)]
    return np.concatenate(out).astype(np.float32)
