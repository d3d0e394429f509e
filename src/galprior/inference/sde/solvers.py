"""Reverse-time SDE solvers for the VE SDE: Euler-Maruyama (the paper), predictor-corrector,
Heun (faster, explicit) and a linearly implicit Euler-Maruyama (faster, beyond the paper),
all driven by a score function ``score(x, t)`` of x (B, ...) and t (B,).

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
* :func:`imex_euler_maruyama` -- beyond the paper: the posterior score split into the
  network's prior score (explicit) and the linear convolved-likelihood term (implicit),
  see below. N network evaluations; the operator applications depend on the CG iterations.

Stiffness. The likelihood term A^T (y - A x) / (sigma_N^2 + sigma^2) is linear in x with
curvature up to lambda_max(A^T A) / (sigma_N^2 + sigma^2): an explicit step is stable only
while h lambda_max / (sigma_N^2 + sigma^2) < 2 (h: the step in sigma^2). Given
``stiffness`` = lambda_max and ``noise_sigma``, every explicit solver refines its grid so
that this stays below ``stability`` (default 1, a factor 2 of margin): Euler-Maruyama and
the predictor-corrector take N = max(N, ceil(2 ln(sigma_max/sigma_min) lambda_max / stability)),
Heun splits each interval of its grid into as many pieces as needed (an adaptive grid).
:func:`steps_taken` returns the step count actually used.

Linearly implicit Euler-Maruyama (beyond the paper). The drift of the reverse SDE is the sum
of a nonlinear, non-stiff part (the network's score s_theta) and a linear, stiff part
-(A^T A x - A^T y) / v, v = sigma_N^2 + sigma^2. An implicit-explicit (IMEX) splitting --
drift-implicit Euler-Maruyama on the stiff part (Kloeden & Platen 1992, sec. 12.2; the
linearly implicit form of the IMEX schemes of Ascher, Ruuth & Spiteri 1997) and explicit
Euler on the network -- takes, on Euler-Maruyama's grid sigma_i (uniform in t), with
h = sigma_i^2 - sigma_{i+1}^2 and the likelihood at the end of the step,

    (1 + w A^T A) x_{i+1} = x_i + h s_theta(x_i, t_i) + w A^T y + xi,
    w = phi h / (sigma_N^2 + sigma_{i+1}^2),
    xi ~ N(0, phi h (1 + kappa w A^T A)),   drawn as sqrt(phi h) z + sqrt(kappa phi h w) A^T z'

(z' an image of white noise: one more A^T per step). The factor (1 + w A^T A)^{-1} damps every
eigenmode of the likelihood for any h (the scheme is A- and L-stable on it), so the step count
is set by the accuracy of the prior term alone: no refinement, ``stiffness`` is ignored.

The prior term, phi. Without data and for a Gaussian prior N(mu, p 1), p_s = N(mu, (p + s) 1)
and the exact reverse transition from s0 = sigma_i^2 to s1 = sigma_{i+1}^2 has the mean
x + h score (Euler's, exactly) and the variance phi h with phi = (p + s1) / (p + s0): 1 for a
broad prior (Euler-Maruyama's noise), q = s1 / s0 for a point mass (the DDPM ancestral step,
Ho et al. 2020, which is also what treating the -x / sigma^2 part of the score implicitly
gives). Writing Tweedie's denoiser D = x + s0 score, phi = q + (1 - q) J with J = dD/dx =
p / (p + s0), and J = 1 - s0 E[score^2] per pixel: ``prior_step = adaptive`` estimates J from
the network's output of the step (clipped to [0, 1], one number per sample), so phi costs
nothing; ``euler`` (phi = 1) and ``ancestral`` (phi = q) are the two limits. The likelihood
weight w carries the same phi (the ancestral step with the likelihood implicit gives q w).
On our score model the adaptive phi is what makes the few-step samples of the least
constrained mock agree with EM's (bench_sde.py: with phi = 1 its posterior mean stays ~1.3 MC
limits from EM's at 64 steps).

The noise term, kappa. Per eigenmode lambda of A^T A the implicit step multiplies the mean by
1 / (1 + w lambda), and the plain noise (kappa = 0) by the same factor, so the step adds the
variance h / (1 + w lambda)^2. For a broad prior and A^T A = 1 (where the convolved likelihood
is exact) the exact reverse transition multiplies the mean by v_{i+1} / v_i = 1 / (1 + w) -- the
implicit factor, exactly -- and adds the variance h / (1 + w): kappa = 1 makes the step exact
there, for any step size (tests/adam). For a very stiff mode (w lambda >> 1) the SDE with the
convolved likelihood relaxes to the variance v / (2 lambda - 1), which kappa = 1/2 reproduces
(kappa = 1 gives more, between that and the true posterior's v / lambda); at lambda ~ 1
and w ~ 0.3 (our grids) kappa = 1 is within a few % and kappa = 0 ~20% narrow. Default
kappa = 1 (the schema).

Cost. The system is solved by conjugate gradients (``likelihood.ConvolvedLikelihood``,
started at the right-hand side, i.e. at the step without the likelihood): its condition
number is 1 + w lambda_max <= 1 + (e^(2 ln(sigma_max/sigma_min) / N) - 1) lambda_max, so a
few iterations suffice (~3 at N = 48 on our mocks), each one A and one A^T -- together ~1/3
of a network evaluation of our 32^2 score model on a CPU, so the wall time gains less than
the network count (bench_sde.py prints both); the same works at the paper's 256^2, where a
dense factorisation of A^T A could not be stored.
The step is first order like Euler-Maruyama and stays a stochastic sampler of the posterior,
unlike the probability-flow ODE of :func:`heun`, which keeps a bias against EM on one of our
mock systems at every step count (bench_sde.py).

Why our own code: each is a dozen lines around the score function, and they must count
score evaluations identically for the comparison at equal cost (bench_sde.py).
Every solver starts from x_1 ~ N(0, sigma_max^2 1) (p_1 of the VE SDE, paper sec. 2.1).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor
from galprior.progress import progress_bar

from galprior.models.score.sde import VESDE

from .likelihood import ConvolvedLikelihood

__all__ = ["SOLVERS", "LIKELIHOOD_SPLIT_SOLVERS", "euler_maruyama", "predictor_corrector", "heun",
           "imex_euler_maruyama", "prior_variance_factor", "score_evaluations", "solve", "steps_taken",
           "stable_steps", "karras_sigmas", "heun_schedule"]

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
    for i in progress_bar(range(n_steps), desc="Euler-Maruyama", disable=not progress, leave=False):
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
    for i in progress_bar(range(n_steps), desc="predictor-corrector", disable=not progress, leave=False):
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

    for sigma, sigma_hat, targets in progress_bar(schedule, desc="Heun", disable=not progress, leave=False):
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


def prior_variance_factor(prior_score: Tensor, sigma2: float, sigma2_next: float, prior_step: str) -> Tensor:
    """phi (B,) of :func:`imex_euler_maruyama`: the step's variance over h without the likelihood.

    ``prior_step``: ``euler`` 1; ``ancestral`` q = sigma_{i+1}^2 / sigma_i^2; ``adaptive``
    q + (1 - q) J with J = clip(1 - sigma_i^2 <s_theta^2>, 0, 1), <.> the mean over pixels.
    """
    q = sigma2_next / sigma2
    if prior_step == "euler":
        return torch.ones(len(prior_score), dtype=prior_score.dtype, device=prior_score.device)
    if prior_step == "ancestral":
        return torch.full((len(prior_score),), q, dtype=prior_score.dtype, device=prior_score.device)
    if prior_step == "adaptive":
        jacobian = (1 - sigma2 * prior_score.pow(2).reshape(len(prior_score), -1).mean(-1)).clamp(0, 1)
        return q + (1 - q) * jacobian
    raise ValueError(f"unknown prior_step {prior_step!r}; expected adaptive, ancestral or euler")


@torch.no_grad()
def imex_euler_maruyama(score: ScoreFn, sde: VESDE, x: Tensor, n_steps: int,
                        generator: torch.Generator | None = None, progress: bool = False,
                        likelihood: ConvolvedLikelihood | None = None, cg_iterations: int = 8,
                        cg_tolerance: float = 1e-3, noise_correction: float = 1.0,
                        prior_step: str = "adaptive", **_) -> Tensor:
    """Linearly implicit Euler-Maruyama (module docstring) from t = 1 to t = 0 in ``n_steps``
    steps uniform in t: ``score`` is the explicit part (the prior score), ``likelihood`` the
    linear part solved implicitly by at most ``cg_iterations`` CG iterations to the relative
    residual ``cg_tolerance``; ``noise_correction`` is kappa, ``prior_step`` sets phi
    (:func:`prior_variance_factor`). Without ``likelihood`` only the prior term is stepped."""
    sigma2 = [float(sde.sigma(torch.tensor(1.0 - i / n_steps, dtype=torch.float64))) ** 2 for i in range(n_steps + 1)]
    for i in progress_bar(range(n_steps), desc="IMEX Euler-Maruyama", disable=not progress, leave=False):
        h = sigma2[i] - sigma2[i + 1]
        prior = score(x, _times(x, 1.0 - i / n_steps))
        phi = prior_variance_factor(prior, sigma2[i], sigma2[i + 1], prior_step)
        rhs = x + h * prior + _broadcast((h * phi).sqrt(), x) * _randn(x, generator)
        if likelihood is None:
            x = rhs
            continue
        if likelihood.covariance != "identity":
            x = likelihood.implicit_step(rhs, phi * h, math.sqrt(sigma2[i + 1]), noise_correction, generator,
                                         x=x, prior=prior, sigma=math.sqrt(sigma2[i]))
            continue
        w = phi * h / likelihood.variance(_times(x, math.sqrt(sigma2[i + 1])))
        rhs = rhs + _broadcast(w, x) * likelihood.adjoint_observation()
        if noise_correction > 0:
            scale = _broadcast((noise_correction * phi * h * w).sqrt(), x)
            rhs = rhs + scale * likelihood.adjoint(_randn(likelihood.observation, generator))
        x, _ = likelihood.solve_shifted(rhs, w, rhs, cg_iterations, cg_tolerance)
    return x


SOLVERS: dict[str, Callable[..., Tensor]] = {
    "euler_maruyama": euler_maruyama,
    "predictor_corrector": predictor_corrector,
    "heun": heun,
    "imex_euler_maruyama": imex_euler_maruyama,
}
# solvers that take the likelihood apart from the prior score (``solve``'s ``likelihood``)
LIKELIHOOD_SPLIT_SOLVERS = frozenset({"imex_euler_maruyama"})


def steps_taken(solver: str, sde: VESDE, n_steps: int, stiffness: float | None = None,
                noise_sigma: float = 0.0, rho: float = 7.0, churn: float = 0.0, **_) -> int:
    """Steps ``solver`` takes for ``n_steps`` requested, after the stability refinement."""
    if solver == "heun":
        return sum(len(targets) for _, _, targets in heun_schedule(sde, n_steps, rho, churn, stiffness, noise_sigma))
    if solver in LIKELIHOOD_SPLIT_SOLVERS:
        return n_steps
    return stable_steps(sde, n_steps, stiffness)


def score_evaluations(solver: str, n_steps: int) -> int:
    """Network score evaluations per sample of ``solver`` with ``n_steps``. For the explicit
    solvers each comes with one likelihood score (one A and one A^T); the operator
    applications of :func:`imex_euler_maruyama` depend on its CG iterations and are counted
    by ``likelihood.ConvolvedLikelihood``."""
    return {"euler_maruyama": n_steps, "predictor_corrector": 2 * n_steps, "heun": 2 * n_steps - 1,
            "imex_euler_maruyama": n_steps}[solver]


def solve(solver: str, score: ScoreFn, sde: VESDE, shape: tuple[int, ...], n_steps: int,
          generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
          device: torch.device | str = "cpu", progress: bool = False,
          likelihood: ConvolvedLikelihood | None = None, **options) -> Tensor:
    """Draw x_1 ~ N(0, sigma_max^2 1) of ``shape`` and integrate to t = 0 with ``solver``.

    With ``likelihood``, ``score`` is the prior score and the posterior score is
    score + ``likelihood.score``: the solvers of ``LIKELIHOOD_SPLIT_SOLVERS`` get the two
    apart, the others their sum.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown SDE solver {solver!r}; expected one of {sorted(SOLVERS)}")
    if likelihood is not None and solver in LIKELIHOOD_SPLIT_SOLVERS:
        options["likelihood"] = likelihood
    elif likelihood is not None:
        prior_score = score

        def score(x: Tensor, t: Tensor) -> Tensor:
            prior = prior_score(x, t)
            return prior + likelihood.score(x, sde.sigma(t), prior)
    x = sde.prior_sample(shape, generator=generator, dtype=dtype).to(device)
    return SOLVERS[solver](score, sde, x, n_steps, generator=generator, progress=progress, **options)
