"""Score network (NCSN++ against the reference's numbers and scipy), EMA, training loop (resume),
registry round trip, the prior's units and the resampling of its galaxies."""

import re

import numpy as np
import pytest
import torch

from galprior.models.registry import load_model, save_model
from galprior.data.preprocess import resample_mean
from galprior.models.ema import EMA
from galprior.models.score.loss import dsm_loss
from galprior.models.score.network import ScoreUNet
from galprior.models.score.products import network_architecture
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


def test_resample_mean_goes_down_by_block_means_and_up_without_inventing_detail():
    x = np.arange(16, dtype=np.float64).reshape(4, 4)
    np.testing.assert_allclose(resample_mean(x, 2), [[2.5, 4.5], [10.5, 12.5]])   # block means
    up = resample_mean(x, 8)
    np.testing.assert_allclose(up[::2, ::2], x)          # each pixel spread over the 2x2 it covers
    np.testing.assert_allclose(resample_mean(up, 4), x)  # and back
    ramp = np.tile(np.arange(6, dtype=np.float64), (6, 1))
    # a non-integer factor keeps the mean surface brightness of a linear ramp
    np.testing.assert_allclose(resample_mean(ramp, 4).mean(), ramp.mean())
    assert resample_mean(ramp, 5).shape == (5, 5)


# -- NCSN++ -----------------------------------------------------------------------------------

#: Parameters of score_sde_pytorch's NCSN++ (models/ncsnpp.py at yang-song/score_sde_pytorch) built
#: with configs/ve/celebahq_256_ncsnpp_continuous.py and one input channel: 65,541,895 trainable
#: plus the 128 frozen Fourier frequencies (counted by sum(p.numel() for p in model.parameters())).
REFERENCE_NCSNPP_256_PARAMETERS = 65_542_023


def test_the_paper_preset_network_has_the_reference_ncsnpp_parameter_count():
    from galprior.config import load_config
    from galprior.models.score.network import ScoreUNet

    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    config = load_config(root / "config" / "config.yaml", root / "config" / "presets" / "paper.yaml", check=False)
    adam = config["adam"]
    model = ScoreUNet(image_size=adam["source_size"], sigma_min=1e-4, sigma_max=263.4,
                      **network_architecture(adam["score_model"]["architecture"], train=None))
    assert sum(p.numel() for p in model.parameters()) == REFERENCE_NCSNPP_256_PARAMETERS
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == REFERENCE_NCSNPP_256_PARAMETERS - 128


def _scipy_upfirdn_2d(image, kernel, up, down, pad0):
    """The same filtering by scipy.signal.upfirdn (1-D, applied along both axes), cut where
    StyleGAN2's upfirdn2d with left padding pad0 starts: full output index n down + K - 1 - pad0."""
    from scipy.signal import upfirdn

    k = np.asarray(kernel, np.float64)
    k = k / k.sum() * (up if up > 1 else 1)
    n_out = image.shape[0] * up // down
    start = len(k) - 1 - pad0

    def one_axis(a):
        full = np.apply_along_axis(lambda v: upfirdn(k, v, up=up, down=1), 0, a)
        return full[start:start + n_out * down:down]

    return one_axis(one_axis(image).T).T


