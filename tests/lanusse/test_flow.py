"""The conditional latent MAF (zuko): orders, normalisation, conditional fit, registry."""

import numpy as np
import pytest
import torch

from galprior.models.flowvae import LatentFlow
from galprior.models.flowvae.flow import stage_orders
from galprior.models.flowvae.training import FlowTrainingSettings, LatentPosteriors, fit_latent_flow
from galprior.models.registry import load_model, save_model


def test_stage_orders_alternate_shuffles_and_reversals():
    orders = stage_orders(6, 5, seed=0)
    assert orders[0].tolist() == list(range(6))
    assert sorted(orders[1].tolist()) == list(range(6)) and orders[1].tolist() != list(range(6))
    assert orders[2].tolist() == orders[1].flip(0).tolist()
    assert orders[4].tolist() == orders[3].flip(0).tolist()


def test_density_integrates_to_one_with_standardisation():
    torch.manual_seed(0)
    flow = LatentFlow(latent_dim=2, n_conditions=1, n_transforms=2, hidden_features=8, seed=0)
    flow.set_standardisation(torch.randn(50, 2) * torch.tensor([3.0, 0.5]) + 2.0,
                             torch.randn(50, 1))
    grid = torch.linspace(-12, 16, 281)
    zz = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        density = flow.log_prob(zz, torch.full((len(zz), 1), 0.3)).exp()
    cell = (grid[1] - grid[0]) ** 2
    assert (density.sum() * cell).item() == pytest.approx(1.0, abs=0.02)


def test_conditional_fit_tracks_the_condition(tmp_path, defaults):
    torch.manual_seed(0)
    y = torch.rand(600, 1) * 4 - 2
    z = torch.cat([2 * y + 0.1 * torch.randn(600, 1), torch.randn(600, 1)], dim=1)
    flow = LatentFlow(latent_dim=2, n_conditions=1, n_transforms=2, hidden_features=16, seed=0)
    settings = FlowTrainingSettings(**{**defaults["flow"]["training"], "epochs": 30,
                                       "batch_size": 100, "learning_rate": 1e-2})
    fit_latent_flow(flow, LatentPosteriors(z[:500], torch.zeros(500, 2)), y[:500],
                    LatentPosteriors(z[500:], torch.zeros(100, 2)), y[500:], settings,
                    checkpoint_dir=tmp_path, device=torch.device("cpu"), seed=0, progress=False)
    for value in (-1.5, 1.0):
        with torch.random.fork_rng():
            torch.manual_seed(1)
            draws = flow.sample(torch.full((400, 1), value))
        assert draws[:, 0].mean().item() == pytest.approx(2 * value, abs=0.25)
        assert draws[:, 1].std().item() == pytest.approx(1.0, abs=0.2)
    save_model(flow, tmp_path / "flow")
    back = load_model(tmp_path / "flow", family="latent_flow")
    torch.testing.assert_close(back.log_prob(z[:5], y[:5]), flow.log_prob(z[:5], y[:5]))
    assert np.isfinite(back.latent_std.numpy()).all()


def test_flow_learns_the_aggregate_posterior_not_the_means(tmp_path, defaults):
    # Means ~ N(0, 1) with posterior std 1: the aggregate posterior is N(0, 2). A flow
    # fitted to the means alone would give draws of std 1; sec. 4.2.2 asks for samples.
    torch.manual_seed(0)
    mean = torch.randn(1200, 1)
    y = torch.rand(1200, 1)
    flow = LatentFlow(latent_dim=1, n_conditions=1, n_transforms=1, hidden_features=8, seed=0)
    settings = FlowTrainingSettings(**{**defaults["flow"]["training"], "epochs": 40,
                                       "batch_size": 200, "learning_rate": 1e-2})
    fit_latent_flow(flow, LatentPosteriors(mean[:1000], torch.ones(1000, 1)), y[:1000],
                    LatentPosteriors(mean[1000:], torch.ones(200, 1)), y[1000:], settings,
                    checkpoint_dir=tmp_path, device=torch.device("cpu"), seed=0, progress=False)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        draws = flow.sample(torch.rand(4000, 1))
    assert draws.std().item() == pytest.approx(2 ** 0.5, abs=0.12)


