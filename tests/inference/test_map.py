import math

import numpy as np
import pytest
import torch

from galprior.inference.map import constrained_numpy, fit_map, learning_rate, repeat_for_restarts
from galprior.inference.potential import FlatPosterior


def test_learning_rate_schedule():
    assert learning_rate(0, 10, 0.1, 0.001) == 0.1
    assert math.isclose(learning_rate(9, 10, 0.1, 0.001), 0.001)


def test_map_recovers_einstein_radius(tiny_system, default_prior, map_config):
    image, truth, sim, decoder, prior = tiny_system
    restarts = 8
    obs, sigma = repeat_for_restarts(image, torch.tensor([0.01]), restarts)
    post = FlatPosterior(obs, sigma, sim, decoder, prior, default_prior)
    result = fit_map(post, 1, map_config(n_restarts=restarts, n_steps_lens=150, n_steps_all=250, n_candidates=0))
    assert result.theta.shape == (1, restarts, post.dim)
    assert result.loss_trace.shape == (400 + map_config().lbfgs_iterations, 1, restarts)
    # the L-BFGS stage never makes a restart worse than Adam left it
    assert (result.loss_trace[-1] <= result.loss_trace[399] + 1e-3 * abs(result.loss_trace[399])).all()
    best = constrained_numpy(post, result.best_theta)
    rel = abs(best["einstein_radius"][0] - 1.5) / 1.5
    assert rel < 0.01, best["einstein_radius"]
    assert abs(best["position_angle"][0] - 0.6) < 0.05


def test_disagreeing_systems_and_merge_keep_the_best_restarts():
    from galprior.inference.map import MapResult, _merge, disagreeing_systems

    log_post = np.array([[10.0, 9.0, -5.0], [10.0, 9.0, 8.0], [3.0, np.nan, 1.0]])
    radius = np.array([[1.50, 1.505, 2.0], [1.50, 1.60, 1.5], [1.2, 1.0, 1.3]])
    # system 0: best two agree (0.3 %); system 1: 6.7 % apart; system 2: NaN restart ranks last
    assert disagreeing_systems(log_post, radius, 0.01).tolist() == [False, True, True]
    assert not disagreeing_systems(log_post[:, :1], radius[:, :1], 0.01).any()
    old = MapResult(theta=np.arange(3 * 3 * 2, dtype=float).reshape(3, 3, 2), log_posterior=log_post,
                    loss_trace=np.zeros((4, 3, 3)), best=np.argmax(np.nan_to_num(log_post, nan=-np.inf), 1))
    new = MapResult(theta=np.full((1, 3, 2), -1.0), log_posterior=np.array([[12.0, 0.0, 9.5]]),
                    loss_trace=np.ones((4, 1, 3)), best=np.array([0]))
    merged = _merge(old, new, np.array([1]))
    assert merged.log_posterior[1].tolist() == [12.0, 10.0, 9.5]
    assert merged.best[1] == 0 and (merged.theta[1, 0] == -1).all() and (merged.theta[1, 1] == old.theta[1, 0]).all()
    assert merged.loss_trace[:, 1, 0].tolist() == [1.0] * 4
    np.testing.assert_array_equal(merged.theta[0], old.theta[0])


def test_inference_modes_from_the_config(defaults):
    """``chianese.inference`` names the mode: paper = one Adam run of 1e4 steps and Pyro's
    NUTS 50 + 500 from the MAP; galprior = the map/hmc blocks as they are."""
    from galprior.inference.modes import hmc_config, map_config

    chianese = defaults["chianese"]
    ours = map_config(chianese, seed=1)
    assert ours.n_restarts == chianese["map"]["n_restarts"] and ours.lbfgs_iterations > 0
    paper = map_config({**chianese, "inference": "paper"}, seed=1)
    assert (paper.n_restarts, paper.n_steps_lens, paper.n_steps_all, paper.lbfgs_iterations, paper.extra_rounds) == (
        1, 0, 10000, 0, 0)
    assert (paper.anneal, paper.screen_latent) == (1.0, False)  # the paper's Adam is not tempered
    sampler = hmc_config({**chianese, "inference": "paper"}, seed=1)
    assert (sampler.sampler, sampler.num_warmup, sampler.num_samples, sampler.metric_samples) == ("pyro_nuts", 50, 500, 0)
    assert hmc_config(chianese, seed=1).sampler == chianese["hmc"]["sampler"]
    import pytest

    with pytest.raises(ValueError, match="chianese.inference"):
        map_config({**chianese, "inference": "fast"}, seed=1)


