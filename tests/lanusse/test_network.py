"""The Flow-VAE network and its training: shapes, aids, one step, resumable checkpoints."""

import numpy as np
import pytest
import torch

from galprior.models import checkpoint
from galprior.models.flowvae import FlowVAE
from galprior.models.flowvae.training import (VAETrainingSettings, aid_strength,
                                              fit_flow_vae, galaxy_tensors, sqrt_decay)
from galprior.models.registry import load_model, save_model


def _model(architecture, size=32):
    torch.manual_seed(0)
    return FlowVAE(image_size=size, **architecture)


def _settings(defaults, **changes):
    return VAETrainingSettings(**{**defaults["vae"]["training"], "batch_size": 4, **changes})


def test_decoder_is_positive_and_sized(tiny_architecture):
    model = _model(tiny_architecture)
    profiles = model.decode(torch.randn(3, tiny_architecture["latent_dim"]))
    assert profiles.shape == (3, 32, 32) and bool((profiles > 0).all())


def test_image_size_must_halve_n_stages_times(tiny_architecture):
    with pytest.raises(ValueError, match="not divisible"):
        FlowVAE(image_size=30, **tiny_architecture)


def test_encoder_sees_the_psf(tiny_architecture, simulated_stamps):
    images, psf, *_ = simulated_stamps
    model = _model(tiny_architecture)
    x, p = torch.tensor(images[:2]), torch.tensor(psf[:2])
    wide = torch.nn.functional.avg_pool2d(p[:, None], 3, 1, 1)[:, 0]
    assert not torch.allclose(model.encode(x, p)[0], model.encode(x, wide)[0])


def test_transverse_connections_change_the_decoder_output(tiny_architecture, simulated_stamps):
    images, psf, power, *_ = simulated_stamps
    model = _model(tiny_architecture)
    x, p = torch.tensor(images[:2]), torch.tensor(psf[:2])
    features, skips = model.encode_features(x, p)
    plain = model.decode_features(features)
    with_skips = model.decode_features(features, skips, 1.0)
    assert not torch.allclose(plain, with_skips)


def test_adafactor_moves_every_weight_of_the_residual_blocks(tiny_architecture, simulated_stamps):
    """Adafactor steps are relative to each tensor's RMS (floor 1e-3): a tensor that starts
    at zero would move by ~1e-3 x lr per step, leaving its residual block the identity.
    Every tensor must move by a sizeable fraction of its own scale in a few steps."""
    from galprior.models.flowvae.training import make_optimizer

    images, psf, power, *_ = simulated_stamps
    model = _model(tiny_architecture)
    x, p, n = torch.tensor(images[:6]), torch.tensor(psf[:6]), torch.tensor(power[:6])
    before = {name: w.detach().clone() for name, w in model.named_parameters()}
    optimizer = make_optimizer("adafactor", model.parameters(), 0.1)
    for _ in range(5):
        optimizer.zero_grad()
        model.loss(x, p, n, generator=torch.Generator().manual_seed(0))["loss"].mean().backward()
        optimizer.step()
    for name, w in model.named_parameters():
        if "blocks" in name and name.endswith("weight"):
            moved = (w.detach() - before[name]).pow(2).mean().sqrt()
            scale = before[name].pow(2).mean().sqrt()
            assert moved > 0.05 * scale > 0, name


def test_schedules():
    assert sqrt_decay(10, 1e-3, 100) == 1e-3
    assert sqrt_decay(400, 1e-3, 100) == pytest.approx(5e-4)
    assert aid_strength(0, 100, 0.5, 0.5) == 0.5
    assert aid_strength(25, 100, 0.5, 0.5) == pytest.approx(0.25)
    assert aid_strength(60, 100, 0.5, 0.5) == 0.0


def test_one_training_step_lowers_the_loss(tiny_architecture, simulated_stamps):
    images, psf, power, *_ = simulated_stamps
    model = _model(tiny_architecture)
    x, p, n = torch.tensor(images[:6]), torch.tensor(psf[:6]), torch.tensor(power[:6])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = model.loss(x, p, n, generator=torch.Generator().manual_seed(0))["loss"].mean()
    for _ in range(3):
        optimizer.zero_grad()
        model.loss(x, p, n, generator=torch.Generator().manual_seed(0))["loss"].mean().backward()
        optimizer.step()
    after = model.loss(x, p, n, generator=torch.Generator().manual_seed(0))["loss"].mean()
    assert after < before


