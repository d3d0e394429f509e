import math

import numpy as np
import torch

from galprior.inference.hmc import HmcConfig, chain_diagnostics, regularised_inverse, sample_posterior
from galprior.inference.model import ANGLE_SITE
from galprior.inference.potential import FlatPosterior


def test_regularised_inverse_floors_eigenvalues():
    hessian = torch.diag(torch.tensor([4.0, -2.0, 1e-6]))
    cov = regularised_inverse(hessian, floor=0.5)
    assert torch.allclose(cov, torch.diag(torch.tensor([0.25, 0.5, 2.0])))


def test_nuts_runs_with_laplace_mass_matrix(tiny_system):
    image, truth, sim, decoder, prior = tiny_system
    post = FlatPosterior(image + 0.01 * torch.randn(image.shape, generator=torch.Generator().manual_seed(1)),
                         0.01, sim, decoder, prior)
    values = dict(truth)
    values[ANGLE_SITE] = torch.tensor([[math.cos(1.2), math.sin(1.2)]])
    theta = post.to_theta(values)[0]
    result = sample_posterior(post, theta, HmcConfig(num_warmup=8, num_samples=6, num_chains=2))
    assert result.theta.shape == (2, 6, post.dim)
    assert np.isfinite(result.theta).all()
    assert (result.grad_evals >= 1).all()
    # the Laplace covariance is symmetric positive definite
    np.linalg.cholesky(result.inverse_mass_matrix.astype(np.float64))
    r_hat, ess = chain_diagnostics(result.theta)
    assert r_hat.shape == ess.shape == (post.dim,)
