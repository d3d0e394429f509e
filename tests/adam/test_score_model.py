"""Score network, EMA, training loop (resume), registry round trip, training-image preparation."""

import re

import numpy as np
import pytest
import torch

from galprior.models.registry import load_model, save_model
from galprior.models.score.data import pool_to
from galprior.models.ema import EMA
from galprior.models.score.training import ScoreTrainingConfig, fit_score_model, random_symmetry


def test_score_is_eps_over_sigma_and_survives_save_and_load(tiny_model, tmp_path):
    x, t = torch.randn(3, 8, 8), torch.tensor([0.0, 0.5, 1.0])
    with torch.no_grad():
        eps = tiny_model(x, t)
        score = tiny_model.score(x, t)
    assert eps.shape == x.shape
    torch.testing.assert_close(score, eps / tiny_model.sde.sigma(t)[:, None, None])
    save_model(tiny_model, tmp_path / "score")
    loaded = load_model(tmp_path / "score", family="score")
    assert loaded.hyperparameters == tiny_model.hyperparameters
    with torch.no_grad():
        torch.testing.assert_close(loaded.score(x, t), score)


def test_image_size_must_fit_the_resolutions(tiny_architecture):
    from galprior.models.score.network import ScoreUNet
    with pytest.raises(ValueError, match="not divisible"):
        ScoreUNet(image_size=6, sigma_min=0.01, sigma_max=1.0, **{**tiny_architecture,
                                                                  "channel_multipliers": [1, 2, 2]})


def test_ema_is_the_exponential_average_of_the_weights(tiny_model):
    ema = EMA(tiny_model, decay=0.9)
    ema.n_updates = 1000  # past the warm-up
    p = next(tiny_model.parameters())
    start = next(ema.shadow.parameters()).detach().clone()
    with torch.no_grad():
        p.add_(1.0)
    ema.update(tiny_model)
    torch.testing.assert_close(next(ema.shadow.parameters()), 0.9 * start + 0.1 * p.detach())


def test_random_symmetry_applies_an_element_of_d4():
    x = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 4, 4)
    y = random_symmetry(x, torch.Generator().manual_seed(3))
    for i in range(2):
        images = [torch.rot90(v, k, (-2, -1)) for v in (x[i], x[i].flip(-1)) for k in range(4)]
        assert any(torch.equal(y[i], im) for im in images)


def _config(steps):
    return ScoreTrainingConfig(steps=steps, batch_size=4, lr=1e-3, warmup_steps=2, grad_clip=1.0,
                               ema_decay=0.9, checkpoint_every=2, augment=True, n_validation=4)


def test_training_resumes_to_the_same_weights(tmp_path, tiny_architecture):
    rng = np.random.default_rng(0)
    train, val = rng.random((12, 8, 8)).astype(np.float32), rng.random((4, 8, 8)).astype(np.float32)
    straight, history = fit_score_model(train, val, tiny_architecture, 0.01, 3.0, _config(4), tmp_path / "a", seed=1)
    fit_score_model(train, val, tiny_architecture, 0.01, 3.0, _config(2), tmp_path / "b", seed=1)
    resumed, history_b = fit_score_model(train, val, tiny_architecture, 0.01, 3.0, _config(4), tmp_path / "b", seed=1)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert list(history["step"]) == [2, 4] and history.equals(history_b)
    assert np.isfinite(history[["train_loss", "val_loss", "val_loss_ema"]].to_numpy()).all()


def test_resuming_with_other_hyperparameters_or_seed_is_refused(tmp_path, tiny_architecture):
    """A finished checkpoint of another seed would otherwise stand in for this run's model."""
    rng = np.random.default_rng(0)
    train = rng.random((8, 8, 8)).astype(np.float32)
    fit_score_model(train, train, tiny_architecture, 0.01, 3.0, _config(2), tmp_path, seed=1)
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'last.pt'} was written with other training "
                                                   "settings")) as err:
        fit_score_model(train, train, {**tiny_architecture, "base_width": 8}, 0.01, 3.0, _config(4), tmp_path, seed=1)
    assert "hyperparameters: " in str(err.value) and "'base_width': 8" in str(err.value)
    with pytest.raises(ValueError, match="seed: 1, 2$"):
        fit_score_model(train, train, tiny_architecture, 0.01, 3.0, _config(2), tmp_path, seed=2)


def test_resuming_weights_that_do_not_fit_is_refused_naming_the_folder(tmp_path, tiny_architecture):
    """Same hyper-parameters and seed, weights of another version's network: a clear error."""
    train = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)
    fit_score_model(train, train, tiny_architecture, 0.01, 3.0, _config(2), tmp_path, seed=1)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    state["model"].pop(next(iter(state["model"])))
    torch.save(state, tmp_path / "last.pt")
    with pytest.raises(ValueError, match="does not fit this run") as err:
        fit_score_model(train, train, tiny_architecture, 0.01, 3.0, _config(4), tmp_path, seed=1)
    assert f"delete {tmp_path} to train from scratch" in str(err.value)


def test_pool_to_averages_blocks():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    np.testing.assert_allclose(pool_to(x, 2)[0], [[2.5, 4.5], [10.5, 12.5]])
    with pytest.raises(ValueError, match="adam.source_size"):
        pool_to(np.zeros((1, 6, 6)), 4)
