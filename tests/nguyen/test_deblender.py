"""The deblender networks and its three training stages, with tiny data for a step or two."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galprior.models.deblender.evaluation import flow_map_latents, flow_posterior_samples, reconstruction_ellipticity
from galprior.models.deblender.network import DeblenderVAE, EllipticityRegressor, beta_vae_loss, kl_divergence
from galprior.models.deblender.training import StageSettings, encode_means, fit_latent_flow, pairs, train_stage1, train_stage2, train_stage3
from galprior.models.registry import load_model, save_model

CPU = torch.device("cpu")


def _settings(epochs: int) -> StageSettings:
    return StageSettings(epochs=epochs, batch_size=4, learning_rate=1e-3, patience=10, seed=0)


def _data(n: int = 8, bands: int = 3):
    rng = np.random.default_rng(0)
    clean = rng.uniform(0, 1, size=(n, bands, 45, 45)).astype(np.float32)
    return clean + rng.normal(0, 0.1, clean.shape).astype(np.float32), clean


def test_architecture_shapes():
    vae = DeblenderVAE(bands=6, stamp_pixels=45, latent_dim=16)
    x = torch.rand(2, 6, 45, 45)
    recon, mu, log_var = vae(x)
    assert recon.shape == x.shape and mu.shape == (2, 16)
    assert torch.all((recon >= 0) & (recon <= 1))
    convs = [m for m in vae.encoder.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256] and all(c.stride == (2, 2) and c.kernel_size == (3, 3) for c in convs)
    regressor = EllipticityRegressor(latent_dim=16, dropout=0.1)
    assert [m.out_features for m in regressor.net if isinstance(m, torch.nn.Linear)] == [128, 64, 32, 2]
    assert torch.all(regressor(torch.randn(5, 16) * 100).abs() <= 1)


def test_kl_matches_torch_distributions():
    mu, log_var = torch.randn(4, 8), torch.randn(4, 8)
    q = torch.distributions.Normal(mu, (0.5 * log_var).exp())
    p = torch.distributions.Normal(torch.zeros(8), torch.ones(8))
    torch.testing.assert_close(kl_divergence(mu, log_var), torch.distributions.kl_divergence(q, p).sum(-1))
    loss, mse, kl = beta_vae_loss(torch.zeros(4, 1, 2, 2), torch.ones(4, 1, 2, 2), mu, log_var, beta=0.5)
    torch.testing.assert_close(loss, mse + 0.5 * kl)
    assert torch.all(mse == 4)


def test_three_stages_run_freeze_and_resume(tmp_path):
    noisy, clean = _data()
    vae1, history = train_stage1(pairs(noisy, clean), pairs(noisy, clean), latent_dim=4, beta=1e-3, settings=_settings(2),
                                 checkpoint_dir=tmp_path / "t1", device=CPU, progress=False)
    assert len(history) == 2 and {"train_loss", "val_loss", "val_mse", "val_kl"} <= set(history[0])
    vae2, _ = train_stage2(vae1, pairs(noisy, clean), pairs(noisy, clean), beta=1e-3, settings=_settings(1),
                           checkpoint_dir=tmp_path / "t2", device=CPU, progress=False)
    for p1, p2 in zip(vae1.decoder.parameters(), vae2.decoder.parameters()):
        torch.testing.assert_close(p1, p2)  # decoder frozen
        assert not p2.requires_grad
    assert any(not torch.equal(a, b) for a, b in zip(vae1.encoder.parameters(), vae2.encoder.parameters()))
    mu, _ = encode_means(vae2, noisy, 4, CPU)
    e = np.random.default_rng(1).uniform(-0.5, 0.5, (len(mu), 2)).astype(np.float32)
    regressor, history3 = train_stage3(mu, e, mu, e, dropout=0.1, settings=_settings(2),
                                       checkpoint_dir=tmp_path / "t3", device=CPU, progress=False)
    assert len(history3) == 2
    # save/load through the registry
    save_model(vae2, tmp_path / "model")
    again = load_model(tmp_path / "model", family="nguyen_vae")
    torch.testing.assert_close(again.encode(torch.as_tensor(noisy))[0], vae2.encode(torch.as_tensor(noisy))[0])


def test_stage1_resume_equals_uninterrupted(tmp_path):
    noisy, clean = _data()
    straight, _ = train_stage1(pairs(noisy, clean), pairs(noisy, clean), latent_dim=4, beta=1e-3, settings=_settings(2),
                               checkpoint_dir=tmp_path / "a", device=CPU, progress=False)
    train_stage1(pairs(noisy, clean), pairs(noisy, clean), latent_dim=4, beta=1e-3, settings=_settings(1),
                 checkpoint_dir=tmp_path / "b", device=CPU, progress=False)
    # a new process would resume from last.pt with the full epoch count; settings must match
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    ck["settings"]["epochs"] = 2
    torch.save(ck, tmp_path / "b" / "last.pt")
    resumed, history = train_stage1(pairs(noisy, clean), pairs(noisy, clean), latent_dim=4, beta=1e-3, settings=_settings(2),
                                    checkpoint_dir=tmp_path / "b", device=CPU, progress=False)
    assert len(history) == 2
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_latent_flow_and_prior_swap(tmp_path):
    rng = np.random.default_rng(0)
    z = (rng.normal(size=(256, 3)) * [2.0, 0.5, 1.0] + [1.0, 0.0, -1.0]).astype(np.float32)
    flow, history = fit_latent_flow(z, z, transforms=2, hidden_features=16, settings=StageSettings(epochs=30, batch_size=64, learning_rate=1e-2, patience=30, seed=0),
                                    checkpoint_dir=tmp_path / "flow", device=CPU, progress=False)
    assert history[-1]["val_nll"] < history[0]["val_nll"]
    # a fitted flow approaches the data's Gaussian log-density
    exact = torch.distributions.Normal(torch.tensor([1.0, 0.0, -1.0]), torch.tensor([2.0, 0.5, 1.0])).log_prob(torch.as_tensor(z)).sum(-1).mean()
    assert flow.log_prob(torch.as_tensor(z)).mean().item() == pytest.approx(exact.item(), abs=0.3)
    mu = z[:5]
    tight = np.full_like(mu, -12.0)  # σ ~ 0.0025: the likelihood dominates, MAP stays at μ
    np.testing.assert_allclose(flow_map_latents(flow, mu, tight, steps=50, learning_rate=1e-3, device=CPU), mu, atol=5e-3)
    samples = flow_posterior_samples(flow, mu, np.zeros_like(mu), n_proposals=16, seed=0, device=CPU)
    assert samples.shape == mu.shape and np.all(np.isfinite(samples))


def test_reconstruction_ellipticity_measures_the_denormalised_band():
    from galprior.data.blends import normalise
    y, x = np.mgrid[0:45, 0:45] - 22.0
    galaxy = 1000 * np.exp(-0.5 * (x**2 / 16 + y**2 / 4))
    images = np.zeros((1, 2, 45, 45))
    images[0, 1] = galaxy
    scale = np.array([1.0, 1000.0])
    e = reconstruction_ellipticity(normalise(images, scale, 2.5), scale, 2.5, band_index=1)
    np.testing.assert_allclose(e, [[(16 - 4) / (16 + 4), 0.0]], atol=1e-3)


def test_output_bias_starts_at_the_mean_target():
    torch.manual_seed(0)
    vae = DeblenderVAE(bands=6, stamp_pixels=45, latent_dim=8)
    vae.init_output_bias(0.02)
    out = vae.decode(torch.randn(16, 8))
    assert 0.005 < out.median().item() < 0.06
