import math

import numpy as np
import pytest
import torch

from galprior.inference.model import ELLIPTICITY_SITE
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
    lp_truth = post.log_prob(post.to_theta(values))
    lp_prior = FlatPosterior(image.expand(16, -1, -1), 0.01, sim, decoder, prior, default_prior).log_prob(post.prior_draws(16))
    assert lp_truth > lp_prior.max()
    assert torch.allclose(post.model_image(post.to_theta(values)), image, atol=1e-4)


def test_ellipticity_round_trip():
    """e = sqrt(1 - q) (cos 2 phi, sin 2 phi) and back, phi in [0, pi)."""
    from galprior.lensing.priors import ellipticity_from_shape, shape_from_ellipticity

    q, phi = torch.tensor([0.3, 0.98, 1.0, 0.6]), torch.tensor([0.1, 1.0, 0.0, 3.0])
    back_q, back_phi = shape_from_ellipticity(ellipticity_from_shape(q, phi))
    assert torch.allclose(back_q, q, atol=1e-6) and torch.allclose(back_phi[:2], phi[:2], atol=1e-5)
    assert torch.allclose(back_phi[3], phi[3], atol=1e-5)


def test_lens_prior_matches_mock_generator(default_prior):
    torch.manual_seed(0)
    draws = {k: d.sample((20000,)).numpy() for k, d in default_prior.lens_distributions().items()}
    from galprior.lensing.priors import shape_from_ellipticity
    draws["axis_ratio"] = shape_from_ellipticity(default_prior.ellipticity_distribution().sample((20000,)))[0].numpy()
    mock = default_prior.sample_lens(20000, np.random.default_rng(0))
    names = ["einstein_radius", "slope", "axis_ratio", None, "x0", "y0", "gamma1", "gamma2"]
    for col, name in enumerate(names):
        if name is None:
            continue
        sd = mock[:, col].std()
        dist = default_prior.lens_distributions().get(name, default_prior.axis_ratio_distribution())
        if hasattr(dist, "low"):  # truncated: same bounds
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


def test_ellipticity_site_density_is_the_papers_q_and_phi_prior(default_prior):
    """The model's site ``lens_ellipticity`` scores p(q) p(phi) of eqs. 19-20 (the map
    (q, phi) -> e has unit Jacobian), and its deterministic sites are q and phi."""
    import pyro
    from pyro import poutine
    from scipy import stats

    from galprior.inference.model import sample_parameters
    from galprior.lensing.priors import ellipticity_from_shape
    from galprior.models.vae.latent_prior import latent_prior_distribution

    q = torch.tensor([0.25, 0.5, 0.8, 0.98, 0.999], dtype=torch.float64)
    phi = torch.tensor([0.3, 2.0, 0.1, 2.5, 1.0], dtype=torch.float64)
    prior = latent_prior_distribution(np.zeros(2), np.eye(2))

    def model():
        with pyro.plate("systems", 5, dim=-1):
            sample_parameters(default_prior, prior)

    trace = poutine.trace(poutine.condition(model, data={ELLIPTICITY_SITE: ellipticity_from_shape(q, phi)})).get_trace()
    node = trace.nodes[ELLIPTICITY_SITE]
    mean, sd, low, high = default_prior.axis_ratio
    expected = (stats.truncnorm.logpdf(q.numpy(), (low - mean) / sd, (high - mean) / sd, mean, sd)
                + np.log(sum(stats.norm.pdf(phi.numpy() + k * math.pi, *default_prior.position_angle) for k in range(-8, 9))))
    np.testing.assert_allclose(node["fn"].log_prob(node["value"]).numpy(), expected, rtol=1e-6)
    assert torch.allclose(trace.nodes["axis_ratio"]["value"], q) and torch.allclose(trace.nodes["position_angle"]["value"], phi)


def test_ellipticity_density_integrates_to_one_and_its_transform_is_exact(default_prior):
    """Over the disk |e| <= sqrt(1 - q_low) the density has mass 1; Pyro's map R^2 -> disk
    inverts and its log |det| is autograd's."""
    d = default_prior.ellipticity_distribution()
    g = torch.linspace(-d.radius, d.radius, 601, dtype=torch.float64)
    e = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1)
    density = torch.where((e**2).sum(-1) <= d.radius**2, d.log_prob(e).exp(), torch.zeros(()))
    assert float(density.sum() * (g[1] - g[0]) ** 2) == pytest.approx(1.0, abs=2e-3)
    transform = torch.distributions.biject_to(d.support)
    v = torch.tensor([[0.01, -0.02], [0.7, 0.3], [-2.0, 1.5]], dtype=torch.float64)
    assert torch.allclose(transform.inv(transform(v)), v, atol=1e-9)
    for row in v:
        jac = torch.autograd.functional.jacobian(transform, row)
        assert float(transform.log_abs_det_jacobian(row, transform(row))) == pytest.approx(float(torch.logdet(jac)), abs=1e-9)