def test_flow_on_the_means_learns_the_means(tmp_path, defaults):
    # latents: means (the authors' code): the same posteriors as above give a flow of std 1
    torch.manual_seed(0)
    mean = torch.randn(1200, 1)
    y = torch.rand(1200, 1)
    flow = LatentFlow(latent_dim=1, n_conditions=1, n_transforms=1, hidden_features=8, seed=0)
    settings = FlowTrainingSettings(**{**defaults["flow"]["training"], "epochs": 40,
                                       "batch_size": 200, "learning_rate": 1e-2, "latents": "means"})
    fit_latent_flow(flow, LatentPosteriors(mean[:1000], torch.ones(1000, 1)), y[:1000],
                    LatentPosteriors(mean[1000:], torch.ones(200, 1)), y[1000:], settings,
                    checkpoint_dir=tmp_path, device=torch.device("cpu"), seed=0, progress=False)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        draws = flow.sample(torch.rand(4000, 1))
    assert draws.std().item() == pytest.approx(1.0, abs=0.08)
    with pytest.raises(ValueError, match="latents 'modes' is not one of"):
        fit_latent_flow(flow, LatentPosteriors(mean, torch.ones(1200, 1)), y,
                        LatentPosteriors(mean, torch.ones(1200, 1)), y,
                        FlowTrainingSettings(**{**settings.__dict__, "latents": "modes"}),
                        checkpoint_dir=tmp_path / "x", device=torch.device("cpu"), seed=0)


def test_a_fixed_step_flow_fit_takes_exactly_that_many_steps_and_resumes(tmp_path, monkeypatch,
                                                                        defaults):
    """steps: 12 with 50 latents in batches of 20: passes of 3, 3, 3, 3 steps; killed at the
    start of step 7 (mid third pass) and resumed, it ends with the weights of a straight run."""
    from galprior.models.flowvae import training

    torch.manual_seed(0)
    # two training modes at +-3 and validation latents between them, a large step: the
    # validation log-likelihood peaks before the last pass
    z = torch.cat([3 * torch.sign(torch.randn(50, 2)), torch.zeros(10, 2)]) + 0.3 * torch.randn(60, 2)
    y = torch.rand(60, 1)
    train_q = LatentPosteriors(z[:50], 0.1 * torch.ones(50, 2))
    val_q = LatentPosteriors(z[50:], torch.zeros(10, 2))
    settings = FlowTrainingSettings(**{**defaults["flow"]["training"], "steps": 12, "epochs": 1,
                                       "patience": 1, "batch_size": 20, "learning_rate": 3e-2})

    def fit(directory):
        torch.manual_seed(0)  # the initial weights (the products seed them the same way)
        flow = LatentFlow(latent_dim=2, n_conditions=1, n_transforms=2, hidden_features=8, seed=0)
        history = fit_latent_flow(flow, train_q, y[:50], val_q, y[50:], settings,
                                  checkpoint_dir=directory, device=torch.device("cpu"), seed=0,
                                  progress=False)
        return flow, history

    straight, history = fit(tmp_path / "a")
    assert [row["step"] for row in history] == [3, 6, 9, 12]
    last = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    assert {int(s["step"]) for s in last["optimizer"]["state"].values()} == {12}
    for name, value in straight.state_dict().items():  # the last weights, not the best pass's
        torch.testing.assert_close(value, last["model"][name])
    best = torch.load(tmp_path / "a" / "best.pt", weights_only=False)
    assert best["epoch"] < 4 == len(history)

    decay, calls = training.sqrt_decay, []

    def killed(*args):
        calls.append(args)
        if len(calls) > 7:
            raise KeyboardInterrupt
        return decay(*args)

    monkeypatch.setattr(training, "sqrt_decay", killed)
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "b")
    calls.clear()
    monkeypatch.setattr(training, "sqrt_decay", lambda *args: calls.append(args) or decay(*args))
    resumed, history = fit(tmp_path / "b")
    assert len(calls) == 6  # resumed after the second pass, not from scratch
    assert [row["step"] for row in history] == [3, 6, 9, 12]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)
