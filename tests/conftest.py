"""Fixtures shared by every test: the configuration defaults, read from the schema (their one
home), and one local run of the CI preset per session (the workflow and reliability tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


REPO = Path(__file__).resolve().parents[1]
# Small real data sets (../shared/data beside the checkout, see its README): CI lays them
# there; a user's fresh clone has none.
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_runtest_setup(item):
    """Tests marked ``shared_data`` skip when ../shared/data is missing, and fail instead when
    the ``CI`` variable is set (where the folder must be: a skip would hide a lost test)."""
    if item.get_closest_marker("shared_data") is None or SHARED_DATA.is_dir():
        return
    message = f"{item.nodeid} needs the real data sets at {SHARED_DATA} (see its README)"
    if os.environ.get("CI"):
        pytest.fail(message + ", and CI is set: they must be there", pytrace=False)
    pytest.skip(message + "; a fresh clone has none")

CI_PRESET = REPO / "config" / "presets" / "ci.yaml"
CI_RUN_TIMEOUT = 1800  # s; the CI preset takes a few minutes on 2 cores


@pytest.fixture(scope="session")
def snakemake_command() -> list[str]:
    """The venv's snakemake on this checkout's Snakefile: append options and targets."""
    return [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(REPO / "Snakefile")]


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory, snakemake_command) -> Path:
    """Working directory of a finished local run of the CI preset (the whole DAG).

    Read it, never write to it: the tests of a session share it.
    """
    workdir = tmp_path_factory.mktemp("ci_run")
    command = [*snakemake_command, "--cores", "2", "--directory", str(workdir),
               "--configfile", str(CI_PRESET)]
    result = subprocess.run(command, cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=CI_RUN_TIMEOUT)
    (workdir.parent / "ci_run.log").write_text(result.stdout)
    if result.returncode != 0:
        pytest.fail(f"the CI preset failed locally (exit {result.returncode}):\n"
                    f"{result.stdout[-6000:]}", pytrace=False)
    return workdir


def _paper_inputs(workdir: Path) -> None:
    import yaml

    preset = yaml.safe_load((REPO / "config" / "presets" / "paper.yaml").read_text())
    nguyen, probes = preset["nguyen"], preset["adam"]["probes"]
    for name in (nguyen["catalogue"]["file"], nguyen["des"]["real"]["catalogue"],
                 f"{probes['directory']}/PROBES_0000_{probes.get('band', 'g')}.fits"):
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).touch()
    (workdir / nguyen["des"]["real"]["cutouts"]).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def paper_inputs():
    """``paper_inputs(workdir)``: empty stand-ins, under ``workdir``, for the user's own inputs
    that the paper preset names and the workflow cannot download (CatSim catalogue, real DES
    catalogue and cutouts, a PROBES file); a dry run (``snakemake -n``) only needs them to
    exist. (The COSMOS samples are downloaded by the workflow.)"""
    return _paper_inputs
