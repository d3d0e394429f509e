"""Tiny fixtures of the Adam et al. 2022 tests: a small score network and small mocks."""

import numpy as np
import pytest
import torch

from galprior.lensing.simulator import LensSimulator
from galprior.models.score.network import ScoreUNet

# every NCSN++ path (FIR resampling, attention at a resolution, progressive input and output) at toy size;
# init_scale 1 (NCSN++'s is 0: every residual branch starts at zero and the network's output is ~1e-5):
# tests that compare outputs must not compare zeros with zeros
TINY_ARCHITECTURE = dict(base_width=4, channel_multipliers=[1, 2], n_res_blocks=1, attention=True,
                         attention_resolutions=[4], dropout=0.0, fourier_scale=16.0, fir=True,
                         fir_kernel=[1, 3, 3, 1], skip_rescale=True, progressive_input="input_skip",
                         progressive_output="output_skip", init_scale=1.0, input_scaling=True)


@pytest.fixture
def tiny_architecture():
    return dict(TINY_ARCHITECTURE)


@pytest.fixture
def tiny_model():
    """A toy NCSN++ whose output is of order one (checked), so comparisons can fail."""
    torch.manual_seed(0)
    model = ScoreUNet(image_size=8, sigma_min=1e-2, sigma_max=5.0, **TINY_ARCHITECTURE)
    with torch.no_grad():
        eps = model(torch.randn(2, 8, 8), torch.tensor([0.1, 0.9]))
    assert eps.std() > 0.1, f"the tiny score network's output is ~0 (std {eps.std():.2g})"
    return model


@pytest.fixture
def small_lens():
    """A 32^2 render pooled to 16^2 and one SIE + shear with its source grid."""
    sim = LensSimulator(32, 0.16, psf_sigma=None, pool_factor=2)
    lens = torch.tensor([[1.2, 2.0, 0.8, 0.3, 0.02, -0.01, 0.03, -0.02]])
    source = torch.tensor([[1.0, 1.5, 0.05, -0.03]])
    return sim, lens, source


@pytest.fixture
def tiny_mocks(small_lens):
    """A ScoreLensSet of 2 systems rendered from smooth 16^2 sources."""
    from galprior.lensing.simulator import LENS_PARAMETER_NAMES, SOURCE_PARAMETER_NAMES
    from galprior.store import ScoreLensSet

    sim, lens, source = small_lens
    yy, xx = np.mgrid[:16, :16] - 7.5
    src = np.stack([np.exp(-(xx**2 + 2 * yy**2) / 8), np.exp(-(2 * xx**2 + yy**2) / 6)]).astype(np.float32)
    lens2, source2 = lens.repeat(2, 1).double().numpy(), source.repeat(2, 1).double().numpy()
    with torch.no_grad():
        clean = sim(torch.as_tensor(lens2, dtype=torch.float32), torch.as_tensor(src),
                    torch.as_tensor(source2, dtype=torch.float32)).numpy()
    rng = np.random.default_rng(0)
    sigma = np.array([0.01, 0.01])
    obs = clean + sigma[:, None, None] * rng.normal(size=clean.shape)
    return ScoreLensSet(observations=obs.astype(np.float32), noiseless=clean.astype(np.float32), sources=src,
                        lens_parameters=lens2, source_parameters=source2, noise_sigma=sigma,
                        galaxy_index=np.arange(2),
                        attrs={"lens_parameter_names": list(LENS_PARAMETER_NAMES),
                               "source_parameter_names": list(SOURCE_PARAMETER_NAMES),
                               "pixel_scale": 0.32, "render_pixel_scale": 0.16, "pool_factor": 2,
                               "normalisation": "unit_peak"})
