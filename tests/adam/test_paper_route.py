"""The paper's route of Adam et al. 2022: the paper preset's settings, the start-up checks of the
PROBES folder and of the source size, the prior's units in the likelihood and in the mocks."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from galprior.config import ConfigError, check_adam, check_config, load_config, missing_inputs
from galprior.inference.sde.likelihood import convolved_likelihood_score
from galprior.inference.sde.posterior import SdeSettings, data_in_prior_units
from galprior.lensing.operator import LensingOperator
from galprior.data.score_normalisation import get_normalisation
from galprior.models.score.sde import technique2_probability

ROOT = Path(__file__).resolve().parents[2]
PRESETS = (ROOT / "config" / "config.yaml", ROOT / "config" / "presets" / "paper.yaml")


@pytest.fixture(scope="module")
def paper():
    return load_config(*PRESETS, check=False)


def test_the_paper_preset_samples_with_8000_euler_maruyama_steps_at_256_squared(paper):
    adam = paper["adam"]
    assert adam["source_size"] == 256 and adam["training_product"] == "probes"
    assert adam["normalisation"] == "smith2022"
    sigma_min, sigma_max = adam["score_model"]["sigma_min"], adam["score_model"]["sigma_max"]
    assert (sigma_min, sigma_max) == (1e-4, 263.4)
    settings = SdeSettings(**adam["sde"])
    n = settings.n_steps("euler_maruyama", adam["source_size"] ** 2, sigma_min, sigma_max)
    assert n == 8000 and settings.solvers[0] == "euler_maruyama"   # the reference run of Figs. 1 and 3
    assert technique2_probability(n, 256**2, sigma_min, sigma_max) >= settings.probability == 0.99
    assert adam["ood"]["solver"] == "euler_maruyama"               # Fig. 2 with the paper's solver
    assert adam["sde"]["n_samples"] == 320


def _probes_config(tmp_path, directory):
    config = load_config(ROOT / "config" / "config.yaml", check=False)
    config["adam"]["training_product"] = "probes"
    config["adam"]["probes"]["directory"] = None if directory is None else str(directory)
    return config


def test_a_missing_probes_folder_is_named_with_where_to_get_it(tmp_path, write_probes):
    for directory, says in ((None, "adam.probes.directory is null"),
                            (tmp_path / "nowhere", f"adam.probes.directory: {tmp_path / 'nowhere'} is not a folder"),
                            (tmp_path, f"adam.probes.directory: {tmp_path} holds no FITS file of band 'g'")):
        messages = missing_inputs(_probes_config(tmp_path, directory))
        assert len(messages) == 1 and says in messages[0]
        for fact in ("PROBES", "Stone", "2,059", "<galaxy>_<band>.fits", "legacysurvey.org", "get_probes.sh"):
            assert fact in messages[0]
        with pytest.raises(ConfigError, match="adam.probes.directory"):
            check_config(_probes_config(tmp_path, directory))
    write_probes(tmp_path / "probes", n_galaxies=1, size=8)
    assert missing_inputs(_probes_config(tmp_path, tmp_path / "probes")) == []
    config = _probes_config(tmp_path, None)
    config["systems"] = ["chianese"]   # the folder is needed only by the Adam system
    assert missing_inputs(config) == []


def test_the_paper_preset_without_probes_stops_at_start_up_naming_it(tmp_path):
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "-n",
                             "--directory", str(tmp_path), "--configfile", *map(str, PRESETS)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert result.returncode != 0
    assert "adam.probes.directory: resources/PROBES is not a folder" in result.stdout
    assert "get_probes.sh" in result.stdout


def test_a_source_size_the_network_cannot_halve_stops_at_start_up():
    config = load_config(ROOT / "config" / "config.yaml", check=False)
    config["adam"]["source_size"] = 36   # a multiple of 4, not of 8: four resolutions cannot be made
    config["adam"]["score_model"]["architecture"]["channel_multipliers"] = [1, 2, 2, 2]
    with pytest.raises(ConfigError, match=r"adam.source_size \(36\) must be divisible by 2\^3"):
        check_config(config)


def test_a_likelihood_form_the_source_or_network_cannot_take_stops_at_start_up():
    config = load_config(ROOT / "config" / "config.yaml", check=False)
    config["adam"]["source_size"] = 128   # above the dense spectrum's 64^2
    with pytest.raises(ConfigError, match=r"adam.sde.likelihood.covariance 'tweedie' needs a dense A\^T A"):
        check_config(config)
    config = load_config(ROOT / "config" / "config.yaml", check=False)
    config["adam"]["score_model"]["architecture"]["preconditioning"] = "none"
    with pytest.raises(ConfigError, match="preconditioning: edm"):
        check_config(config)


@pytest.mark.parametrize("name", ["unit_peak", "smith2022"])
def test_the_likelihood_in_the_priors_units_is_the_brightness_likelihood(small_lens, name):
    """Eq. 19 for the brightness s = scale x + offset, N(y | A s_t, sigma_N^2 + scale^2 sigma_t^2),
    has the x-gradient of eq. 19 written in the prior's units (data_in_prior_units)."""
    sim, lens, source = small_lens
    sim = sim.double()
    op = LensingOperator(sim, lens.double(), source.double(), (8, 8))
    scheme = get_normalisation(name)
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.uniform(scheme.low, scheme.high, (1, 8, 8)), requires_grad=True)
    with torch.no_grad():
        y = op.forward(scheme.to_brightness(torch.as_tensor(rng.uniform(scheme.low, scheme.high, (1, 8, 8)))))
    y = y + 0.01 * torch.as_tensor(rng.normal(size=y.shape))
    sigma_n, sigma_t = torch.tensor([0.01], dtype=torch.float64), torch.tensor([0.3], dtype=torch.float64)
    variance = sigma_n**2 + scheme.scale**2 * sigma_t**2
    log_like = -0.5 * ((y - op.forward(scheme.to_brightness(x))) ** 2).sum() / variance
    (expected,) = torch.autograd.grad(log_like.sum(), x)
    y_prior, sigma_prior = data_in_prior_units(op, y, sigma_n, scheme)
    ours = convolved_likelihood_score(x.detach(), y_prior, op, sigma_prior, sigma_t)
    torch.testing.assert_close(ours, expected)


