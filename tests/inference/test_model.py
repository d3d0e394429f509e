import math

import numpy as np
import pytest
import torch

from galprior.inference.model import ANGLE_SITE, position_angle_from_vector
from galprior.inference.potential import FlatPosterior
from galprior.lensing.priors import TruncatedNormal


def test_log_density_finite_and_batched(tiny_system, default_prior):
    image, truth, sim, decoder, prior = tiny_system
    post = FlatPosterior(image.expand(3, -1, -1), 0.01, sim, decoder, prior, default_prior)
    theta = post.prior_draws(3)
    lp = post.log_prob(theta)
    assert lp.shape == (3,) and torch.isfinite(lp).all()
    # systems are independent: one element alone gives the same value
    one = post.subset(slice(0, 1)).log_prob(theta[:1])
    assert torch.allclose(one, lp[:1], rtol=1e-5)


def test_truth_beats_prior_draws(tiny_system, default_prior):
    image, truth, sim, decoder, prior = tiny_system
    post = FlatPosterior(image, 0.01, sim, decoder, prior, default_prior)
    values = dict(truth)
    values[ANGLE_SITE] = torch.tensor([[math.cos(1.2), math.sin(1.2)]])
    lp_truth = post.log_prob(post.to_theta(values))
    lp_prior = FlatPosterior(image.expand(16, -1, -1), 0.01, sim, decoder, prior, default_prior).log_prob(post.prior_draws(16))
    assert lp_truth > lp_prior.max()
    assert torch.allclose(post.model_image(post.to_theta(values)), image, atol=1e-4)


def test_position_angle_vector_round_trip():
    angle = torch.tensor([0.1, 1.0, 3.0])
    vector = torch.stack([torch.cos(2 * angle), torch.sin(2 * angle)], -1)
    assert torch.allclose(position_angle_from_vector(vector), angle, atol=1e-6)


def test_lens_prior_matches_mock_generator(default_prior):
    torch.manual_seed(0)
    draws = {k: d.sample((20000,)).numpy() for k, d in default_prior.lens_distributions().items()}
    mock = default_prior.sample_lens(20000, np.random.default_rng(0))
    names = ["einstein_radius", "slope", "axis_ratio", None, "x0", "y0", "gamma1", "gamma2"]
    for col, name in enumerate(names):
        if name is None:
            continue
        sd = mock[:, col].std()
        if hasattr(default_prior.lens_distributions()[name], "low"):  # truncated: same bounds
            dist = default_prior.lens_distributions()[name]
            assert draws[name].min() >= dist.low and mock[:, col].min() >= dist.low
            assert draws[name].max() <= dist.high and mock[:, col].max() <= dist.high
        assert abs(draws[name].mean() - mock[:, col].mean()) < 4 * sd * np.sqrt(2 / 20000), name
        assert abs(draws[name].std() / sd - 1) < 0.03, name


def test_truncated_normal_normalised():
    d = TruncatedNormal(0.0, 1.0, -1.0, 2.0)
    x = torch.linspace(-1, 2, 20001)
    assert torch.trapezoid(d.log_prob(x).exp(), x).item() == pytest.approx(1.0, abs=1e-4)
    s = d.sample((10000,))
    assert s.min() >= -1 and s.max() <= 2


def test_position_angle_vector_density_is_a_thin_ring(default_prior):
    """Site density x factor = exp(-(r - 1)^2 / (2 w^2)) up to a constant, for any angle."""
    import pyro
    from pyro import poutine

    from galprior.inference.model import RING_WIDTH, sample_parameters
    from galprior.models.vae.latent_prior import latent_prior_distribution

    radius = torch.tensor([0.7, 0.9, 1.0, 1.0, 1.2, 1.5])
    angle = torch.tensor([0.3, 2.0, 0.1, 2.5, 1.0, 3.0])
    vector = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], -1)
    prior = latent_prior_distribution(np.zeros(2), np.eye(2))

    def model():
        with pyro.plate("systems", 6, dim=-1):
            sample_parameters(default_prior, prior)

    trace = poutine.trace(poutine.condition(model, data={ANGLE_SITE: vector})).get_trace()
    log_density = sum(trace.nodes[name]["fn"].log_prob(trace.nodes[name]["value"])
                      for name in (ANGLE_SITE, "position_angle_ring"))
    expected = -0.5 * ((radius - 1.0) / RING_WIDTH) ** 2
    assert torch.allclose(log_density - log_density[2], expected - expected[2], atol=1e-4)
    assert torch.allclose(trace.nodes["position_angle"]["value"], torch.remainder(angle / 2, math.pi), atol=1e-6)
