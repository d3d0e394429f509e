"""Maximum a posteriori fits of many lens systems x random restarts at once.

Chianese et al. 2020 (sec. 5) run Adam for ~1e4 iterations per system (~20 min on a
CPU). We run one batched Adam over ``S x R`` copies (S systems, R restarts drawn
from the prior), in the whitened coordinates of :class:`FlatPosterior` (every
coordinate of prior scale ~1, so one learning rate fits all), in stages:

0. (``n_candidates`` > ``n_restarts``) a screen: ``n_candidates`` prior draws per system
   (z starting at the prior mean), ``screen_steps`` Adam steps of every parameter (the
   latent z too unless ``screen_latent`` is False) on the observation averaged over
   ``screen_factor`` x ``screen_factor`` blocks (64^2 pixels for the quick default, ~16
   times cheaper than the full grid); the ``n_restarts`` draws with the highest screened
   log posterior of each system go on. Why z is fitted in the screen: with z held at the
   prior mean, the candidates are ranked by how well a smooth average galaxy fits, which
   on extended, structured sources favours wrong lenses; on the well-specified control of
   ``benchmarks/chianese_control.py`` (mocks whose sources are decoder outputs, 8 systems
   at sigma 0.0333) the MAP then reached r_Ein within 1 % on 2 of 8 systems, with z fitted
   in the screen on 6 of 8 (docs/decisions.md);
1. lens + source parameters, with the latent ``z`` held at the prior mean
   (a smooth average galaxy) -- finds the lens configuration;
2. all parameters, including ``z``;
3. L-BFGS from there (:func:`galprior.inference.optim.batched_lbfgs`, every restart
   with its own memory and line search) until the gradient vanishes.

Each Adam stage uses a fresh Adam with an exponentially decaying learning rate
(``lr`` -> ``lr_final``). With ``coarse_factor`` f > 1 both Adam stages run on the
observation averaged over f x f blocks (:meth:`FlatPosterior.coarsened`, ~f^2 times
cheaper; the loss trace of those stages is then the coarse posterior's) and only the
L-BFGS stage on the full grid: the Adam stages only need to reach the right basin.
Adam alone stalls in the weak, correlated directions of a lens posterior (slope x source
size x latent z): on the quick default, stage 3 raises the log posterior of Adam's best
restart by ~100-350 nats and moves the Einstein radius by several posterior standard
deviations. The restart with the highest log
posterior after stage 3 is kept per system.

Finding the right mode (:func:`fit_map_adaptive`): at 256^2 pixels a reduced chi^2 near
1 says little (a wrong mode 4,000 above the noise expectation N +- sqrt(2N) = 65,536 +-
362 still has chi^2_nu = 1.06), so modes are compared by their log posterior, and a
system gets more restarts where its two best restarts disagree on r_Ein (two restarts
that both reached the global mode agree): up to ``extra_rounds`` rounds of
``n_restarts`` fresh restarts, spent only on those systems. By default the objective omits the Jacobian of the unconstraining
transforms, i.e. it is the mode of the posterior density of the parameters
themselves (Pyro's ``AutoDelta``); ``include_jacobian=True`` gives the mode in the
unconstrained space instead.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor
from galprior.progress import progress_bar
from tqdm.auto import tqdm  # the type of a bar

from .model import LATENT_SITE
from .optim import LbfgsConfig, batched_lbfgs, preconditioned_lbfgs
from .potential import FlatPosterior

__all__ = ["MapConfig", "MapResult", "fit_map", "fit_map_adaptive", "disagreeing_systems", "polish_map", "NegativeLogPosterior", "learning_rate", "constrained_numpy", "repeat_for_restarts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MapConfig:
    """Settings of :func:`fit_map`, from the config's ``chianese.map`` block (defaults: the schema)."""

    n_restarts: int
    n_steps_lens: int  # stage 1: lens + source parameters, z at the prior mean
    n_steps_all: int  # stage 2: everything
    lr: float  # initial Adam learning rate (whitened units)
    lr_final: float  # learning rate at the end of each stage
    lbfgs_iterations: int  # stage 3: L-BFGS polish of every restart (0: off)
    include_jacobian: bool
    seed: int
    max_batch: int  # posteriors (systems x restarts) per forward pass; larger is slower per item on CPU
    coarse_factor: int  # Adam stages on a grid this many times coarser (1: the full grid)
    n_candidates: int  # prior draws per system screened before stage 1 (<= n_restarts: no screen)
    # defaults = the schema's chianese.map (blocks without these keys, e.g. adam's, use fit_map only)
    extra_rounds: int = 2  # rounds of n_restarts new restarts for systems whose best restarts disagree
    agreement: float = 0.01  # relative r_Ein difference of the two best restarts that still agrees
    newton_rounds: int = 1  # stage 3 in coordinates whitened by the Hessian, this many rounds (0: plain L-BFGS)
    hessian_floor: float = 0.5  # eigenvalue floor of that Hessian (whitened prior curvature ~1)
    screen_steps: int = 100  # Adam steps of the screen (lens + source, and z with screen_latent)
    screen_factor: int = 4  # the screen fits the image averaged over this many pixels squared
    screen_latent: bool = True  # the screen fits z too (False: z held at the prior mean)
    anneal: float = 30.0  # noise inflation of the screen and the start of stage 1, decaying to 1 by the end of stage 2