@pytest.fixture
def train_and_val(simulated_stamps):
    """Eight training and the remaining validation stamps, cropped to 32^2."""
    images, psf, power, conditions, _ = simulated_stamps
    return (galaxy_tensors(images[:8], psf[:8], power[:8], conditions[:8], 32),
            galaxy_tensors(images[8:], psf[8:], power[8:], conditions[8:], 32))


def _killed_after(epochs, monkeypatch, model, data, val, settings, checkpoint_dir):
    """Run ``fit_flow_vae`` until the job is killed before writing epoch ``epochs + 1``."""
    save = checkpoint.save_checkpoint
    calls = []

    def killed(directory, state):
        calls.append(state["epoch"])
        if len(calls) > epochs:
            raise KeyboardInterrupt
        return save(directory, state)

    monkeypatch.setattr(checkpoint, "save_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        fit_flow_vae(model, data, val, settings, checkpoint_dir=checkpoint_dir,
                     device=torch.device("cpu"), seed=1, progress=False)
    monkeypatch.setattr(checkpoint, "save_checkpoint", save)


def test_resumed_training_equals_uninterrupted(tmp_path, monkeypatch, defaults,
                                               tiny_architecture, train_and_val):
    data, val = train_and_val
    straight = _model(tiny_architecture)
    fit_flow_vae(straight, data, val, _settings(defaults, epochs=2), checkpoint_dir=tmp_path / "a",
                 device=torch.device("cpu"), seed=1, progress=False)
    _killed_after(1, monkeypatch, _model(tiny_architecture), data, val,
                  _settings(defaults, epochs=2), tmp_path / "b")
    torch.manual_seed(123)  # the resumed run must not depend on the global RNG state
    resumed = _model(tiny_architecture)
    history = fit_flow_vae(resumed, data, val, _settings(defaults, epochs=2),
                           checkpoint_dir=tmp_path / "b", device=torch.device("cpu"), seed=1,
                           progress=False)
    assert [row["epoch"] for row in history] == [1, 2]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("keep", ["last", "best"])
def test_the_run_keeps_the_weights_it_is_told_to(tmp_path, defaults, tiny_architecture,
                                                 train_and_val, keep):
    data, val = train_and_val
    model = _model(tiny_architecture)
    history = fit_flow_vae(model, data, val, _settings(defaults, epochs=4, keep=keep),
                           checkpoint_dir=tmp_path, device=torch.device("cpu"), seed=1,
                           progress=False)
    best_epoch = int(np.argmin([row["val_loss"] for row in history])) + 1
    saved = torch.load(tmp_path / ("last.pt" if keep == "last" else "best.pt"),
                       weights_only=False)
    assert saved["epoch"] == (4 if keep == "last" else best_epoch)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, saved["model"][name])


def test_ema_weights_are_the_moving_average_and_survive_a_resume(tmp_path, monkeypatch, defaults,
                                                                 tiny_architecture, train_and_val):
    data, val = train_and_val
    settings = _settings(defaults, epochs=3, keep="ema", ema_decay=0.5)
    straight = _model(tiny_architecture)
    fit_flow_vae(straight, data, val, settings, checkpoint_dir=tmp_path / "a",
                 device=torch.device("cpu"), seed=1, progress=False)
    last = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    shadow = last["ema"]["shadow"]
    assert last["ema"]["n_updates"] == 3 * 2  # 8 galaxies in batches of 4
    moved = False
    for name, value in straight.state_dict().items():
        torch.testing.assert_close(value, shadow[name])
        moved |= not torch.equal(value, last["model"][name])
    assert moved  # the average is not the last weights
    _killed_after(2, monkeypatch, _model(tiny_architecture), data, val, settings, tmp_path / "b")
    resumed = _model(tiny_architecture)
    fit_flow_vae(resumed, data, val, settings, checkpoint_dir=tmp_path / "b",
                 device=torch.device("cpu"), seed=1, progress=False)
    rerun = _model(tiny_architecture)  # a complete checkpoint: no epoch left to run
    fit_flow_vae(rerun, data, val, settings, checkpoint_dir=tmp_path / "b",
                 device=torch.device("cpu"), seed=1, progress=False)
    for model in (resumed, rerun):
        for a, b in zip(straight.state_dict().values(), model.state_dict().values()):
            torch.testing.assert_close(a, b)


