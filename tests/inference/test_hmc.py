import numpy as np
import pytest
import torch

from galprior.inference.hmc import chain_diagnostics, sample_posterior
from galprior.inference.optim import regularised_inverse
from galprior.inference.map import constrained_numpy
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


def test_nuts_runs_with_laplace_mass_matrix(tiny_system, default_prior, hmc_config):
    image, truth, sim, decoder, prior = tiny_system
    post = FlatPosterior(image + 0.01 * torch.randn(image.shape, generator=torch.Generator().manual_seed(1)),
                         0.01, sim, decoder, prior, default_prior)
    theta = post.to_theta(truth)[0]
    result = sample_posterior(post, theta, hmc_config(sampler="nuts", num_warmup=8, num_samples=6, num_chains=2,
                                                               metric_samples=5))
    assert result.theta.shape == (2, 6, post.dim)
    assert np.isfinite(result.theta).all()
    assert (result.grad_evals >= 1).all()
    # the Laplace covariance is symmetric positive definite
    np.linalg.cholesky(result.inverse_mass_matrix.astype(np.float64))
    r_hat, ess = chain_diagnostics(result.theta)
    assert r_hat.shape == ess.shape == (post.dim,)


def test_sampler_reproduces_the_prior_when_the_likelihood_is_flat(tiny_system, default_prior, hmc_config):
    """With sigma = 1e4 the posterior is the prior, whose marginals are known in closed
    form: the truncated normal of eq. 21 for the Einstein radius, N(0, 1) for the latents. This exercises the
    unconstraining Jacobians, the whitening and the sampler; without the Jacobian the
    sigmoid-mapped radius would pile up at the bounds."""
    image, truth, sim, decoder, prior = tiny_system
    image, prior = image.double(), type(prior)(prior.loc.double(), prior.covariance_matrix.double())
    post = FlatPosterior(image, 1e4, LensSimulator(32, 0.16, dtype=torch.float64), decoder_64(decoder), prior, default_prior)
    result = sample_posterior(post, torch.zeros(post.dim, dtype=torch.float64),
                              hmc_config(sampler="hmc", num_warmup=40, num_samples=300, metric_samples=100, seed=3))
    values = constrained_numpy(post, result.theta[0])
    radius, latent = values["einstein_radius"], values["latent"]
    _, ess = chain_diagnostics(np.concatenate([radius[:, None], latent], axis=1)[None])
    assert ess.min() > 50
    tol = 4.0 / np.sqrt(ess)  # in units of the prior standard deviation
    from scipy.stats import truncnorm

    mean, sd, lo, hi = default_prior.einstein_radius  # eq. 21, truncated normal
    expected = truncnorm((lo - mean) / sd, (hi - mean) / sd, mean, sd)
    assert abs(radius.mean() - expected.mean()) / expected.std() < tol[0]
    assert abs(radius.std() / expected.std() - 1) < 0.25
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


