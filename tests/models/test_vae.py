import math

import pytest
import torch

from galprior.models import available_source_models
from galprior.models.vae import VAE, elbo, gaussian_log_likelihood, kl_to_standard_normal


@pytest.mark.parametrize("image_size, n_convs", [(16, 2), (64, 4)])
def test_shapes_and_output_range(image_size, n_convs):
    torch.manual_seed(0)
    model = VAE(image_size=image_size, latent_dim=6, base_width=2)
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == n_convs
    x = torch.rand(3, 1, image_size, image_size)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 6)
    x_hat = model.decode(10 * torch.randn(3, 6))
    assert x_hat.shape == x.shape
    assert x_hat.abs().max() < 1.0
    assert model.elbo(x).shape == (3,)


def test_hyperparameters_rebuild_the_network():
    model = VAE(image_size=16, latent_dim=5, base_width=3, decoder_sigma=0.1)
    clone = VAE(**model.hyperparameters)
    assert clone.hyperparameters == model.hyperparameters
    assert [p.shape for p in clone.parameters()] == [p.shape for p in model.parameters()]
    assert available_source_models["vae"] is VAE


def test_bad_image_size():
    with pytest.raises(ValueError, match="image_size"):
        VAE(image_size=48)


def test_log_likelihood_and_kl_match_torch_distributions():
    torch.manual_seed(0)
    x, x_hat = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    sigma = 0.3
    expected = torch.distributions.Normal(x_hat, sigma).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_log_likelihood(x, x_hat, sigma), expected)
    mu, logvar = torch.randn(4, 5), torch.randn(4, 5)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(5), torch.ones(5))
    torch.testing.assert_close(kl_to_standard_normal(mu, logvar), torch.distributions.kl_divergence(q, p).sum(1))


def test_elbo_linear_gaussian_closed_form():
    """Linear decoder g(z) = W z + b: E_q[log p(x|z)] has a closed form.

    E_q[log N(x | Wz + b, s^2 I)] = -D/2 log(2 pi s^2) - (|x - W mu - b|^2 + tr(W S W^T)) / (2 s^2)
    with S = diag(exp(logvar)). The Monte-Carlo average of the single-draw ELBO over many
    draws z ~ q must converge to this minus the KL.
    """
    gen = torch.Generator().manual_seed(0)
    d_latent, d_data, sigma = 3, 6, 0.5
    W = torch.randn(d_data, d_latent, generator=gen, dtype=torch.float64)
    b = torch.randn(d_data, generator=gen, dtype=torch.float64)
    x = torch.randn(1, d_data, generator=gen, dtype=torch.float64)
    mu = torch.randn(1, d_latent, generator=gen, dtype=torch.float64)
    logvar = torch.randn(1, d_latent, generator=gen, dtype=torch.float64) - 1.0
    cov = torch.diag(logvar[0].exp())
    residual = ((x - mu @ W.T - b) ** 2).sum()
    expected_loglik = -0.5 * d_data * math.log(2 * math.pi * sigma**2) - (residual + torch.trace(W @ cov @ W.T)) / (2 * sigma**2)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
    closed_form = (expected_loglik - kl).item()

    n = 200_000
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, d_latent, generator=gen, dtype=torch.float64)
    samples = elbo(x.expand(n, -1), z @ W.T + b, mu.expand(n, -1), logvar.expand(n, -1), sigma)
    standard_error = samples.std().item() / math.sqrt(n)
    assert abs(samples.mean().item() - closed_form) < 4 * standard_error
    # the KL part is analytic: identical for every draw
    assert abs(kl.item() - kl_to_standard_normal(mu, logvar).item()) < 1e-12