def test_mode_from_truth_tells_an_exact_source_model_from_a_misspecified_one(tiny_system, other_decoder,
                                                                            default_prior):
    """With the decoder that made the image, holding the lens at the truth costs only the
    noise fit of 8 lens parameters (Delta log p ~ 4); with a decoder of other weights the
    source cannot fit the true lens and moving the lens buys far more."""
    from galprior.inference.mocks import mode_from_truth, site_values
    from galprior.lensing.simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES

    image, truth, sim, decoder, prior = tiny_system
    obs = image + 0.01 * torch.randn(image.shape, generator=torch.Generator().manual_seed(3))
    lens = np.array([[float(truth[n]) for n in LENS_PARAMETER_NAMES]])
    source = np.array([[float(truth[n]) for n in SOURCE_PARAMETER_NAMES]])
    gaps = {}
    for name, model in (("exact", decoder), ("other", other_decoder)):
        post = FlatPosterior(obs, 0.01, sim, model, prior, default_prior, include_jacobian=False)
        start = post.to_theta(site_values(post, lens, source, np.zeros((1, 6))))
        held, free, theta = mode_from_truth(post, start, include_jacobian=False, iterations=200)
        assert float(free) >= float(held) - 1e-3  # freeing the lens never loses
        gaps[name] = float(free - held)
        if name == "exact":
            r_ein = constrained_numpy(post, theta.numpy())["einstein_radius"][0]
            assert abs(r_ein / 1.5 - 1) < 0.01
    assert gaps["exact"] < 15.0, gaps
    assert gaps["other"] > 10 * gaps["exact"], gaps


def test_coarse_adam_stages_still_find_the_einstein_radius(tiny_system, default_prior, map_config):
    """Adam on the 2 x 2-averaged image (noise sigma / 2), then L-BFGS on the full one."""
    image, truth, sim, decoder, prior = tiny_system
    restarts = 8
    obs, sigma = repeat_for_restarts(image, torch.tensor([0.01]), restarts)
    post = FlatPosterior(obs, sigma, sim, decoder, prior, default_prior)
    coarse = post.coarsened(2)
    assert coarse.observation.shape[-1] == 16 and torch.allclose(coarse.noise_sigma, sigma / 2)
    result = fit_map(post, 1, map_config(n_restarts=restarts, n_steps_lens=150, n_steps_all=250, coarse_factor=2,
                                         n_candidates=0))
    best = constrained_numpy(post, result.best_theta)
    assert abs(best["einstein_radius"][0] / 1.5 - 1) < 0.01, best["einstein_radius"]