@dataclass
class MapResult:
    """MAP fits of S systems with R restarts.

    theta: (S, R, D) whitened unconstrained values of every restart.
    log_posterior: (S, R) final log posterior of every restart.
    loss_trace: (T, S, R) negative log posterior along the optimisation (of the coarse
        posterior in the Adam stages when ``coarse_factor > 1``).
    best: (S,) index of the best restart of each system.
    """

    theta: np.ndarray
    log_posterior: np.ndarray
    loss_trace: np.ndarray
    best: np.ndarray

    @property
    def best_theta(self) -> np.ndarray:
        """(S, D) theta of the best restart of each system."""
        return self.theta[np.arange(len(self.best)), self.best]


def learning_rate(step: int, n_steps: int, lr: float, lr_final: float) -> float:
    """Exponential decay from ``lr`` (step 0) to ``lr_final`` (last step)."""
    return lr * (lr_final / lr) ** (step / max(n_steps - 1, 1))


def _latent_mask(posterior: FlatPosterior) -> Tensor:
    """(D,) 1 for lens/source coordinates, 0 for the latent z."""
    mask = torch.ones(posterior.dim, device=posterior.device)
    for s in posterior.sites:
        if s.name == LATENT_SITE:
            mask[s.start:s.stop] = 0.0
    return mask


def _initial_theta(posterior: FlatPosterior, n: int) -> Tensor:
    """Prior draws with z at the prior mean (whitened 0)."""
    theta = posterior.prior_draws(n)
    return theta * _latent_mask(posterior)


def _adam_stage(posterior: FlatPosterior, theta: Tensor, n_steps: int, config: MapConfig,
                mask: Tensor | None, bar: tqdm, inflation: tuple[float, float] = (1.0, 1.0)) -> tuple[Tensor, list[Tensor]]:
    """Adam on -log posterior summed over the batch (each element is independent).

    The noise is inflated by a factor f decaying geometrically from ``inflation[0]`` to
    ``inflation[1]``: the steps follow the tempered posterior, prior + likelihood / f^2
    (the likelihood's quadratic term; its constant moves nothing), while the trace records
    the posterior itself."""
    theta = theta.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=config.lr)
    losses = []
    for step in range(n_steps):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, n_steps, config.lr, config.lr_final)
        weight = learning_rate(step, n_steps, *inflation) ** -2
        prior, likelihood = posterior.log_prob_parts(theta, include_jacobian=config.include_jacobian)
        loss = -(prior + likelihood)
        (grad,) = torch.autograd.grad(-(prior + weight * likelihood).sum(), theta)
        grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
        theta.grad = grad * mask if mask is not None else grad
        opt.step()
        losses.append(loss.detach())
        bar.update(1)
        bar.set_postfix(loss=f"{float(loss.detach().min()):.4g}")
    return theta.detach(), losses


