"""Fixtures shared by every test: the configuration defaults, read from the schema (their one home)."""

from __future__ import annotations

import pytest

from galprior.config import schema_defaults


@pytest.fixture(scope="session")
def defaults() -> dict:
    """The default configuration (every default of workflow/schemas/config.schema.yaml)."""
    return schema_defaults()


@pytest.fixture(scope="session")
def default_prior(defaults):
    """The lens and source prior of the default configuration."""
    from galprior.lensing.priors import LensSourcePrior

    return LensSourcePrior.from_config(defaults["priors"])


@pytest.fixture(scope="session")
def map_config(defaults):
    """``map_config(**changes)``: the default MAP settings with some changed."""
    from galprior.inference.map import MapConfig

    return lambda **changes: MapConfig(**{**defaults["chianese"]["map"], "seed": 0, **changes})


@pytest.fixture(scope="session")
def hmc_config(defaults):
    """``hmc_config(**changes)``: the default HMC settings with some changed."""
    from galprior.inference.hmc import HmcConfig

    options = {k: v for k, v in defaults["chianese"]["hmc"].items() if k != "systems"}
    return lambda **changes: HmcConfig(**{**options, "seed": 0, **changes})