def test_keep_must_be_last_best_or_ema(defaults, tiny_architecture, simulated_stamps):
    images, psf, power, conditions, _ = simulated_stamps
    data = galaxy_tensors(images[:4], psf[:4], power[:4], conditions[:4], 32)
    with pytest.raises(ValueError, match="keep 'median' is not one of"):
        fit_flow_vae(_model(tiny_architecture), data, data, _settings(defaults, keep="median"),
                     checkpoint_dir="unused", device=torch.device("cpu"), seed=1)


def test_save_and_load_through_the_registry(tmp_path, tiny_architecture):
    model = _model(tiny_architecture)
    save_model(model, tmp_path / "m")
    back = load_model(tmp_path / "m", family="flowvae")
    z = torch.randn(2, tiny_architecture["latent_dim"])
    torch.testing.assert_close(back.decode(z), model.eval().decode(z))


def test_galaxy_tensors_crop_the_centre(simulated_stamps):
    images, psf, power, conditions, _ = simulated_stamps
    data = galaxy_tensors(images, psf, power, conditions, 16)
    np.testing.assert_array_equal(data.images.numpy(), images[:, 8:24, 8:24])
    np.testing.assert_allclose(data.noise_power.numpy(), power[:, :16, :16] / 4, rtol=1e-5)
    with pytest.raises(ValueError, match="smaller than image_size"):
        galaxy_tensors(images, psf, power, conditions, 64)


def test_the_loss_reduces_the_kl_as_configured(tiny_architecture, simulated_stamps):
    """Same weights and noise draws: the two readings of eq. 10 differ by exactly
    max(lambda, KL) - max(lambda, KL / D) per galaxy (D = latent_dim)."""
    from galprior.models.flowvae import likelihood as lk

    images, psf, power, *_ = simulated_stamps
    x, p, n = (torch.tensor(a[:6], dtype=torch.float64) for a in (images, psf, power))
    terms, lam = {}, 0.05  # the initial KL per galaxy is ~0.1 nat: both sides of lambda
    for reduction in ("sum", "mean"):
        model = _model({**tiny_architecture, "kl_reduction": reduction, "free_bits": lam}).double()
        terms[reduction] = model.loss(x, p, n, generator=torch.Generator().manual_seed(0))
    kl = terms["sum"]["kl"]
    torch.testing.assert_close(terms["mean"]["kl"], kl)  # the recorded KL is always the sum
    expected = kl.clamp(min=lam) - (kl / tiny_architecture["latent_dim"]).clamp(min=lam)
    torch.testing.assert_close(terms["sum"]["loss"] - terms["mean"]["loss"], expected)
    assert bool((expected != 0).any())
    with pytest.raises(ValueError, match="kl_reduction 'median' is not one of"):
        _model({**tiny_architecture, "kl_reduction": "median"})
    assert lk.KL_REDUCTIONS == ("sum", "mean")


def test_the_pixel_likelihood_uses_each_galaxys_pixel_variance(tiny_architecture, simulated_stamps):
    """likelihood: pixel (eq. 4, the paper's results): -1/2 sum r^2 / s_i^2 with s_i^2 the
    pixel variance of galaxy i's noise power spectrum (mean(P) / N)."""
    from galprior.models.flowvae import likelihood as lk

    images, psf, power, *_ = simulated_stamps
    x, p = torch.tensor(images[:3]), torch.tensor(psf[:3])
    n = torch.tensor(power[:3]) * torch.tensor([1.0, 4.0, 0.25])[:, None, None]
    model = _model({**tiny_architecture, "likelihood": "pixel"})
    terms = model.loss(x, p, n, generator=torch.Generator().manual_seed(0))
    residual = x - lk.convolve_psf(terms["model"], p)
    variance = n.mean((-1, -2)) / 32**2
    torch.testing.assert_close(terms["log_likelihood"],
                               -0.5 * (residual**2).sum((-1, -2)) / variance)


def _optimizer_steps(checkpoint_dir):
    state = torch.load(checkpoint_dir / "last.pt", weights_only=False)["optimizer"]["state"]
    return {int(s["step"]) for s in state.values()}