def screened_starts(posterior: FlatPosterior, n_systems: int, config: MapConfig,
                    bar: tqdm | None = None) -> tuple[Tensor, Tensor]:
    """Stage 0: the ``n_restarts`` best of ``config.n_candidates`` prior draws per system.

    Every draw (z starting at the prior mean) gets ``screen_steps`` Adam steps of the lens
    and source parameters and, with ``config.screen_latent``, of z, on the
    ``screen_factor``-coarsened posterior; each system keeps the draws with the highest log
    posterior there. Cheap restarts spread over the prior find
    the lens's basin more often than a few expensive ones: on the quick default's 8 mocks
    at sigma 0.0333 (two seeds), 32 candidates for 4 restarts and no extra round ended
    within sqrt(2N)/2 nats of (or above) the mode reached from the truth on 7 of 8 systems,
    against 6 and 3 of 8 for 4 restarts plus an extra round of 4, in 13-17.5 s per system
    against 17.5-19.5 (docs/decisions.md).
    Returns the (S * R, D) starts and their (screen_steps, S * R) loss trace.
    """
    n_restarts = posterior.batch_size // n_systems
    per_slot = -(-config.n_candidates // n_restarts)  # candidates per restart slot (rounded up)
    rows = torch.arange(posterior.batch_size, device=posterior.device).repeat_interleave(per_slot)
    candidates = posterior.subset(rows)
    theta = _initial_theta(candidates, candidates.batch_size)
    coarse = candidates.coarsened(config.screen_factor)
    bar = bar if bar is not None else progress_bar(disable=True)
    mask = None if config.screen_latent else _latent_mask(posterior)
    theta, trace = _adam_stage(coarse, theta, config.screen_steps, config, mask, bar, (config.anneal, config.anneal))
    with torch.no_grad():  # ranked by the tempered posterior the screen climbed
        prior, likelihood = coarse.log_prob_parts(theta, include_jacobian=config.include_jacobian)
        score = torch.nan_to_num(prior + likelihood / config.anneal**2, nan=-np.inf)
    keep = torch.argsort(-score.reshape(n_systems, -1), dim=1)[:, :n_restarts]
    keep = (keep + per_slot * n_restarts * torch.arange(n_systems, device=keep.device)[:, None]).reshape(-1)
    return theta[keep], torch.stack(trace)[:, keep] if trace else torch.empty(0, len(keep), device=theta.device)


def fit_map(posterior: FlatPosterior, n_systems: int, config: MapConfig,
            initial_theta: Tensor | None = None) -> MapResult:
    """Fit the MAP of every system from ``config.n_restarts`` starts at once.

    Parameters
    ----------
    posterior: built on the observations repeated per restart, system-major:
        ``observation[s * R + r]`` is system s (see :func:`repeat_for_restarts`).
    n_systems: S.
    initial_theta: optional (S * R, D) starts; default prior draws with z at the mean
        (screened by :func:`screened_starts` when ``config.n_candidates > R``).

    Returns
    -------
    :class:`MapResult` with arrays shaped (S, R, ...).
    """
    n_restarts = posterior.batch_size // n_systems
    if n_restarts * n_systems != posterior.batch_size:
        raise ValueError(f"posterior batch {posterior.batch_size} is not a multiple of {n_systems} systems")
    screen = initial_theta is None and config.n_candidates > n_restarts and config.screen_steps > 0
    total = config.n_steps_lens + config.n_steps_all + config.lbfgs_iterations + screen * config.screen_steps
    coarse = posterior.coarsened(config.coarse_factor)
    with progress_bar(total=total, desc=f"MAP {n_systems}x{n_restarts}", leave=False) as bar:
        with torch.random.fork_rng():
            torch.manual_seed(config.seed)
            if screen:
                theta, trace0 = screened_starts(posterior, n_systems, config, bar)
            else:
                theta = _initial_theta(posterior, posterior.batch_size) if initial_theta is None else initial_theta.clone()
                trace0 = torch.empty(0, posterior.batch_size, device=posterior.device)
        middle = config.anneal ** (config.n_steps_all / max(config.n_steps_lens + config.n_steps_all, 1))
        theta, trace1 = _adam_stage(coarse, theta, config.n_steps_lens, config, _latent_mask(posterior), bar,
                                    (config.anneal, middle))
        theta, trace2 = _adam_stage(coarse, theta, config.n_steps_all, config, None, bar, (middle, 1.0))
        theta, trace3 = polish_map(posterior, theta, config, bar)
    with torch.no_grad():
        final = posterior.log_prob(theta, include_jacobian=config.include_jacobian)
    final = torch.nan_to_num(final, nan=-np.inf)
    shape = (n_systems, n_restarts)
    log_post = final.reshape(shape).cpu().numpy().astype(np.float64)
    trace = torch.cat([trace0] + ([torch.stack(trace1 + trace2 + trace3)] if trace1 + trace2 + trace3 else []))
    result = MapResult(
        theta=theta.reshape(shape + (posterior.dim,)).cpu().numpy(),
        log_posterior=log_post,
        loss_trace=trace.reshape((-1,) + shape).cpu().numpy().astype(np.float32),
        best=np.argmax(log_post, axis=1),
    )
    log.info("MAP of %d systems x %d restarts: best log posterior %s", n_systems, n_restarts,
             np.array2string(log_post.max(1), precision=1))
    return result


def disagreeing_systems(log_posterior: np.ndarray, einstein_radius: np.ndarray, agreement: float) -> np.ndarray:
    """(S,) True where the two best restarts (by log posterior) end more than ``agreement``
    (relative) apart in r_Ein: two independent restarts that reach the global mode agree,
    so disagreement means at least one of them sits in another mode. Arrays are (S, R);
    with R = 1 nothing can be judged (False)."""
    if log_posterior.shape[1] < 2:
        return np.zeros(len(log_posterior), dtype=bool)
    order = np.argsort(-np.nan_to_num(log_posterior, nan=-np.inf), axis=1)
    rows = np.arange(len(log_posterior))
    first, second = einstein_radius[rows, order[:, 0]], einstein_radius[rows, order[:, 1]]
    return np.abs(first - second) > agreement * np.abs(first)


def _merge(result: MapResult, new: MapResult, systems: np.ndarray) -> MapResult:
    """Keep, for each of ``systems``, the best R restarts of the old and the new round."""
    theta, log_post, trace = result.theta.copy(), result.log_posterior.copy(), result.loss_trace.copy()
    n_restarts = theta.shape[1]
    for j, s in enumerate(systems):
        all_lp = np.concatenate([log_post[s], new.log_posterior[j]])
        keep = np.argsort(-np.nan_to_num(all_lp, nan=-np.inf))[:n_restarts]
        theta[s] = np.concatenate([theta[s], new.theta[j]])[keep]
        log_post[s] = all_lp[keep]
        trace[:, s] = np.concatenate([trace[:, s], new.loss_trace[:, j]], axis=1)[:, keep]
    return MapResult(theta=theta, log_posterior=log_post, loss_trace=trace, best=np.argmax(log_post, axis=1))


def fit_map_adaptive(posterior: FlatPosterior, n_systems: int, config: MapConfig,
                     einstein_radius: Callable[[np.ndarray], np.ndarray]) -> tuple[MapResult, np.ndarray]:
    """:func:`fit_map`, then up to ``config.extra_rounds`` rounds of ``n_restarts`` new
    restarts (new seeds) for the systems whose two best restarts disagree
    (:func:`disagreeing_systems`); each system keeps its best ``n_restarts`` of all.

    ``einstein_radius`` maps theta (S, R, D) to r_Ein (S, R). Returns the result and the
    number of restarts tried per system (S,).
    """
    result = fit_map(posterior, n_systems, config)
    n_restarts = posterior.batch_size // n_systems
    tried = np.full(n_systems, n_restarts, dtype=np.int64)
    for round_ in range(1, config.extra_rounds + 1):
        unsettled = np.nonzero(disagreeing_systems(result.log_posterior, einstein_radius(result.theta),
                                                   config.agreement))[0]
        if len(unsettled) == 0:
            break
        log.info("round %d: %d of %d systems have disagreeing best restarts; %d new restarts each",
                 round_, len(unsettled), n_systems, n_restarts)
        rows = torch.as_tensor((unsettled[:, None] * n_restarts + np.arange(n_restarts)).ravel(),
                               device=posterior.device)
        new = fit_map(posterior.subset(rows), len(unsettled),
                      dataclasses.replace(config, seed=config.seed + 7919 * round_))
        result = _merge(result, new, unsettled)
        tried[unsettled] += n_restarts
    return result, tried


class NegativeLogPosterior:
    """theta (B, D) -> -log posterior (B,), with NaN (a non-finite model image) as +inf,
    the objective of :func:`galprior.inference.optim.batched_lbfgs`; ``restricted(rows)``
    is that of the systems ``rows`` alone (:meth:`FlatPosterior.subset`)."""

    def __init__(self, posterior: FlatPosterior, include_jacobian: bool) -> None:
        self.posterior, self.include_jacobian = posterior, include_jacobian

    def __call__(self, x: Tensor) -> Tensor:
        return torch.nan_to_num(-self.posterior.log_prob(x, include_jacobian=self.include_jacobian), nan=float("inf"))

    def restricted(self, rows: Tensor) -> "NegativeLogPosterior":
        return NegativeLogPosterior(self.posterior.subset(rows), self.include_jacobian)


def polish_map(posterior: FlatPosterior, theta: Tensor, config: MapConfig,
               bar: tqdm | None = None) -> tuple[Tensor, list[Tensor]]:
    """Stage 3: L-BFGS of every batch element; the trace is padded to ``lbfgs_iterations``.

    With ``newton_rounds`` > 0 the iterations are split over that many rounds of
    :func:`galprior.inference.optim.preconditioned_lbfgs`, each whitened by the Hessian
    of the posterior on the ``coarse_factor`` grid (a preconditioner need not be exact;
    ~coarse_factor^2 times cheaper than on the full grid).
    """
    if config.lbfgs_iterations == 0:
        return theta, []

    objective = NegativeLogPosterior(posterior, config.include_jacobian)

    def progress(value: Tensor) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{float(value.min()):.4g}")

    if config.newton_rounds:
        curvature = NegativeLogPosterior(posterior.coarsened(config.coarse_factor), config.include_jacobian)
        lbfgs = LbfgsConfig(max_iter=max(1, config.lbfgs_iterations // config.newton_rounds))
        result = preconditioned_lbfgs(objective, theta, lbfgs, config.hessian_floor, config.newton_rounds,
                                      curvature=curvature, progress=progress)
    else:
        result = batched_lbfgs(objective, theta, LbfgsConfig(max_iter=config.lbfgs_iterations), progress)
    trace = result.trace[1:][:config.lbfgs_iterations]
    if bar is not None:
        bar.update(config.lbfgs_iterations - len(trace))
    trace += [result.value] * (config.lbfgs_iterations - len(trace))
    log.info("L-BFGS polish (%d Hessian-whitened rounds): %d iterations, %d/%d converged, objective lowered by %s",
             config.newton_rounds, result.n_iter, int(result.converged.sum()), len(result.converged),
             np.array2string((result.trace[0] - result.value).cpu().numpy(), precision=1))
    return result.x, trace


def repeat_for_restarts(observation: Tensor, noise_sigma: Tensor, n_restarts: int) -> tuple[Tensor, Tensor]:
    """(S, H, W), (S,) -> (S * R, H, W), (S * R,) with every system repeated R times."""
    return observation.repeat_interleave(n_restarts, 0), noise_sigma.repeat_interleave(n_restarts, 0)


def constrained_numpy(posterior: FlatPosterior, theta: np.ndarray) -> dict[str, np.ndarray]:
    """Constrained values (including ``axis_ratio`` and ``position_angle``) of theta (..., D) as numpy arrays."""
    from .model import with_lens_shape

    flat = torch.as_tensor(theta, dtype=torch.get_default_dtype(), device=posterior.device).reshape(-1, theta.shape[-1])
    with torch.no_grad():
        values, _ = posterior.constrain(flat)
    values = with_lens_shape(values)
    if posterior.priors.fixed_slope is not None:
        values["slope"] = torch.full_like(values["einstein_radius"], posterior.priors.fixed_slope)
    lead = theta.shape[:-1]
    return {k: v.cpu().numpy().reshape(lead + tuple(v.shape[1:])) for k, v in values.items()}