def test_screen_keeps_each_systems_best_candidates(tiny_system, default_prior, map_config):
    """Stage 0: 24 prior draws per system screened on the 2 x 2-averaged image, the 3 best
    of each system go on. Two systems with different lenses in one batch: a start screened
    on the other system's image, or a low-scoring one, fails this."""
    from galprior.inference.map import screened_starts
    from galprior.inference.model import render_model_image

    image, truth, sim, decoder, prior = tiny_system
    other = {**truth, "einstein_radius": torch.tensor([1.1]), "position_angle": torch.tensor([2.0])}
    with torch.no_grad():
        images = torch.cat([image, render_model_image(other, sim, decoder)])
    restarts = 3
    obs, sigma = repeat_for_restarts(images, torch.tensor([0.01, 0.01]), restarts)
    post = FlatPosterior(obs, sigma, sim, decoder, prior, default_prior)
    config = map_config(n_restarts=restarts, n_candidates=24, screen_steps=60, screen_factor=2,
                        n_steps_lens=100, n_steps_all=150)
    torch.manual_seed(config.seed)
    starts, trace = screened_starts(post, 2, config)
    assert starts.shape == (2 * restarts, post.dim) and trace.shape == (60, 2 * restarts)
    # every kept start scores higher on its own system's coarse image than the other
    # system's kept starts do there
    coarse = post.coarsened(2)
    with torch.no_grad():
        kept = coarse.log_prob(starts).reshape(2, restarts)
        swapped = coarse.log_prob(starts.reshape(2, restarts, -1).flip(0).reshape(2 * restarts, -1))
    assert (kept.min(1).values > swapped.reshape(2, restarts).max(1).values).all()
    result = fit_map(post, 2, config)
    assert result.loss_trace.shape == (60 + 250 + config.lbfgs_iterations, 2, restarts)
    radius = constrained_numpy(post, result.best_theta)["einstein_radius"]
    np.testing.assert_allclose(radius, [1.5, 1.1], rtol=0.01)


def test_the_hmc_starts_at_the_map_in_a_posterior_with_another_whitening(tiny_system, default_prior):
    """The MAP's theta belongs to its own whitening; ``map_start`` gives the same point
    (same parameter values and log density) from the stored parameter values in a
    posterior whitened with another seed, where reading that theta as is lands elsewhere."""
    from types import SimpleNamespace

    from galprior.inference.map import NegativeLogPosterior
    from galprior.inference.mocks import map_start, parameter_matrix
    from galprior.lensing.simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES

    image, _, sim, decoder, prior = tiny_system
    posts = [FlatPosterior(image, 0.01, sim, decoder, prior, default_prior, seed=seed, n_whiten=256)
             for seed in (4, 5)]
    theta_map = posts[0].prior_draws(1)
    values = constrained_numpy(posts[0], theta_map.numpy())
    stored = SimpleNamespace(lens_parameters=parameter_matrix(values, LENS_PARAMETER_NAMES)[None],
                             source_parameters=parameter_matrix(values, SOURCE_PARAMETER_NAMES)[None],
                             latents=np.asarray(values["latent"])[None])
    start = map_start(posts[1], stored, 0, 0)
    again = constrained_numpy(posts[1], start[None].numpy())
    for name in ("einstein_radius", "axis_ratio", "position_angle", "slope", "latent"):
        np.testing.assert_allclose(again[name], values[name], rtol=1e-5, atol=1e-6)
    objectives = [NegativeLogPosterior(p, False) for p in posts]
    assert float(objectives[1](start[None])) == pytest.approx(float(objectives[0](theta_map)), rel=1e-5)
    assert not torch.allclose(start, theta_map[0], atol=1e-3)  # the two whitenings differ


def test_the_screen_fits_the_latent_only_when_asked(tiny_system, default_prior, map_config):
    """``screen_latent``: the screen's Adam moves z away from the prior mean (and reaches a
    higher screened log posterior on an image whose source is not the mean galaxy); with
    ``screen_latent=False`` z stays at the prior mean (whitened 0)."""
    from galprior.inference.map import _latent_mask, screened_starts

    image, truth, sim, decoder, prior = tiny_system
    obs, sigma = repeat_for_restarts(image, torch.tensor([0.01]), 2)
    post = FlatPosterior(obs, sigma, sim, decoder, prior, default_prior)
    latent = _latent_mask(post) == 0
    scores = {}
    for fit_latent in (True, False):
        config = map_config(n_restarts=2, n_candidates=8, screen_steps=40, screen_factor=2, screen_latent=fit_latent)
        torch.manual_seed(0)
        starts, _ = screened_starts(post, 1, config)
        moved = starts[:, latent].abs().max()
        assert (moved > 0.05) if fit_latent else (moved == 0)
        with torch.no_grad():
            scores[fit_latent] = post.coarsened(2).log_prob(starts).max()
    assert scores[True] > scores[False]
