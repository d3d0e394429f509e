"""Variance-exploding SDE of Adam et al. 2022 (sec. 2.2, app. B; Song et al. 2021).

Forward SDE dx = g(t) dw on t in [0, 1] with

    sigma(t) = sigma_min (sigma_max / sigma_min)^t,
    g(t)     = sqrt(d sigma^2 / dt) = sigma(t) sqrt(2 ln(sigma_max / sigma_min)),

so that p_t(x) = p_0 * N(0, sigma(t)^2 1) and p_1 ~ N(0, sigma_max^2 1).

``sigma_max`` follows Song & Ermon 2020 (Technique 1) as the paper does (sec. 3: 263.4
for PROBES): the largest Euclidean distance between two training images
(:func:`largest_pairwise_distance`), or the value of ``adam.score_model.sigma_max`` (the
paper preset: 263.4). ``sigma_min`` is a setting (paper 1e-4, "roughly the
scale of the smallest details"); see the config schema for ours.

The number of reverse-time steps follows Technique 2 of Song & Ermon (app. B, eq. 21-22):
:func:`technique2_probability` and :func:`technique2_steps`.

Why our own code: the formulas are three lines each and the sampler needs them as
plain torch functions of t (batched) and of sigma (for the Heun solver's sigma grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm
from torch import Tensor

__all__ = ["VESDE", "largest_pairwise_distance", "technique2_probability", "technique2_steps"]


@dataclass(frozen=True)
class VESDE:
    """sigma(t) = sigma_min (sigma_max/sigma_min)^t and g(t) = sqrt(d sigma^2/dt).

    Unit of sigma_min, sigma_max: the image unit (ours: unit-peak sources).
    """

    sigma_min: float
    sigma_max: float

    def __post_init__(self) -> None:
        if not (0 < self.sigma_min < self.sigma_max):
            raise ValueError(
                f"VE SDE needs 0 < sigma_min < sigma_max, got sigma_min={self.sigma_min}, "
                f"sigma_max={self.sigma_max}")

    @property
    def log_ratio(self) -> float:
        """ln(sigma_max / sigma_min)."""
        return math.log(self.sigma_max / self.sigma_min)

    def sigma(self, t: Tensor) -> Tensor:
        """Noise scale sigma(t), same shape as t."""
        return self.sigma_min * torch.exp(t * self.log_ratio)

    def g2(self, t: Tensor) -> Tensor:
        """Squared diffusion coefficient g(t)^2 = d sigma^2/dt = 2 sigma^2 ln(sigma_max/sigma_min)."""
        return 2.0 * self.sigma(t) ** 2 * self.log_ratio

    def g(self, t: Tensor) -> Tensor:
        """Diffusion coefficient g(t)."""
        return self.g2(t).sqrt()

    def t_of_sigma(self, sigma: Tensor) -> Tensor:
        """Inverse of sigma(t)."""
        return torch.log(sigma / self.sigma_min) / self.log_ratio

    def prior_sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> Tensor:
        """Draw from p_1 = N(0, sigma_max^2 1), the start of the reverse-time SDE."""
        return self.sigma_max * torch.randn(shape, generator=generator, dtype=dtype, device=device)


def largest_pairwise_distance(images: np.ndarray | Tensor, chunk: int = 512) -> float:
    """Largest Euclidean distance between any two images (Song & Ermon Technique 1).

    Computed block against block, ``chunk`` images at a time, so that memory holds two
    blocks: ``images`` may be an array, a tensor or a Zarr array (a training set streamed
    from disk), anything with a shape and slicing along the first axis.

    Parameters
    ----------
    images: (N, ...) training images; flattened per image.
    chunk: images per block of the distance matrix (memory).
    """
    n = images.shape[0] if hasattr(images, "shape") else len(images)
    if n < 2:
        raise ValueError(f"need at least two training images to estimate sigma_max, got {n}")

    def block(start: int) -> Tensor:
        rows = images[start:start + chunk]
        rows = rows.detach().cpu() if isinstance(rows, Tensor) else np.asarray(rows)
        return torch.as_tensor(rows, dtype=torch.float64).reshape(len(rows), -1)

    best = 0.0
    for i in range(0, n, chunk):
        left = block(i)
        for j in range(i, n, chunk):
            best = max(best, float(torch.cdist(left, left if j == i else block(j)).max()))
    return best


def technique2_probability(n_steps: int | np.ndarray, n_dim: int, sigma_min: float, sigma_max: float) -> np.ndarray:
    """p(N) of Adam et al. eq. 22 with gamma = (sigma_max/sigma_min)^(1/N) (eq. 21).

    p(N) = Phi(sqrt(2n)(gamma - 1) + 3 gamma) - Phi(sqrt(2n)(gamma - 1) - 3 gamma):
    the probability that a sample of p_t lies in the 3-sigma region of the next,
    lower-temperature p_{t + Delta t}. Paper (n = 256^2, 263.4 / 1e-4): p(2000) = 0.64,
    p(8000) = 0.99.
    """
    n_steps = np.asarray(n_steps, dtype=np.float64)
    gamma = np.exp(np.log(sigma_max / sigma_min) / n_steps)
    a = np.sqrt(2.0 * n_dim) * (gamma - 1.0)
    return norm.cdf(a + 3.0 * gamma) - norm.cdf(a - 3.0 * gamma)


def technique2_steps(n_dim: int, sigma_min: float, sigma_max: float, probability: float) -> int:
    """Fewest steps N with p(N) >= probability (eq. 22; paper: 0.99 -> N = 8000 at 256^2)."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"Technique-2 probability must be in (0, 1), got {probability}")
    hi = 1
    while technique2_probability(hi, n_dim, sigma_min, sigma_max) < probability:
        hi *= 2
        if hi > 2**30:
            raise ValueError(f"no step count reaches p(N) >= {probability}")
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if technique2_probability(mid, n_dim, sigma_min, sigma_max) >= probability:
            hi = mid
        else:
            lo = mid
    return int(hi)
