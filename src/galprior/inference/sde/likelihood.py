"""Convolved likelihood of Adam et al. 2022 (sec. 2.2, app. A eq. 19) and its score.

The data y = A x + eta, eta ~ N(0, sigma_N^2 1) (eq. 1). At diffusion time t the
likelihood of the noised source x_t is approximated by (eq. 12, with A A^T ~ 1, eq. 19)

    p_t(y | x_t) ~ N(y | A x_t, (sigma_N^2 + sigma(t)^2) 1),

whose score is

    grad_x log p_t(y | x_t) = A^T (y - A x_t) / (sigma_N^2 + sigma(t)^2).

A is a :class:`galprior.lensing.operator.LensingOperator` (or any object with
``forward`` and ``adjoint``); the adjoint is exact (a vector-Jacobian product).
"""

from __future__ import annotations

import math

from torch import Tensor

__all__ = ["convolved_log_likelihood", "convolved_likelihood_score", "largest_eigenvalue"]


def _variance(sigma_noise: Tensor | float, sigma_t: Tensor, ndim: int) -> Tensor:
    var = sigma_noise**2 + sigma_t**2
    return var.reshape(-1, *([1] * (ndim - 1))) if var.ndim else var


def convolved_log_likelihood(x: Tensor, y: Tensor, forward, sigma_noise: Tensor | float,
                             sigma_t: Tensor) -> Tensor:
    """log N(y | A x, (sigma_N^2 + sigma_t^2) 1) per batch item (B,), including the constant.

    x: (B, h, w) sources; y: (B, H, W) data; ``forward`` maps x to A x; ``sigma_noise``
    and ``sigma_t`` scalars or (B,). Unit: image unit.
    """
    r = y - forward(x)
    var = _variance(sigma_noise, sigma_t, r.ndim)
    m = r[0].numel()
    return (-0.5 * (r**2 / var).reshape(len(r), -1).sum(-1)
            - 0.5 * m * (var.reshape(-1).log() if var.ndim else var.log()) - 0.5 * m * math.log(2 * math.pi))


def convolved_likelihood_score(x: Tensor, y: Tensor, operator, sigma_noise: Tensor | float,
                               sigma_t: Tensor) -> Tensor:
    """A^T (y - A x) / (sigma_N^2 + sigma_t^2), shape of x (eq. 19)."""
    r = y - operator.forward(x)
    return operator.adjoint(r / _variance(sigma_noise, sigma_t, r.ndim))


def largest_eigenvalue(operator, n_iter: int = 30, seed: int = 0) -> Tensor:
    """Largest eigenvalue of A^T A for every batch item (B,), by power iteration.

    It sets the stiffness of the likelihood term: an explicit step of the reverse SDE
    is stable only while step x lambda_max / (sigma_N^2 + sigma^2) stays below ~2
    (``solvers``). Unit: (image unit / source unit)^2.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((operator.batch_size, *operator.source_shape), generator=gen,
                   dtype=operator.beta_x.dtype).to(operator.beta_x.device)
    lam = torch.zeros(operator.batch_size, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        for _ in range(n_iter):
            x = operator.adjoint(operator.forward(x))
            lam = x.reshape(len(x), -1).norm(dim=-1)
            x = x / lam.clamp_min(1e-30).reshape(-1, *([1] * (x.ndim - 1)))
    return lam
