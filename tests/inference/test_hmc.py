import math

import numpy as np
import torch

from galprior.inference.hmc import HmcConfig, chain_diagnostics, regularised_inverse, sample_posterior
from galprior.inference.map import constrained_numpy
from galprior.inference.model import ANGLE_SITE
from galprior.inference.potential import FlatPosterior
from galprior.lensing.simulator import LensSimulator


def decoder_64(decoder):
    """The float32 test decoder in float64 (a copy)."""
    import copy

    return copy.deepcopy(decoder).double()


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
    result = sample_posterior(post, theta, HmcConfig(sampler="nuts", num_warmup=8, num_samples=6, num_chains=2,
                                                               metric_samples=5))
    assert result.theta.shape == (2, 6, post.dim)
    assert np.isfinite(result.theta).all()
    assert (result.grad_evals >= 1).all()
    # the Laplace covariance is symmetric positive definite
    np.linalg.cholesky(result.inverse_mass_matrix.astype(np.float64))
    r_hat, ess = chain_diagnostics(result.theta)
    assert r_hat.shape == ess.shape == (post.dim,)


def test_sampler_reproduces_the_prior_when_the_likelihood_is_flat(tiny_system):
    """With sigma = 1e4 the posterior is the prior, whose marginals are known in closed
    form: U(1, 2) for the Einstein radius, N(0, 1) for the latents. This exercises the
    unconstraining Jacobians, the whitening and the sampler; without the Jacobian the
    sigmoid-mapped radius would pile up at the bounds."""
    image, truth, sim, decoder, prior = tiny_system
    image, prior = image.double(), type(prior)(prior.loc.double(), prior.covariance_matrix.double())
    post = FlatPosterior(image, 1e4, LensSimulator(32, 0.16, dtype=torch.float64), decoder_64(decoder), prior)
    result = sample_posterior(post, torch.zeros(post.dim, dtype=torch.float64),
                              HmcConfig(sampler="hmc", num_warmup=40, num_samples=300, metric_samples=100, seed=3))
    values = constrained_numpy(post, result.theta[0])
    radius, latent = values["einstein_radius"], values["latent"]
    _, ess = chain_diagnostics(np.concatenate([radius[:, None], latent], axis=1)[None])
    assert ess.min() > 50
    tol = 4.0 / np.sqrt(ess)  # in units of the prior standard deviation
    assert abs(radius.mean() - 1.5) / (1 / np.sqrt(12)) < tol[0]
    assert abs(radius.std() / (1 / np.sqrt(12)) - 1) < 0.25
    assert np.all(np.abs(latent.mean(0)) < tol[1:])
    assert np.all(np.abs(latent.std(0) - 1) < 0.25)


def test_shrunk_covariance_interpolates_sample_and_laplace():
    from galprior.inference.hmc import shrunk_covariance

    samples = torch.randn(40, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    laplace = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    sample_cov = torch.as_tensor(np.cov(samples.numpy().T))
    assert torch.allclose(shrunk_covariance(samples, laplace, 0.0), sample_cov)
    assert torch.allclose(shrunk_covariance(samples, laplace, 1e12), laplace)
    assert torch.allclose(shrunk_covariance(samples, laplace, 40.0), 0.5 * (sample_cov + laplace))
