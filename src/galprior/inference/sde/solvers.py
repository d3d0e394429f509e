"""Reverse-time SDE solvers for the VE SDE: Euler-Maruyama (the paper), predictor-corrector
and Heun (faster), all driven by a score function ``score(x, t)`` of x (B, ...) and t (B,).

* :func:`euler_maruyama` -- Adam et al. 2022 app. B eq. 20, uniform grid in t, Delta t = -1/N:
  x <- x + g^2(t) score(x, t) |Delta t| + g(t) sqrt(|Delta t|) z.
* :func:`predictor_corrector` -- Song et al. 2021 Alg. 2 (VE): one Langevin corrector step
  (signal-to-noise ratio ``snr``) then the reverse-diffusion predictor
  x <- x + (sigma_i^2 - sigma_{i+1}^2) score + sqrt(sigma_i^2 - sigma_{i+1}^2) z; 2 score
  evaluations per step.
* :func:`heun` -- Karras et al. 2022 Alg. 2: second-order Heun steps of the probability-flow
  ODE dx/dsigma = -sigma score(x, sigma) on the grid
  sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,
  sigma_N = 0 (last step Euler, i.e. Tweedie's denoising), with optional stochastic
  "churn" (noise added back at each step, S_churn / N). 2N - 1 score evaluations.

Stiffness. The likelihood term A^T (y - A x) / (sigma_N^2 + sigma^2) is linear in x with
curvature up to lambda_max(A^T A) / (sigma_N^2 + sigma^2): an explicit step is stable only
while h lambda_max / (sigma_N^2 + sigma^2) < 2 (h: the step in sigma^2). Given
``stiffness`` = lambda_max and ``noise_sigma``, every solver refines its grid so that this
stays below ``stability`` (default 1, a factor 2 of margin): Euler-Maruyama and the
predictor-corrector take N = max(N, ceil(2 ln(sigma_max/sigma_min) lambda_max / stability)),
Heun splits each interval of its grid into as many pieces as needed (an adaptive grid).
:func:`steps_taken` returns the step count actually used.

Why our own code: each is a dozen lines around the score function, and they must count
score evaluations identically for the comparison at equal cost (bench_sde.py).
Every solver starts from x_1 ~ N(0, sigma_max^2 1) (p_1 of the VE SDE, paper sec. 2.1).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from galprior.models.score.sde import VESDE

__all__ = ["SOLVERS", "euler_maruyama", "predictor_corrector", "heun", "score_evaluations", "solve",
           "steps_taken", "stable_steps", "karras_sigmas", "heun_schedule"]

ScoreFn = Callable[[Tensor, Tensor], Tensor]


def _randn(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)


def _times(x: Tensor, value: float) -> Tensor:
    return torch.full((x.shape[0],), value, dtype=x.dtype, device=x.device)


def _broadcast(v: Tensor, x: Tensor) -> Tensor:
    return v.reshape(-1, *([1] * (x.ndim - 1)))


def stable_steps(sde: VESDE, n_steps: int, stiffness: float | None, stability: float = 1.0) -> int:
    """Uniform-in-t step count of EM / predictor-corrector, raised to keep the likelihood
    step g^2 dt lambda_max / (sigma_N^2 + sigma^2) <= 2 ln(sigma_max/sigma_min) lambda_max / N
    below ``stability``: N >= 2 ln(sigma_max / sigma_min) lambda_max / stability."""
    if not stiffness:
        return n_steps
    return max(n_steps, math.ceil(2 * sde.log_ratio * stiffness / stability))


@torch.no_grad()
def euler_maruyama(score: ScoreFn, sde: VESDE, x: Tensor, n_steps: int,
                   generator: torch.Generator | None = None, progress: bool = False,
                   stiffness: float | None = None, **_) -> Tensor:
    """Eq. 20 from t = 1 to t = 0 in ``n_steps`` steps (more if ``stiffness`` needs them)."""
    n_steps = stable_steps(sde, n_steps, stiffness)
    dt = 1.0 / n_steps
    for i in tqdm(range(n_steps), desc="Euler-Maruyama", disable=not progress, leave=False):
        t = _times(x, 1.0 - i * dt)
        g2 = _broadcast(sde.g2(t), x)
        x = x + g2 * score(x, t) * dt + (g2 * dt).sqrt() * _randn(x, generator)
    return x


@torch.no_grad()
def predictor_corrector(score: ScoreFn, sde: VESDE, x: Tensor, n_steps: int,
                        generator: torch.Generator | None = None, progress: bool = False,
                        snr: float = 0.16, stiffness: float | None = None, **_) -> Tensor:
    """Song et al. 2021 Alg. 2 (VE): Langevin corrector + reverse-diffusion predictor."""
    n_steps = stable_steps(sde, n_steps, stiffness)
    dt = 1.0 / n_steps
    for i in tqdm(range(n_steps), desc="predictor-corrector", disable=not progress, leave=False):
        t = _times(x, 1.0 - i * dt)
        grad = score(x, t)
        z = _randn(x, generator)
        norm_z = z.reshape(len(x), -1).norm(dim=-1)
        norm_g = grad.reshape(len(x), -1).norm(dim=-1).clamp_min(1e-30)
        eps = _broadcast(2 * (snr * norm_z / norm_g) ** 2, x)
        x = x + eps * grad + (2 * eps).sqrt() * z
        var = _broadcast(sde.sigma(t) ** 2 - (sde.sigma(t - dt) ** 2 if i < n_steps - 1 else 0.0), x)
        x = x + var * score(x, t) + var.sqrt() * _randn(x, generator)
    return x


def karras_sigmas(sde: VESDE, n_steps: int, rho: float, stiffness: float | None = None,
                  noise_sigma: float = 0.0, stability: float = 1.5) -> list[float]:
    """The noise levels sigma_0 = sigma_max > ... > sigma_{N-1} = sigma_min, sigma_N = 0.

    With ``stiffness`` (lambda_max of A^T A), an interval [s1, s0] where Heun's
    z = |s0 - s1| lambda max_{s in {s0, s1}} s / (noise_sigma^2 + s^2) (the step times the
    largest curvature of the likelihood term of dx/dsigma) exceeds ``stability`` is split
    evenly into ceil(z / stability) pieces (explicit Heun is stable for z < 2).
    """
    if n_steps < 2:
        raise ValueError(f"the Heun solver needs at least 2 steps, got {n_steps}")
    a, b = sde.sigma_max ** (1 / rho), sde.sigma_min ** (1 / rho)
    grid = [(a + i / (n_steps - 1) * (b - a)) ** rho for i in range(n_steps)]
    if stiffness:
        refined = [grid[0]]
        for s0, s1 in zip(grid[:-1], grid[1:]):
            curvature = max(s / (noise_sigma**2 + s**2) for s in (s0, s1))
            k = max(1, math.ceil((s0 - s1) * stiffness * curvature / stability))
            refined += [s0 - (j / k) * (s0 - s1) for j in range(1, k + 1)]
        grid = refined
    return grid + [0.0]


def heun_schedule(sde: VESDE, n_steps: int, rho: float = 7.0, churn: float = 0.0,
                  stiffness: float | None = None, noise_sigma: float = 0.0,
                  stability: float = 1.5) -> list[tuple[float, float, list[float]]]:
    """The steps of :func:`heun`: (sigma_i, sigma_hat_i, [sub-steps down to sigma_{i+1}]).

    sigma_hat = sigma_i (1 + gamma) with gamma = min(churn / N, sqrt(2) - 1) (Karras et al.
    Alg. 2, noise added back from sigma_i to sigma_hat), then Heun from sigma_hat to
    sigma_{i+1}, split where the likelihood step would be unstable (see
    :func:`karras_sigmas`; here the split accounts for the churned start).
    """
    sigmas = karras_sigmas(sde, n_steps, rho)
    gamma = min(churn / n_steps, math.sqrt(2.0) - 1.0)
    out = []
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        sigma_hat = min(sigma * (1 + gamma), sde.sigma_max) if gamma > 0 else sigma
        k = 1
        if stiffness and sigma_next > 0:
            curvature = max(s / (noise_sigma**2 + s**2) for s in (sigma_hat, sigma_next, min(max(noise_sigma, sigma_next), sigma_hat)))
            k = max(1, math.ceil((sigma_hat - sigma_next) * stiffness * curvature / stability))
        out.append((sigma, sigma_hat, [sigma_hat - (j / k) * (sigma_hat - sigma_next) for j in range(1, k + 1)]))
    return out


@torch.no_grad()
def heun(score: ScoreFn, sde: VESDE, x: Tensor, n_steps: int,
         generator: torch.Generator | None = None, progress: bool = False,
         rho: float = 7.0, churn: float = 0.0, stiffness: float | None = None,
         noise_sigma: float = 0.0, **_) -> Tensor:
    """Karras et al. 2022 Alg. 2 on the schedule of :func:`heun_schedule`."""
    schedule = heun_schedule(sde, n_steps, rho, churn, stiffness, noise_sigma)

    def derivative(x_: Tensor, sigma: float) -> Tensor:
        return -sigma * score(x_, sde.t_of_sigma(_times(x_, sigma)))

    for sigma, sigma_hat, targets in tqdm(schedule, desc="Heun", disable=not progress, leave=False):
        if sigma_hat > sigma:
            x = x + math.sqrt(sigma_hat**2 - sigma**2) * _randn(x, generator)
        current = sigma_hat
        for sigma_next in targets:
            d = derivative(x, current)
            x_next = x + (sigma_next - current) * d
            if sigma_next > 0:
                x_next = x + (sigma_next - current) * 0.5 * (d + derivative(x_next, sigma_next))
            x, current = x_next, sigma_next
    return x


SOLVERS: dict[str, Callable[..., Tensor]] = {
    "euler_maruyama": euler_maruyama,
    "predictor_corrector": predictor_corrector,
    "heun": heun,
}


def steps_taken(solver: str, sde: VESDE, n_steps: int, stiffness: float | None = None,
                noise_sigma: float = 0.0, rho: float = 7.0, churn: float = 0.0, **_) -> int:
    """Steps ``solver`` takes for ``n_steps`` requested, after the stability refinement."""
    if solver == "heun":
        return sum(len(targets) for _, _, targets in heun_schedule(sde, n_steps, rho, churn, stiffness, noise_sigma))
    return stable_steps(sde, n_steps, stiffness)


def score_evaluations(solver: str, n_steps: int) -> int:
    """Score (network + likelihood) evaluations per sample of ``solver`` with ``n_steps``."""
    return {"euler_maruyama": n_steps, "predictor_corrector": 2 * n_steps, "heun": 2 * n_steps - 1}[solver]


def solve(solver: str, score: ScoreFn, sde: VESDE, shape: tuple[int, ...], n_steps: int,
          generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
          device: torch.device | str = "cpu", progress: bool = False, **options) -> Tensor:
    """Draw x_1 ~ N(0, sigma_max^2 1) of ``shape`` and integrate to t = 0 with ``solver``."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown SDE solver {solver!r}; expected one of {sorted(SOLVERS)}")
    x = sde.prior_sample(shape, generator=generator, dtype=dtype).to(device)
    return SOLVERS[solver](score, sde, x, n_steps, generator=generator, progress=progress, **options)
