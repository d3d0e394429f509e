import math

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
    result = fit_map(post, 1, map_config(n_restarts=restarts, n_steps_lens=150, n_steps_all=250))
    assert result.theta.shape == (1, restarts, post.dim)
    assert result.loss_trace.shape == (400 + map_config().lbfgs_iterations, 1, restarts)
    # the L-BFGS stage never makes a restart worse than Adam left it
    assert (result.loss_trace[-1] <= result.loss_trace[399] + 1e-3 * abs(result.loss_trace[399])).all()
    best = constrained_numpy(post, result.best_theta)
    rel = abs(best["einstein_radius"][0] - 1.5) / 1.5
    assert rel < 0.01, best["einstein_radius"]
    assert abs(best["position_angle"][0] - 0.6) < 0.05