def test_mock_sources_are_the_test_galaxies_as_brightness_with_the_chosen_noise(tmp_path, write_probes):
    from galprior.lensing.priors import LensSourcePrior
    from galprior.lensing.products import adam_mock_set
    from galprior.models.score.data import score_galaxies_from_probes

    write_probes(tmp_path, n_galaxies=6, size=32)
    test = score_galaxies_from_probes(tmp_path, band="g", crop=32, clip_level=5.5, split_sizes={"val": 1, "test": 3},
                                      source_size=32, normalisation="smith2022", seed=0)["test"]
    priors = load_config(ROOT / "config" / "config.yaml", check=False)["priors"]
    options = dict(n_systems=2, relative_noise=0.01, n_render=32, pool_factor=2, field_of_view=3.2,
                   source_plane_size=2.0, fill_fraction=0.33, slope=2.0,
                   prior=LensSourcePrior.from_config(priors), seed=3)
    unit = adam_mock_set(test, noise_reference="brightness_unit", **options)
    np.testing.assert_allclose(unit.sources, (test.images[unit.galaxy_index] + 1) / 2, atol=1e-7)
    assert unit.sources.min() >= 0 and unit.attrs["normalisation"] == "smith2022"
    np.testing.assert_allclose(unit.noise_sigma, 0.01)                    # sigma_N = 0.01 x the clip level
    peak = adam_mock_set(test, noise_reference="source_peak", **options)
    np.testing.assert_allclose(peak.noise_sigma, 0.01 * peak.sources.max(axis=(1, 2)), rtol=1e-6)


@pytest.mark.parametrize("source_size", [48, 96])
def test_a_source_size_that_does_not_divide_the_stamps_keeps_the_surface_brightness(source_size):
    """``adam.source_size`` 48 or 96 from 64^2 stamps (ratios 4/3 and 2/3, neither a block
    pooling) is taken, not refused: each prepared image keeps the mean brightness of the stamp
    it comes from, and 48 -> 64 -> 48 would not invent detail (the up route is piecewise
    constant, so its maximum is the stamp's)."""
    from galprior.models.score.data import prepare_product_images

    y, x = np.mgrid[:64, :64] - 31.5
    stamps = np.stack([np.exp(-(x**2 + (y / q) ** 2) / (2 * 6.0**2)) for q in (1.0, 0.6)])
    native = prepare_product_images(stamps, 64, "smith2022", denoise=False)
    resized = prepare_product_images(stamps, source_size, "smith2022", denoise=False)
    assert resized.shape == (2, source_size, source_size)
    np.testing.assert_allclose(resized.mean(axis=(1, 2)), native.mean(axis=(1, 2)), atol=1e-5)
    assert np.all(resized.max(axis=(1, 2)) <= native.max(axis=(1, 2)) + 1e-6)
    # ... and the start-up check of the default network takes it
    config = load_config(ROOT / "config" / "config.yaml", check=False)
    config["adam"]["source_size"] = source_size
    config["adam"]["sde"]["likelihood"]["covariance"] = "identity"   # 96^2 is above the dense spectrum's limit
    check_adam(config["adam"])
