"""The two inference modes of the Chianese system, named in the config (``chianese.inference``).

``paper``: what Chianese et al. 2020 did and nothing more (sec. 5.2-5.3), so that its
cost and results can be compared with theirs: one MAP per system and noise level by
Adam (``chianese.paper_inference.adam_steps``, ~1e4 "iterations", from one draw of the
prior with z at its mean; the paper does not give the learning rate or the start), then
Pyro's NUTS from the MAP with Pyro's own step-size and diagonal mass-matrix adaptation
(50 warm-up steps, 500 samples). Differences we keep: the parameters are Pyro's
unconstrained ones whitened by their prior scale (:class:`FlatPosterior`), the latent
prior and the lens-ellipticity vector for (q, phi) of :mod:`galprior.inference.model`.

``galprior`` (default): our faster, better-mixing inference: restarts batched over
systems, Adam then L-BFGS (:mod:`galprior.inference.map`, settings ``chianese.map``),
and HMC/NUTS with a Laplace and pilot mass matrix (:mod:`galprior.inference.hmc`,
settings ``chianese.hmc``).
"""

from __future__ import annotations

from typing import Any

from .hmc import HmcConfig
from .map import MapConfig

__all__ = ["MODES", "map_config", "hmc_config"]

#: Names accepted by ``chianese.inference``.
MODES = ("galprior", "paper")


def _mode(chianese: dict[str, Any]) -> str:
    mode = chianese["inference"]
    if mode not in MODES:
        raise ValueError(f"chianese.inference = {mode!r}; expected one of {MODES}")
    return mode


def map_config(chianese: dict[str, Any], seed: int) -> MapConfig:
    """MAP settings of the config's mode from the ``chianese`` block."""
    options = dict(chianese["map"])
    if _mode(chianese) == "paper":
        paper = chianese["paper_inference"]
        options.update(n_restarts=1, n_steps_lens=0, n_steps_all=paper["adam_steps"], lr=paper["adam_lr"],
                       lr_final=paper["adam_lr"], lbfgs_iterations=0, include_jacobian=False, extra_rounds=0,
                       coarse_factor=1, n_candidates=0, screen_latent=False, anneal=1.0)
    return MapConfig(**options, seed=seed)


def hmc_config(chianese: dict[str, Any], seed: int) -> HmcConfig:
    """Sampler settings of the config's mode from the ``chianese`` block (``systems`` left out)."""
    options = {k: v for k, v in chianese["hmc"].items() if k != "systems"}
    if _mode(chianese) == "paper":
        paper = chianese["paper_inference"]
        options.update(sampler="pyro_nuts", num_warmup=paper["num_warmup"], num_samples=paper["num_samples"],
                       num_chains=1, max_tree_depth=paper["max_tree_depth"],
                       target_accept_prob=paper["target_accept_prob"], refine_iterations=0, metric_samples=0)
    return HmcConfig(**options, seed=seed)