@pytest.mark.parametrize("kernel", [(1, 3, 3, 1), (1, 1)])
def test_fir_resampling_matches_scipy_upfirdn(kernel):
    from galprior.models.score.network import fir_downsample, fir_upsample

    image = np.random.default_rng(1).normal(size=(8, 8))
    x = torch.as_tensor(image)[None, None]
    p = len(kernel) - 2
    down = fir_downsample(x, kernel)[0, 0].numpy()
    up = fir_upsample(x, kernel)[0, 0].numpy()
    np.testing.assert_allclose(down, _scipy_upfirdn_2d(image, kernel, 1, 2, (p + 1) // 2), atol=1e-12)
    np.testing.assert_allclose(up, _scipy_upfirdn_2d(image, kernel, 2, 1, (p + 1) // 2 + 1), atol=1e-12)
    # a constant stays constant away from the zero-padded border
    ones = fir_downsample(torch.ones(1, 1, 8, 8, dtype=torch.float64), kernel)[0, 0]
    torch.testing.assert_close(ones[1:-1, 1:-1], torch.ones(2, 2, dtype=torch.float64))


def test_every_ncsnpp_path_runs_and_rejects_unknown_names(tiny_architecture):
    from galprior.models.score.network import ScoreUNet

    for options in ({}, {"fir": False, "progressive_input": "none", "progressive_output": "none",
                         "attention": False, "attention_resolutions": []}):
        model = ScoreUNet(image_size=16, sigma_min=0.01, sigma_max=3.0, **{**tiny_architecture, **options})
        x = torch.randn(2, 16, 16, requires_grad=True)
        model(x, torch.tensor([0.2, 0.8])).sum().backward()
        assert x.grad.shape == x.shape and torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="progressive_input"):
        ScoreUNet(image_size=16, sigma_min=0.01, sigma_max=3.0, **{**tiny_architecture, "progressive_input": "res"})
    with pytest.raises(ValueError, match="adam.normalisation: unknown scheme 'zscore'"):
        ScoreUNet(image_size=16, sigma_min=0.01, sigma_max=3.0, normalisation="zscore", **tiny_architecture)


# -- the prior's units ------------------------------------------------------------------------

def test_smith2022_maps_the_clip_range_to_minus_one_one_and_brightness_back():
    from galprior.data.score_normalisation import get_normalisation, normalise_image

    image = np.array([[-1.0, 0.0], [2.75, 9.0]])
    x = normalise_image(image, "smith2022", clip_level=5.5)
    np.testing.assert_allclose(x, [[-1.0, -1.0], [0.0, 1.0]])
    scheme = get_normalisation("smith2022")
    np.testing.assert_allclose(scheme.to_brightness(x), np.clip(image, 0, 5.5) / 5.5)   # s = (x + 1) / 2
    np.testing.assert_allclose(scheme.from_brightness(scheme.to_brightness(x)), x)
    unit = normalise_image(image, "unit_peak")
    np.testing.assert_allclose(unit, np.clip(image, 0, None) / 9.0)
    np.testing.assert_allclose(get_normalisation("unit_peak").to_brightness(unit), unit)


def test_only_images_beyond_unit_range_reach_the_papers_sigma_max():
    """Technique 1 at n = 256^2: unit-peak images are never more than sqrt(n) = 256 apart, so the
    paper's 263.4 needs a wider range, as smith2022's [-1, 1] (up to 512)."""
    from galprior.models.score.sde import largest_pairwise_distance

    n = 256
    empty, full = np.zeros((n, n)), np.ones((n, n))
    assert largest_pairwise_distance(np.stack([empty, full])) == pytest.approx(256.0)
    assert largest_pairwise_distance(np.stack([empty - 1, full])) == pytest.approx(512.0)


def _edm_model(tiny_architecture, sigma_data=0.3):
    torch.manual_seed(0)
    return ScoreUNet(image_size=8, sigma_min=1e-2, sigma_max=5.0, sigma_data=sigma_data,
                     **{**tiny_architecture, "input_scaling": False})


def test_edm_preconditioning_gives_the_gaussian_denoiser_when_the_network_outputs_zero(tiny_architecture):
    # data ~ N(0, sigma_d^2) per pixel: the exact score of the noised data is -x / (sigma^2 + sigma_d^2)
    # (closed form); EDM's c_skip alone (F = 0) is that denoiser, the eps parametrisation with F = 0 is not
    model = _edm_model({**tiny_architecture, "progressive_output": "none"})  # the last layer is the output conv
    for p in model.layers[-1].parameters():
        torch.nn.init.zeros_(p)
    x, t = torch.randn(3, 8, 8), torch.tensor([0.05, 0.5, 1.0])
    sigma = model.sde.sigma(t)[:, None, None]
    with torch.no_grad():
        assert torch.allclose(model.score(x, t), -x / (sigma**2 + 0.3**2), rtol=1e-5, atol=1e-6)


def test_edm_loss_weight_turns_eq3_into_edms_weighting(tiny_architecture):
    model = _edm_model(tiny_architecture)
    x, t = torch.rand(4, 8, 8), torch.tensor([0.0, 0.3, 0.7, 1.0])
    z = torch.randn(4, 8, 8)
    sigma = model.sde.sigma(t)
    with torch.no_grad():
        eps = model(x + sigma[:, None, None] * z, t)
        d = x + sigma[:, None, None] * z + sigma[:, None, None] * eps  # the denoised image
        # EDM: lambda(sigma) ||D - x||^2 with lambda = (sigma^2 + sigma_d^2) / (sigma sigma_d)^2
        edm = ((sigma**2 + 0.3**2) / (sigma * 0.3) ** 2 * ((d - x) ** 2).sum((1, 2))).mean()
        assert torch.allclose(dsm_loss(model, x, t, z), edm, rtol=1e-4)


def test_edm_refuses_input_scaling_and_the_config_sets_sigma_data_from_the_pixel_rms(tiny_architecture):
    with pytest.raises(ValueError, match="input_scaling"):
        ScoreUNet(image_size=8, sigma_min=1e-2, sigma_max=5.0, sigma_data=0.3, **tiny_architecture)
    images = np.full((5, 8, 8), 0.5)
    arguments = network_architecture({**tiny_architecture, "input_scaling": False, "preconditioning": "edm"}, images)
    assert arguments["sigma_data"] == pytest.approx(0.5) and "preconditioning" not in arguments
    assert "sigma_data" not in network_architecture({**tiny_architecture, "preconditioning": "none"}, images)
