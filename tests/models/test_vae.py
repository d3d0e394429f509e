import math

import pytest
import torch

from galprior.config import schema_defaults
from galprior.models import MODELS
from galprior.models.vae import VAE
from galprior.models.vae.network import elbo, gaussian_log_likelihood, kl_to_standard_normal

ARCH = schema_defaults()["chianese"]["vae"]["architecture"]


@pytest.mark.parametrize("image_size, n_convs", [(16, 2), (64, 4)])
def test_shapes_and_output_range(image_size, n_convs):
    torch.manual_seed(0)
    model = VAE(**{**ARCH, "image_size": image_size, "latent_dim": 6, "base_width": 2})
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == n_convs + 1  # the stride-2 blocks and the 4 x 4 -> 1 x 1 convolution
    x = torch.rand(3, 1, image_size, image_size)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 6)
    x_hat = model.decode(10 * torch.randn(3, 6))
    assert x_hat.shape == x.shape
    assert x_hat.abs().max() < 1.0
    assert model.elbo(x).shape == (3,)


def test_hyperparameters_rebuild_the_network():
    model = VAE(**{**ARCH, "image_size": 16, "latent_dim": 5, "base_width": 3, "decoder_sigma": 0.1})
    clone = VAE(**model.hyperparameters)
    assert clone.hyperparameters == model.hyperparameters
    assert [p.shape for p in clone.parameters()] == [p.shape for p in model.parameters()]
    assert MODELS["vae"] is VAE


def test_bad_image_size():
    with pytest.raises(ValueError, match="image_size"):
        VAE(**{**ARCH, "image_size": 48})


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


def _paper_architecture() -> dict:
    """The VAE architecture of config/presets/paper.yaml over the schema defaults."""
    from pathlib import Path

    import yaml

    preset = yaml.safe_load((Path(__file__).parents[2] / "config" / "presets" / "paper.yaml").read_text())
    return {**ARCH, **preset["chianese"]["vae"]["architecture"]}


def _describe(module: torch.nn.Module) -> str:
    """One layer in the notation of Tables D1/D2 (pytorch arguments)."""
    if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        assert module.bias is None, f"{module} has a bias: 'all convolutions are unbiased'"
        return (f"{type(module).__name__}({module.in_channels}, {module.out_channels}, {module.kernel_size[0]}, "
                f"{module.stride[0]}, {module.padding[0]})")
    if isinstance(module, torch.nn.BatchNorm2d):
        return f"BatchNorm2d({module.num_features})"
    if isinstance(module, torch.nn.LeakyReLU):
        return f"LeakyReLU({module.negative_slope})"
    if isinstance(module, torch.nn.Linear):
        return f"Linear({module.in_features}, {module.out_features})"
    return type(module).__name__


TABLE_D1 = [  # Chianese et al. 2020, Table D1 (the encoder)
    "Conv2d(1, 64, 4, 2, 1)", "LeakyReLU(0.2)",
    "Conv2d(64, 128, 4, 2, 1)", "BatchNorm2d(128)", "LeakyReLU(0.2)",
    "Conv2d(128, 256, 4, 2, 1)", "BatchNorm2d(256)", "LeakyReLU(0.2)",
    "Conv2d(256, 512, 4, 2, 1)", "BatchNorm2d(512)", "LeakyReLU(0.2)",
    "Conv2d(512, 4096, 4, 1, 0)", "LeakyReLU(0.2)",
]
TABLE_D2 = [  # Table D2 (the decoder)
    "ConvTranspose2d(64, 512, 4, 1, 0)", "BatchNorm2d(512)", "ReLU",
    "ConvTranspose2d(512, 256, 4, 2, 1)", "BatchNorm2d(256)", "ReLU",
    "ConvTranspose2d(256, 128, 4, 2, 1)", "BatchNorm2d(128)", "ReLU",
    "ConvTranspose2d(128, 64, 4, 2, 1)", "BatchNorm2d(64)", "ReLU",
    "ConvTranspose2d(64, 1, 4, 2, 1)", "Tanh",
]


def test_paper_preset_is_tables_d1_and_d2_layer_by_layer():
    torch.manual_seed(0)
    model = VAE(**_paper_architecture())
    encoder = [_describe(m) for m in model.encoder if not isinstance(m, torch.nn.Flatten)]
    assert encoder == TABLE_D1
    assert _describe(model.mean_head) == _describe(model.log_sigma_head) == "Linear(4096, 64)"
    decoder = [_describe(m) for m in model.decoder if not isinstance(m, torch.nn.Unflatten)]
    assert decoder == TABLE_D2
    # parameter counts, by hand from the tables (BatchNorm: weight + bias per channel)
    convs = 1 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16 + 512 * 4096 * 16
    encoder_count = convs + 2 * (128 + 256 + 512) + 2 * (4096 * 64 + 64)
    n_encoder = sum(p.numel() for m in (model.encoder, model.mean_head, model.log_sigma_head) for p in m.parameters())
    assert n_encoder == encoder_count == 36_834_176
    deconvs = 64 * 512 * 16 + 512 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 1 * 16
    assert sum(p.numel() for p in model.decoder.parameters()) == deconvs + 2 * (512 + 256 + 128 + 64) == 3_279_744
    # the final linear layers' biases start at 0 (App. D); sigma_e = exp(head) > 0
    assert not model.mean_head.bias.any() and not model.log_sigma_head.bias.any()
    model.eval()
    with torch.no_grad():
        mu, logvar = model.encode(torch.rand(2, 1, 64, 64))
        assert mu.shape == (2, 64) and torch.isfinite(logvar).all()
        assert model.decode(torch.randn(2, 64)).shape == (2, 1, 64, 64)


def test_elbo_with_m_samples_averages_m_single_draw_estimates():
    """Eq. C3: the M-sample ELBO is the mean over M draws of log p(x|z_j) minus the KL:
    the same expectation as one draw, with variance / M (checked against the mean of
    M explicit single-draw estimates with the same noise)."""
    torch.manual_seed(0)
    model = VAE(**{**ARCH, "image_size": 16, "latent_dim": 4, "base_width": 2}).eval()
    x = torch.rand(3, 1, 16, 16)
    m = 5
    with torch.no_grad():
        many = model.elbo(x, torch.Generator().manual_seed(1), n_samples=m)
        mu, logvar = model.encode(x)
        eps = torch.randn((m * 3, 4), generator=torch.Generator().manual_seed(1))
        z = mu.repeat(m, 1) + torch.exp(0.5 * logvar.repeat(m, 1)) * eps
        single = gaussian_log_likelihood(x.repeat(m, 1, 1, 1), model.decode(z), model.decoder_sigma).reshape(m, 3)
        torch.testing.assert_close(many, single.mean(0) - kl_to_standard_normal(mu, logvar))
        spread_1 = torch.stack([model.elbo(x, torch.Generator().manual_seed(i)) for i in range(40)]).std(0)
        spread_m = torch.stack([model.elbo(x, torch.Generator().manual_seed(i), n_samples=m) for i in range(40)]).std(0)
        assert (spread_m < spread_1).all()
