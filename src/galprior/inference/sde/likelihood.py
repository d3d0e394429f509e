"""Convolved likelihood of Adam et al. 2022 (sec. 2.2, app. A eq. 19) and its score.

The data y = A x + eta, eta ~ N(0, sigma_N^2 1) (eq. 1). At diffusion time t the
likelihood of the noised source x_t is approximated by (eq. 12, with A A^T ~ 1, eq. 19)

    p_t(y | x_t) ~ N(y | A x_t, (sigma_N^2 + sigma(t)^2) 1),

whose score is

    grad_x log p_t(y | x_t) = A^T (y - A x_t) / (sigma_N^2 + sigma(t)^2).

A is a :class:`galprior.lensing.operator.LensingOperator` (or any object with
``forward`` and ``adjoint``); the adjoint is exact (a vector-Jacobian product).

The exact covariance (beyond the paper, ``covariance='exact'``). Eq. 19 replaces the
convolved covariance sigma_N^2 1 + sigma(t)^2 A A^T of app. A by (sigma_N^2 + sigma(t)^2) 1,
assuming A A^T ~ 1; app. A checks it on the paper's lenses. Where A^T A has eigenvalues far
from 1 (a source pixel larger than an image pixel sees several of them: on the quick mocks
lambda_max ~ 11, ``metrics.sde.operator_checks``) eq. 19 overweights the likelihood by up to
lambda in those directions while sigma(t) dominates. The exact term's score, by the
push-through identity A^T (s_N 1 + s_t A A^T)^{-1} = (s_N 1 + s_t A^T A)^{-1} A^T, is

    grad_x log p_t(y | x_t) = (1 + w A^T A)^{-1} A^T (y - A x_t) / sigma_N^2,   w = sigma(t)^2 / sigma_N^2,

a system in the source's dimension, solved by the same conjugate gradients, warm-started
at the previous call's solution (the right-hand side moves little from one step to the
next). Early in the reverse SDE (w lambda_max >> 1) a few iterations leave it inexact in
the least constrained directions, where the prior's score dominates anyway; by the end
(sigma(t) -> 0) both forms are A^T (y - A x) / sigma_N^2 and the posterior is the same.
The explicit solvers use it; the implicit one's step is derived for eq. 19 and keeps it.

:class:`ConvolvedLikelihood` holds A, y and sigma_N of a batch, counts the applications
of A and A^T, and solves the shifted normal equations (1 + w A^T A) x = b by conjugate
gradients (:func:`conjugate_gradient`) for the linearly implicit solver
(``solvers.imex_euler_maruyama``). Why CG: 1 + w A^T A is symmetric positive definite and
only its products with a vector are available (A is ray tracing + interpolation + PSF +
pooling); a dense factorisation would need the (h w)^2 matrix, 4e9 entries at 256^2.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

__all__ = ["convolved_log_likelihood", "convolved_likelihood_score", "largest_eigenvalue",
           "conjugate_gradient", "ConvolvedLikelihood"]


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


def conjugate_gradient(apply: Callable[[Tensor], Tensor], rhs: Tensor, x0: Tensor, max_iter: int,
                       tol: float) -> tuple[Tensor, int]:
    """Solve M x = rhs for every batch item (B, ...) with M symmetric positive definite, by
    conjugate gradients (Hestenes & Stiefel 1952) started from ``x0``.

    ``apply`` maps a batch x to M x (one call per iteration, plus one for the initial
    residual). Stops after ``max_iter`` iterations or once every item's residual satisfies
    ||rhs - M x|| <= ``tol`` ||rhs||. Returns the solution and the number of iterations.
    """
    def dot(a: Tensor, b: Tensor) -> Tensor:
        return (a * b).reshape(len(a), -1).sum(-1)

    def expand(v: Tensor) -> Tensor:
        return v.reshape(-1, *([1] * (rhs.ndim - 1)))

    x = x0.clone()
    r = rhs - apply(x)
    p = r.clone()
    rr = dot(r, r)
    threshold = tol**2 * dot(rhs, rhs)
    tiny = torch.finfo(rhs.dtype).tiny
    iterations = 0
    while iterations < max_iter and bool((rr > threshold).any()):
        mp = apply(p)
        alpha = rr / dot(p, mp).clamp_min(tiny)
        x = x + expand(alpha) * p
        r = r - expand(alpha) * mp
        rr_next = dot(r, r)
        p = r + expand(rr_next / rr.clamp_min(tiny)) * p
        rr = rr_next
        iterations += 1
    return x, iterations


class ConvolvedLikelihood:
    """The convolved likelihood N(y | A x, (sigma_N^2 + sigma(t)^2) 1) (eq. 19) of a batch, as
    the linear term it adds to the reverse SDE, with counters of the operator applications.

    ``operator``: A with ``forward`` and ``adjoint`` for a batch (B, ...); ``observation``
    y (B, H, W); ``sigma_noise`` sigma_N, a scalar or (B,) (unit: image unit).
    ``forward_count`` and ``adjoint_count`` add one per call of A or A^T on the batch, so
    that a solver's cost is measured, not estimated.
    """

    COVARIANCES = ("identity", "exact")

    def __init__(self, operator, observation: Tensor, sigma_noise: Tensor | float, covariance: str = "identity",
                 cg_iterations: int = 8, cg_tolerance: float = 1e-3):
        if covariance not in self.COVARIANCES:
            raise ValueError(f"unknown convolved-likelihood covariance {covariance!r}; expected one of "
                             f"{list(self.COVARIANCES)}")
        self.operator, self.observation = operator, observation
        self.sigma_noise = torch.as_tensor(sigma_noise, dtype=observation.dtype, device=observation.device)
        self.covariance, self.cg_iterations, self.cg_tolerance = covariance, cg_iterations, cg_tolerance
        self.forward_count = 0
        self.adjoint_count = 0
        self._adjoint_observation: Tensor | None = None
        self._previous: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        """A x."""
        self.forward_count += 1
        return self.operator.forward(x)

    def adjoint(self, r: Tensor) -> Tensor:
        """A^T r."""
        self.adjoint_count += 1
        return self.operator.adjoint(r)

    def variance(self, sigma_t: Tensor) -> Tensor:
        """sigma_N^2 + sigma(t)^2 per batch item (B,). Unit: image unit^2."""
        return (self.sigma_noise**2 + sigma_t**2).expand(len(self.observation))

    def score(self, x: Tensor, sigma_t: Tensor) -> Tensor:
        """A^T (y - A x) / (sigma_N^2 + sigma_t^2) (eq. 19): one A and one A^T; with
        ``covariance='exact'`` (1 + w A^T A)^{-1} A^T (y - A x) / sigma_N^2 (module docstring),
        plus the CG iterations."""
        if self.covariance == "identity":
            return convolved_likelihood_score(x, self.observation, self, self.sigma_noise, sigma_t)
        noise2 = _variance(self.sigma_noise, torch.zeros_like(self.sigma_noise), x.ndim)
        rhs = self.adjoint(self.observation - self.forward(x)) / noise2
        weight = (torch.as_tensor(sigma_t, dtype=x.dtype, device=x.device) ** 2
                  / self.sigma_noise**2).expand(len(x))
        start = self._previous if self._previous is not None and self._previous.shape == rhs.shape else rhs
        self._previous, _ = self.solve_shifted(rhs, weight, start, self.cg_iterations, self.cg_tolerance)
        return self._previous

    def adjoint_observation(self) -> Tensor:
        """A^T y, computed once (one A^T)."""
        if self._adjoint_observation is None:
            self._adjoint_observation = self.adjoint(self.observation)
        return self._adjoint_observation

    def solve_shifted(self, rhs: Tensor, weight: Tensor, x0: Tensor, max_iter: int,
                      tol: float) -> tuple[Tensor, int]:
        """x = (1 + w A^T A)^{-1} rhs per batch item, w = ``weight`` (B,) >= 0, by
        :func:`conjugate_gradient` from ``x0`` (one A and one A^T per iteration, plus one
        each for the initial residual). The matrix is SPD with eigenvalues in
        [1, 1 + w lambda_max]; CG needs ~sqrt(1 + w lambda_max) iterations per decade."""
        w = weight.reshape(-1, *([1] * (rhs.ndim - 1)))
        return conjugate_gradient(lambda v: v + w * self.adjoint(self.forward(v)), rhs, x0, max_iter, tol)