def test_a_fixed_step_run_takes_exactly_that_many_steps_without_early_stopping(
        tmp_path, monkeypatch, defaults, tiny_architecture, train_and_val):
    """steps: 5 with 8 galaxies in batches of 4: passes of 2, 2 and 1 steps; a validation
    loss that only rises would stop a patience-1 run after two passes, not this one."""
    from galprior.models.flowvae import training

    data, val = train_and_val
    rising = iter(range(100))
    monkeypatch.setattr(training, "evaluate_vae",
                        lambda *a, **k: {"loss": float(next(rising)), "log_likelihood": 0.0, "kl": 0.0})
    model = _model(tiny_architecture)
    history = fit_flow_vae(model, data, val, _settings(defaults, steps=5, epochs=1, patience=1),
                           checkpoint_dir=tmp_path / "steps", device=torch.device("cpu"), seed=1,
                           progress=False)
    assert [row["step"] for row in history] == [2, 4, 5]
    assert _optimizer_steps(tmp_path / "steps") == {5}
    rising = iter(range(100))
    stopped = fit_flow_vae(_model(tiny_architecture), data, val,
                           _settings(defaults, steps=None, epochs=4, patience=1),
                           checkpoint_dir=tmp_path / "epochs", device=torch.device("cpu"),
                           seed=1, progress=False)
    assert [row["step"] for row in stopped] == [2, 4]  # early stopping, for contrast


def _killed_at_step(step, monkeypatch, run):
    """Run ``run()`` until the job is killed at the start of optimiser step ``step``
    (0-based; every step sets its learning rate through ``sqrt_decay`` first)."""
    from galprior.models.flowvae import training

    decay = training.sqrt_decay
    calls = []

    def killed(*args):
        calls.append(args)
        if len(calls) > step:
            raise KeyboardInterrupt
        return decay(*args)

    monkeypatch.setattr(training, "sqrt_decay", killed)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(training, "sqrt_decay", decay)


@pytest.mark.parametrize("kill_at", [1, 3, 4])
def test_a_fixed_step_run_killed_at_any_step_resumes_to_the_same_weights(
        tmp_path, monkeypatch, defaults, tiny_architecture, train_and_val, kill_at):
    data, val = train_and_val
    settings = _settings(defaults, steps=5, keep="last")
    straight = _model(tiny_architecture)
    fit_flow_vae(straight, data, val, settings, checkpoint_dir=tmp_path / "a",
                 device=torch.device("cpu"), seed=1, progress=False)

    def run(model):
        return fit_flow_vae(model, data, val, settings, checkpoint_dir=tmp_path / "b",
                            device=torch.device("cpu"), seed=1, progress=False)

    from galprior.models.flowvae import training

    _killed_at_step(kill_at, monkeypatch, lambda: run(_model(tiny_architecture)))
    torch.manual_seed(123)  # the resumed run must not depend on the global RNG state
    resumed = _model(tiny_architecture)
    decay, calls = training.sqrt_decay, []
    monkeypatch.setattr(training, "sqrt_decay", lambda *args: calls.append(args) or decay(*args))
    history = run(resumed)
    assert len(calls) == 5 - 2 * (kill_at // 2)  # from the last finished pass, not from scratch
    assert [row["step"] for row in history] == [2, 4, 5]
    assert _optimizer_steps(tmp_path / "b") == {5}
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_the_paper_preset_builds_the_paper_size_model_and_its_settings():
    """config/presets/paper.yaml: a 128^2, 7-stage, 512-deep VAE (Table 1) with its
    training settings (125,000 steps) and the flow's (50,000 steps), as the rules build them."""
    from galprior.models.flowvae.training import FlowTrainingSettings, as_settings, planned_passes
    from galprior.paper_settings import paper_config

    lanusse = paper_config()["lanusse"]
    model = FlowVAE(image_size=lanusse["image_size"], **lanusse["vae"]["architecture"])
    assert model.bottom == 1 and model.hyperparameters["kl_reduction"] == "mean"
    assert model.to_posterior.in_features == 512 and model.likelihood == "pixel"
    vae = as_settings(VAETrainingSettings, lanusse["vae"]["training"])
    flow = as_settings(FlowTrainingSettings, lanusse["flow"]["training"])
    assert (vae.steps, vae.batch_size, vae.keep, flow.steps) == (125000, 64, "last", 50000)
    assert planned_passes(vae.steps, vae.epochs, 80000 // 64) == 100  # 125,000 steps of 64 on 80,000
