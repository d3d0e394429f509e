"""Denoising score-matching loss of Adam et al. 2022 eq. 3.

L = E_{t ~ U(0,1)} E_{x ~ D} E_{z ~ N(0, 1)} || eps_theta(x + sigma(t) z, t) + z ||_2^2,

with the squared norm summed over pixels and the expectation taken as the batch mean
(as in the reference ``score_models.dsm``). The paper samples t uniformly on [0, 1]. A model
with EDM's preconditioning weights each image's term by ``model.loss_weight(sigma)``
(:class:`galprior.models.score.network.ScoreUNet`; 1 for the paper's network).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["dsm_loss"]


def dsm_loss(model, x: Tensor, t: Tensor | None = None, z: Tensor | None = None,
             generator: torch.Generator | None = None) -> Tensor:
    """Eq. 3 on a batch of images x (B, H, W); t (B,) and z like x are drawn when not given.

    ``model(x_t, t)`` returns eps_theta, ``model.sde.sigma`` gives sigma(t) and
    ``model.loss_weight(sigma)`` the weight of each image's term (B,).
    """
    if t is None:
        t = torch.rand(x.shape[0], generator=generator).to(x)
    if z is None:
        z = torch.randn(x.shape, generator=generator).to(x)
    sigma = model.sde.sigma(t).reshape(-1, *([1] * (x.ndim - 1)))
    eps = model(x + sigma * z, t)
    weight = model.loss_weight(sigma.reshape(-1))
    return (weight * ((eps + z) ** 2).reshape(x.shape[0], -1).sum(-1)).mean()