class LinearGaussianPosterior:
    """A posterior with a closed form, behind FlatPosterior's interface (one system).

    Data y = A theta + noise (noise sd ``sigma``), prior theta ~ N(0, I): the posterior
    is N(m, C) with C = (A^T A / sigma^2 + I)^-1 and m = C A^T y / sigma^2. A has
    singular values spread over two decades and random directions, so the posterior
    is correlated, with widths from ~0.03 to ~1 like a lens posterior in whitened units.
    """

    def __init__(self, dim: int = 16, n_data: int = 40, sigma: float = 0.1, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        u, _ = torch.linalg.qr(torch.randn(n_data, dim, generator=gen, dtype=torch.float64))
        v, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
        singular = torch.logspace(-1.0, 0.5, dim, dtype=torch.float64)
        self.matrix = u @ torch.diag(singular) @ v.T
        self.sigma, self.dtype, self.device, self.batch_size, self.dim = sigma, torch.float64, torch.device("cpu"), 1, dim
        truth = torch.randn(dim, generator=gen, dtype=torch.float64)
        self.data = self.matrix @ truth + sigma * torch.randn(n_data, generator=gen, dtype=torch.float64)
        precision = self.matrix.T @ self.matrix / sigma**2 + torch.eye(dim, dtype=torch.float64)
        self.covariance = torch.linalg.inv(precision)
        self.mean = self.covariance @ self.matrix.T @ self.data / sigma**2

    def log_prob(self, theta: torch.Tensor, include_jacobian: bool | None = None) -> torch.Tensor:
        residual = theta @ self.matrix.T - self.data
        return -0.5 * (residual**2).sum(-1) / self.sigma**2 - 0.5 * (theta**2).sum(-1)


@pytest.mark.parametrize("mode", ["galprior", "paper"])
def test_both_modes_sample_a_linear_gaussian_posterior(mode, defaults):
    """Mean and covariance of the samples against the closed form, within Monte-Carlo
    error (each mode's sampler as ``galprior.inference.modes`` configures it). A likelihood
    scaled by 2, an ignored or wrong mass matrix that biases the widths, or a missing
    half of the kinetic energy would move the widths by far more than the tolerance."""
    from galprior.inference.modes import hmc_config

    post = LinearGaussianPosterior()
    chianese = {**defaults["chianese"], "inference": mode}
    chianese["paper_inference"] = {**chianese["paper_inference"], "num_warmup": 100, "num_samples": 400,
                                   "max_tree_depth": 6}
    chianese["hmc"] = {**chianese["hmc"], "num_warmup": 100, "num_samples": 800, "metric_samples": 100,
                       "num_chains": 1}
    config = hmc_config(chianese, seed=1)
    start = post.mean + 0.5 * torch.randn(post.dim, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * post.covariance.diagonal().sqrt()
    result = sample_posterior(post, start, config)
    samples = result.theta.reshape(-1, post.dim)
    _, ess = chain_diagnostics(result.theta)
    assert ess.min() > 100, ess.min()
    sd = post.covariance.diagonal().sqrt().numpy()
    z = (samples.mean(0) - post.mean.numpy()) / (sd / np.sqrt(ess))
    assert np.abs(z).max() < 4.5, z
    # variances: the relative error of a variance is ~ sqrt(2 / n_eff), n_eff the effective
    # size of the squared deviations (antithetic HMC has ESS > N for the mean, not for these)
    squared = (result.theta - post.mean.numpy()) ** 2
    _, ess_sq = chain_diagnostics(squared)
    ratio = samples.var(0) / sd**2
    assert np.all(np.abs(ratio - 1) < 4.5 * np.sqrt(2 / ess_sq)), (ratio, ess_sq)
    # correlations along the narrowest and widest directions of the posterior
    eigval, eigvec = torch.linalg.eigh(post.covariance)
    for k in (0, post.dim - 1):
        projected = samples @ eigvec[:, k].numpy()
        assert abs(projected.var() / float(eigval[k]) - 1) < 0.35


def test_position_angle_diagnostics_ignore_the_wrap_around():
    """A chain of the position angle that straddles 0 = pi (an AR(1) series around 0.05 rad,
    stored mod pi as the samples are) must get the R-hat and ESS of the unwrapped series;
    on the raw angles the two split halves disagree and the ESS is the wrap's."""
    from galprior.inference.mocks import unwrapped_for_diagnostics

    rng = np.random.default_rng(0)
    n = 400
    angle = np.empty(n)
    angle[0] = 0.05
    for i in range(1, n):
        angle[i] = 0.05 + 0.6 * (angle[i - 1] - 0.05) + 0.08 * rng.normal()
    radius = 1.5 + 0.01 * rng.normal(size=n)
    names = ["einstein_radius", "position_angle"]
    stored = np.stack([radius, np.mod(angle, np.pi)], -1)[None]
    assert ((stored[0, :, 1] > 3.0).mean() > 0.1) and ((stored[0, :, 1] < 0.2).mean() > 0.1)
    r_hat, ess = chain_diagnostics(unwrapped_for_diagnostics(stored, names))
    r_hat_true, ess_true = chain_diagnostics(np.stack([radius, angle], -1)[None])
    np.testing.assert_allclose(ess, ess_true, rtol=1e-6)
    np.testing.assert_allclose(r_hat, r_hat_true, rtol=1e-6)
    _, ess_raw = chain_diagnostics(stored)
    assert abs(ess_raw[1] - ess_true[1]) > 0.2 * ess_true[1]


def test_three_samples_are_enough_to_sample(tiny_system, default_prior, hmc_config):
    """Fewer than 4 samples (the paper-smoke preset's count): sampling and its diagnostics run
    (Pyro's own MCMC.diagnostics() refuses split R-hat below 4 samples); our R-hat is NaN there."""
    image, truth, sim, decoder, prior = tiny_system
    post = FlatPosterior(image + 0.01 * torch.randn(image.shape, generator=torch.Generator().manual_seed(1)),
                         0.01, sim, decoder, prior, default_prior)
    result = sample_posterior(post, post.to_theta(truth)[0],
                              hmc_config(sampler="nuts", num_warmup=2, num_samples=3, max_tree_depth=3))
    assert result.theta.shape == (1, 3, post.dim) and np.isfinite(result.theta).all()
    r_hat, _ = chain_diagnostics(result.theta)
    assert np.isnan(r_hat).all()
