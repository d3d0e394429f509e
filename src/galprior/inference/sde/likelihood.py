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
from 1, eq. 19 misweights the likelihood by up to lambda in those directions while sigma(t)
dominates (``metrics.sde.operator_checks``; on the quick mocks lambda spans ~0.01-5.6 with a
median of 0.13). By the push-through identity A^T (s_N 1 + s_t A A^T)^{-1} =
(s_N 1 + s_t A^T A)^{-1} A^T, the exact term's score is

    grad_x log p_t(y | x_t) = V diag(1 / (sigma_N^2 + sigma(t)^2 lambda)) V^T A^T (y - A x_t),

with A^T A = V diag(lambda) V^T, computed once per lens
(:func:`galprior.lensing.operator.normal_spectrum`, a dense eigendecomposition in the
source's dimension) and shared by every sample of that lens: per score evaluation one A,
one A^T and two dense products. Conjugate gradients were tried first and fail here: the
spectrum of 1 + w A^T A spans ~1e6 early in the reverse SDE and 8 or even 50 iterations
leave the solution off by 30-600x (measured on quick-default system 0 at sigma(t) = 3),
and the samples did not fit the data (chi^2_nu 150-300). The dense spectrum limits the
exact form to sources of up to :data:`galprior.lensing.operator.DENSE_SPECTRUM_LIMIT`
pixels (the quick default's 32^2; the paper's 256^2 would need a 65,536^2 matrix); the
paper preset keeps eq. 19. By the end (sigma(t) -> 0) both forms are A^T (y - A x) /
sigma_N^2. The explicit solvers use it through the score, the implicit one through
:meth:`ConvolvedLikelihood.implicit_step` (exact in the eigenbasis).

The Tweedie form (beyond the paper, ``covariance='tweedie'``, the quick default). Both forms
above take x_0 | x_t ~ N(x_t, sigma(t)^2 1), i.e. they ignore the prior in p_t(y | x_t) =
int p(y | x_0) p(x_0 | x_t) dx_0. Where the prior is as informative as the data this narrows
and biases the posterior: for a Gaussian prior N(0, p) in one eigenmode the reverse SDE with
the exact covariance ends with a standard deviation 0.82-0.97 of the posterior's
(p = 1e-3, sigma_N = 0.01, lambda = 0.01-5), and on the quick mocks with truths drawn from
the score prior itself the 1-std pixel coverage is 0.56 (expected 0.62) with the source's
flux 2 % low (docs/decisions.md). Moment-matching p(x_0 | x_t) instead (Song et al. 2023,
PiGDM; Boys et al. 2023): mean Tweedie's denoiser D(x_t) = x_t + sigma(t)^2 s_theta(x_t, t),
covariance sigma(t)^2 J 1 with J = sigma_data^2 / (sigma_data^2 + sigma(t)^2) (a Gaussian
prior of the training pixel variance sigma_data^2, the network's EDM constant), gives

    grad_x log p_t(y | x_t) ~ J V diag(1 / (sigma_N^2 + sigma(t)^2 J lambda)) V^T A^T (y - A D(x_t)),

with dD/dx_t ~ J 1. It is exact for an isotropic Gaussian prior (tests/adam) and tends to the
exact form as sigma(t) -> 0 (J -> 1, D -> x). On the prior-drawn truths it gives coverage
0.61 / 0.63 / 0.61 (Euler-Maruyama / implicit / Heun; expected 0.62) with the flux within
1-2 %. The per-sample J from the score (1 - sigma^2 <s^2>, as ``solvers.prior_variance_factor``)
was tried first: it averages background and galaxy pixels and underweights the data (coverage
0.69, chi2_nu 0.1 above the truth's); the exact Jacobian by a vector-Jacobian product through
the network gave 0.60 at 2.5x the cost and diverged on 2 of 12 systems.

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

__all__ = ["convolved_log_likelihood", "convolved_likelihood_score", "conjugate_gradient", "ConvolvedLikelihood"]


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

    COVARIANCES = ("identity", "exact", "tweedie")

    def __init__(self, operator, observation: Tensor, sigma_noise: Tensor | float, covariance: str = "identity",
                 spectrum: tuple[Tensor, Tensor, Tensor] | None = None, data_variance: float | None = None):
        if covariance not in self.COVARIANCES:
            raise ValueError(f"unknown convolved-likelihood covariance {covariance!r}; expected one of "
                             f"{list(self.COVARIANCES)}")
        if covariance != "identity" and spectrum is None:
            raise ValueError(f"covariance {covariance!r} needs the spectrum of A^T A (normal_spectrum)")
        if covariance == "tweedie" and not (data_variance or 0) > 0:
            raise ValueError(f"covariance 'tweedie' needs the prior's pixel variance (the score model's "
                             f"sigma_data squared, preconditioning edm), got {data_variance}")
        self.data_variance = data_variance
        self.operator, self.observation = operator, observation
        self.sigma_noise = torch.as_tensor(sigma_noise, dtype=observation.dtype, device=observation.device)
        self.covariance, self.spectrum = covariance, spectrum
        self.forward_count = 0
        self.adjoint_count = 0
        self._adjoint_observation: Tensor | None = None

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

    def denoiser_gain(self, sigma2):
        """J = sigma_data^2 / (sigma_data^2 + sigma^2): the Tweedie form's dD/dx_t for a Gaussian
        prior of the training pixel variance, at noise variance ``sigma2`` (float or (B,))."""
        return self.data_variance / (self.data_variance + sigma2)

    def score(self, x: Tensor, sigma_t: Tensor, prior: Tensor | None = None) -> Tensor:
        """The likelihood's term of the posterior score at x_t (module docstring):
        ``identity``, eq. 19: A^T (y - A x) / (sigma_N^2 + sigma_t^2), one A and one A^T;
        ``exact``: V diag(1 / (sigma_N^2 + sigma_t^2 lambda)) V^T A^T (y - A x);
        ``tweedie``: J V diag(1 / (sigma_N^2 + sigma_t^2 J lambda)) V^T A^T (y - A D), with
        D = x + sigma_t^2 ``prior`` (the network's prior score at x_t, which this form needs) and
        J = :meth:`denoiser_gain` of sigma_t^2. ``spectrum`` = (V (L, n, n),
        lambda (L, n), lens (B,)): the eigenvectors and eigenvalues of each of L lenses and
        the lens of each batch item."""
        if self.covariance == "identity":
            return convolved_likelihood_score(x, self.observation, self, self.sigma_noise, sigma_t)
        var_t = (torch.as_tensor(sigma_t, dtype=x.dtype, device=x.device) ** 2).expand(len(x))
        if self.covariance == "tweedie":
            if prior is None:
                raise ValueError("covariance 'tweedie' needs the prior score at x_t")
            gain = self.denoiser_gain(var_t)
            x = x + var_t.reshape(-1, *([1] * (x.ndim - 1))) * prior
        else:
            gain = torch.ones_like(var_t)
        vectors, values, lens = self.spectrum
        b = self.adjoint(self.observation - self.forward(x)).reshape(len(x), -1)
        noise2 = (self.sigma_noise**2).expand(len(x))
        out = torch.empty_like(b)
        for k in torch.unique(lens).tolist():
            rows = lens == k
            coefficients = b[rows] @ vectors[k]
            coefficients = coefficients * gain[rows, None] / (
                noise2[rows, None] + (var_t[rows] * gain[rows])[:, None] * values[k][None])
            out[rows] = coefficients @ vectors[k].T
        return out.reshape(x.shape)

    def implicit_step(self, rhs: Tensor, step: Tensor, sigma_next: float, noise_correction: float,
                      generator: torch.Generator | None, x: Tensor | None = None, prior: Tensor | None = None,
                      sigma: float | None = None) -> Tensor:
        """The linearly implicit likelihood step of ``solvers.imex_euler_maruyama`` for the
        ``exact`` and ``tweedie`` forms, solved exactly in the eigenbasis of A^T A = V diag(lambda) V^T.

        ``exact``: per eigenmode k with weight w_k = ``step`` / (sigma_N^2 + sigma_next^2 lambda_k)
        (``step`` = phi h, (B,)): c = (V^T rhs + w_k V^T A^T y + sqrt(kappa step w_k lambda_k) z_k)
        / (1 + w_k lambda_k), z_k ~ N(0, 1), then x' = V c: eq. 19's step (``solve_shifted``)
        with its scalar w replaced by one weight per mode, and its noise A^T z' (covariance
        A^T A) drawn directly in the eigenbasis. No CG and no stiffness limit: every mode is
        damped by 1 / (1 + w_k lambda_k).
        ``tweedie``: the term is linear in D(x') = x' + sigma^2 s(x'), linearised about the
        step's start ``x`` (D(x') ~ D(x) + J (x' - x), D(x) from its ``prior`` score at ``sigma``,
        J = v_d / (v_d + sigma^2)): with W_k = 1 / (sigma_N^2 + sigma_next^2 J' lambda_k), J' at
        sigma_next, c = (V^T rhs + step J W_k (V^T A^T y - lambda_k V^T (D(x) - J x)) + noise)
        / (1 + step J^2 W_k lambda_k), the noise of variance kappa step (step J^2 W_k) lambda_k.
        The ``exact`` step is this with J = 1 and D(x) = x."""
        if self.covariance not in ("exact", "tweedie"):
            raise ValueError(f"the implicit solver's step is derived for covariance 'identity' (solve_shifted) "
                             f"or 'exact' / 'tweedie', not {self.covariance!r}")
        vectors, values, lens = self.spectrum
        flat = rhs.reshape(len(rhs), -1)
        b = self.adjoint_observation().reshape(len(rhs), -1)
        noise2 = (self.sigma_noise**2).expand(len(rhs))
        gain, gain_next, shift = 1.0, 1.0, None
        if self.covariance == "tweedie":
            if x is None or prior is None or sigma is None:
                raise ValueError("the 'tweedie' implicit step needs x, its prior score and sigma")
            gain, gain_next = self.denoiser_gain(sigma**2), self.denoiser_gain(sigma_next**2)
            shift = (x + sigma**2 * prior - gain * x).reshape(len(rhs), -1)   # D(x) - J x
        out = torch.empty_like(flat)
        for k in torch.unique(lens).tolist():
            rows = lens == k
            w = step[rows, None] * gain**2 / (noise2[rows, None] + sigma_next**2 * gain_next * values[k][None])
            data = b[rows] @ vectors[k]
            if shift is not None:
                data = data - values[k][None] * (shift[rows] @ vectors[k])
            c = (flat[rows] @ vectors[k]) + w / gain * data
            if noise_correction > 0:
                z = torch.randn(c.shape, generator=generator, dtype=c.dtype).to(c.device)
                c = c + (noise_correction * step[rows, None] * w * values[k][None]).sqrt() * z
            out[rows] = (c / (1 + w * values[k][None])) @ vectors[k].T
        return out.reshape(rhs.shape)

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
