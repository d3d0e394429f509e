"""The start-up checks agree with the code they stand in for.

A start-up check (the schema's bounds, ``galprior.config.check_config``) repeats a rule
that a class enforces deep in the run, so that ``snakemake -n`` refuses the value before
any job runs (tests/reliability/test_bad_inputs.py). Here each check is compared with
that class on values on both sides of the rule: the start-up check refuses exactly what
the class refuses, so neither can drift from the other unnoticed.
"""

from __future__ import annotations

import copy

import jsonschema
import pytest
import yaml

from galprior.config import SCHEMA_PATH, ConfigError, check_prior_bounds, check_sizes, schema_defaults


def schema_refuses(config: dict) -> bool:
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    return any(True for _ in jsonschema.Draft202012Validator(schema).iter_errors(config))


def start_up_refuses(config: dict, check) -> bool:
    if schema_refuses(config):
        return True
    try:
        check(config)
    except ConfigError:
        return True
    return False


@pytest.mark.parametrize("name, spec", [
    ("axis_ratio", [0.5, 0.5, 0.2, 1.0]), ("axis_ratio", [0.5, 0.5, 0.2, 1.5]),
    ("axis_ratio", [0.5, 0.5, 0.2, 0.9]), ("axis_ratio", [0.5, 0.5, 0.0, 1.0]),
    ("axis_ratio", [0.5, 0.5, None, 1.0]), ("axis_ratio", [0.5, 0.0, 0.2, 1.0]),
    ("slope", [2.0, 0.5, 1.2, 2.8]), ("slope", [2.0, 0.5, 1.0, 2.8]), ("slope", [2.0, 0.5, 1.2, 3.0]),
    ("slope", [2.0, 0.5, 1.2, None]), ("slope", [2.0, 0.5, 2.5, 1.5]),
    ("einstein_radius", [1.5, 0.5, 0.5, 3.0]), ("einstein_radius", [1.5, 0.5, 3.0, 0.5]),
    ("einstein_radius", [1.5, 0.5, 0.0, 3.0]), ("einstein_radius", [1.5, 0.5, None, 3.0]),
    ("shear", [0.0, 1.0, -0.2, 0.2]), ("shear", [0.0, 1.0, None, None]), ("shear", [0.0, 1.0, None, 0.2]),
    ("shear", [0.0, 1.0, 0.2, -0.2]), ("shear", [0.0, -1.0, -0.2, 0.2]),
    ("intensity", [1.0, 0.5, 0.1, None]), ("intensity", [1.0, 0.5, -0.1, None]),
    ("scale", [5.0, 1.0, 1.0, None]), ("scale", [5.0, 1.0, 6.0, 2.0]),
])
def test_prior_bounds_refused_at_start_up_exactly_when_the_prior_refuses_them(name, spec):
    """Schema bounds and ``check_prior_bounds`` against LensSourcePrior and the
    distributions the inference builds from it."""
    from galprior.lensing.priors import LensSourcePrior

    config = schema_defaults()
    config["priors"][name] = spec
    try:  # the mocks draw from the prior, the inference scores its distributions
        prior = LensSourcePrior.from_config(config["priors"])
        prior.lens_distributions(), prior.source_distributions(), prior.ellipticity_distribution()
        refused_by_the_prior = False
    except (ValueError, TypeError):
        refused_by_the_prior = True
    assert start_up_refuses(config, check_prior_bounds) == refused_by_the_prior


@pytest.mark.parametrize("size", [4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256])
def test_vae_image_size_refused_at_start_up_exactly_when_the_vae_refuses_it(size):
    from galprior.models.vae.network import VAE

    config = copy.deepcopy(schema_defaults())
    config["systems"] = ["chianese"]
    config["chianese"]["vae"]["architecture"].update(image_size=size, base_width=1, latent_dim=2)
    config["galaxies"]["chianese"].update(output_size=size, snr_block=1)
    try:
        VAE(**config["chianese"]["vae"]["architecture"])
        refused_by_the_vae = False
    except ValueError:
        refused_by_the_vae = True
    assert start_up_refuses(config, check_sizes) == refused_by_the_vae


@pytest.mark.parametrize("size, n_stages", [(32, 2), (32, 5), (32, 6), (48, 4), (48, 5), (30, 1), (30, 2), (128, 7)])
def test_lanusse_image_size_refused_at_start_up_exactly_when_the_flow_vae_refuses_it(size, n_stages):
    from galprior.models.flowvae.network import FlowVAE

    config = copy.deepcopy(schema_defaults())
    config["systems"] = ["lanusse"]
    config["lanusse"]["image_size"] = size
    config["lanusse"]["vae"]["architecture"].update(n_stages=n_stages, input_depth=1, max_depth=2, latent_dim=2)
    try:
        FlowVAE(image_size=size, **config["lanusse"]["vae"]["architecture"])
        refused_by_the_network = False
    except ValueError:
        refused_by_the_network = True
    assert start_up_refuses(config, check_sizes) == refused_by_the_network
