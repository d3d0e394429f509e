"""The bad-input catalogue: every bad input refused by name, earlier outputs untouched.

Each case (marked ``bad_input``) starts from a results folder of an earlier run (the
``earlier`` fixture: stores, a trained model, its latent prior and tables, written by the
package's own writers at the workflow's paths), damages one input or one configuration
value, and gives the folder to the code under test:

- a bad configuration goes to ``snakemake -n`` with ``output_dir`` pointing at the earlier
  folder: it must be refused at start-up (before the DAG is built), by a message that
  names the key and holds the bad value and what was expected;
- a bad input file goes to the rule's own script (``workflow/scripts/<rule>.py``, run
  with a ``snakemake`` object as Snakemake builds it) whose outputs are the earlier
  outputs at their paths: the script must raise the exact exception whose message names
  the file (or key) and what was expected.

In every case every file of the earlier folder keeps its bytes and modification time.
The catalogue's size is counted from the collected tests
(``test_the_catalogue_is_counted_from_its_collected_cases``). Bad inputs that other tests
already refuse with their message (misspelt or mistyped keys, a missing COSMOS folder, a
damaged COSMOS catalogue or image file, stores of another layout or version, store writes
that fail) are not repeated here.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import logging
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits

from galprior.config import cosmos_options, load_config, split_sizes
from galprior.store import GalaxySet, StoreError

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SCRIPTS = REPO / "workflow" / "scripts"
SHARED = REPO.parent / "shared" / "data"
COSMOS_EXAMPLE = SHARED / "cosmos_example"
CATALOGUE = "real_galaxy_catalog_25.2_format.fits"
IMAGE_SIZE = 16  # side of the earlier run's Chianese galaxies (a tiny VAE learns them)


# -- the earlier run -------------------------------------------------------------------
def base_config() -> dict:
    """config/config.yaml with the CI preset over it (the test suite's configuration)."""
    config = load_config(REPO / "config" / "config.yaml", REPO / "config" / "presets" / "ci.yaml",
                         check=False)
    config["chianese"]["vae"]["architecture"].update(image_size=IMAGE_SIZE, base_width=4, latent_dim=8)
    config["galaxies"]["chianese"]["output_size"] = IMAGE_SIZE
    return config


def galaxies(n: int, seed: int, size: int = IMAGE_SIZE) -> GalaxySet:
    """A galaxy set of random values (a real GalaxySet, as prepare_galaxies writes one)."""
    rng = np.random.default_rng(seed)
    images = rng.random((n, size, size), dtype=np.float32)
    return GalaxySet(
        images=images, noiseless=images.copy(),
        noise_power=rng.random((n, size, size), dtype=np.float32),
        parametric=np.full((n, size, size), np.nan, np.float32),
        psf=np.full((n, 5, 5), 1 / 25, np.float32),
        noise_variance=rng.uniform(1e-3, 2e-3, n).astype(np.float32),
        pixel_scale=np.full(n, 0.03, np.float32),
        properties=pd.DataFrame({"ident": np.arange(n, dtype=np.int64) + 1000 * seed,
                                 "mag": rng.uniform(20, 25, n), "half_light_radius": rng.uniform(0.1, 1, n),
                                 "flux_radius": rng.uniform(0.1, 1, n), "redshift": rng.uniform(0, 3, n)}),
        attrs={"source": "simulated", "product": "chianese", "band": "F814W",
               "image_unit": "1 (observed image divided by its maximum pixel)", "noiseless_is_truth": True})


#: The earlier run's stores, by path under results/ (each a distinct, complete store).
EARLIER_STORES = {
    "galaxies/simulated/chianese/shards/0.zarr": 30, "galaxies/simulated/chianese/shards/1.zarr": 30,
    "galaxies/simulated/chianese/train.zarr": 48, "galaxies/simulated/chianese/val.zarr": 8,
    "galaxies/simulated/chianese/test.zarr": 4, "galaxies/cosmos/chianese/shards/0.zarr": 4,
    "lenses/chianese_mocks.zarr": 3, "models/vae/reconstructions.zarr": 3,
    "inference/chianese_map.zarr": 3, "nguyen/blends/lsst/shards/train-0.zarr": 3,
}


@pytest.fixture(scope="session")
def earlier_template(tmp_path_factory) -> Path:
    """A results folder as an earlier run left it, written once per session."""
    import torch

    from galprior.models.registry import save_model
    from galprior.models.vae.latent_prior import save_latent_prior
    from galprior.models.vae.network import VAE

    results = tmp_path_factory.mktemp("earlier") / "results"
    for seed, (path, n) in enumerate(EARLIER_STORES.items()):
        galaxies(n, seed).save(results / path, seed=seed, config={"earlier": True})
    torch.manual_seed(0)
    architecture = base_config()["chianese"]["vae"]["architecture"]
    save_model(VAE(**architecture), results / "models" / "vae")
    (results / "models" / "vae" / "history.csv").write_text("epoch,train_loss,val_loss\n1,2.5,2.7\n")
    save_latent_prior(results / "models" / "vae" / "latent_prior.npz",
                      np.zeros(architecture["latent_dim"]), np.eye(architecture["latent_dim"]))
    (results / "tables" / "chianese").mkdir(parents=True)
    (results / "tables" / "chianese" / "table1_snr.csv").write_text("system,snr\n0,31.2\n")
    return results


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Content hash and modification time of every file under ``folder``."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


class Earlier:
    """The earlier results folder of one test; ``freeze()`` once the bad input is in place,
    ``assert_unchanged()`` after the code under test ran."""

    def __init__(self, results: Path):
        self.results = results
        self.frozen: dict | None = None

    def freeze(self) -> None:
        self.frozen = snapshot(self.results)
        assert len(self.frozen) > 20, "the earlier folder holds the earlier run's files"

    def assert_unchanged(self) -> None:
        assert self.frozen is not None, "freeze() the folder before running the code under test"
        now = snapshot(self.results)
        changed = {k for k in set(self.frozen) | set(now) if self.frozen.get(k) != now.get(k)}
        outputs = sorted({k.split(".zarr/")[0] + ".zarr" if ".zarr/" in k else k for k in changed})
        assert not changed, f"earlier outputs changed, appeared or vanished: {outputs}"


@pytest.fixture
def earlier(earlier_template, tmp_path) -> Earlier:
    """A copy of the earlier results folder (bytes and modification times kept)."""
    results = tmp_path / "work" / "results"
    shutil.copytree(earlier_template, results, copy_function=shutil.copy2)
    return Earlier(results)


# -- the code under test: start-up, or a rule's own script --------------------------------
def refused_at_start_up(workdir: Path, earlier: Earlier, changes: dict, *words: str) -> str:
    """``snakemake -n`` of the CI preset with ``changes`` (``output_dir``: the earlier folder
    unless changed): refused before the DAG is built, the message holding every one of
    ``words``; the earlier folder unchanged. Returns the output."""
    overlay = workdir / "bad.yaml"
    overlay.write_text(yaml.safe_dump({"output_dir": str(earlier.results), **changes}, sort_keys=False))
    earlier.freeze()
    result = subprocess.run([str(SNAKEMAKE), "-n", "--snakefile", str(REPO / "Snakefile"),
                             "--directory", str(workdir), "--configfile",
                             str(REPO / "config" / "presets" / "ci.yaml"), str(overlay)],
                            cwd=workdir, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "Building DAG of jobs" not in output, "refused only after the DAG was built"
    for word in words:
        assert word in output, f"{word!r} not in the message:\n{output[-3000:]}"
    earlier.assert_unchanged()
    return output


class SnakemakeObject:
    """What a workflow script sees as ``snakemake`` (the fields our scripts read)."""

    def __init__(self, rule: str, input: dict, output: dict, params: dict, log: str,
                 wildcards: dict | None = None):
        from snakemake.iocontainers import Namedlist

        self.rule = rule
        self.input, self.output = Namedlist(fromdict=input), Namedlist(fromdict=output)
        self.params, self.wildcards = Namedlist(fromdict=params), Namedlist(fromdict=wildcards or {})
        self.log = Namedlist(fromdict={"log": log})
        self.threads, self.config = 1, {}


@pytest.fixture
def run_rule(earlier, tmp_path):
    """``run_rule(rule, error, *words, input=, output=, params=, wildcards=)``: run
    ``workflow/scripts/<rule>.py`` on paths under the earlier folder; it must raise exactly
    ``error`` with every one of ``words`` in its message, and leave the folder unchanged.
    The logging set-up and exception hook the script installs are undone afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, sys.excepthook)

    def run(rule: str, error: type[Exception], *words: str, input: dict, output: dict,
            params: dict, wildcards: dict | None = None) -> str:
        log = tmp_path / "logs" / rule / "all.log"
        earlier.freeze()
        with pytest.raises(Exception) as raised:
            runpy.run_path(str(SCRIPTS / f"{rule}.py"), init_globals={
                "snakemake": SnakemakeObject(rule, input, output, params, str(log), wildcards)})
        message = str(raised.value)
        assert type(raised.value) is error, f"{type(raised.value).__name__}: {message}"
        for word in words:
            assert word in message, f"{word!r} not in the message: {message}"
        earlier.assert_unchanged()
        return message

    yield run
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    sys.excepthook = saved[2]


# -- start-up: configurations that cannot work --------------------------------------------
@pytest.mark.bad_input("prior truncation of the axis ratio above 1 (q > 1)")
def test_axis_ratio_prior_above_one(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"priors": {"axis_ratio": [0.5, 0.5, 0.2, 1.5]}},
                        "On instance['priors']['axis_ratio'][3]", "1.5 is greater than the maximum of 1")


@pytest.mark.bad_input("EPL slope prior reaching 3")
def test_slope_prior_reaching_three(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"priors": {"slope": [2.0, 0.5, 1.2, 3.0]}},
                        "On instance['priors']['slope'][3]", "3.0 is greater than or equal to the maximum of 3")


@pytest.mark.bad_input("prior truncation with low above high")
def test_prior_truncation_with_low_above_high(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"priors": {"einstein_radius": [1.5, 0.5, 3.0, 0.5]}},
                        "priors.einstein_radius: [1.5, 0.5, 3.0, 0.5] truncates to [low, high] = "
                        "[3.0, 0.5]; low must be below high")


def simulated_estimate(product: str, per_shard: int, workers: int) -> tuple[str, str]:
    """The start-up estimate of a simulated preparation, from its stated model: the
    measured kept fraction plus three binomial standard errors, and the measured drawing
    rate (galprior.config.SIMULATED_YIELD) with ``workers`` processes."""
    from galprior.config import SIMULATED_YIELD

    drawn, kept = SIMULATED_YIELD["drawn"][product], SIMULATED_YIELD["kept"][product]
    fraction = min(1.0, kept / drawn + 3 * np.sqrt(kept / drawn * (1 - kept / drawn) / drawn))
    draws = per_shard / fraction
    hours = draws / (SIMULATED_YIELD["draws_per_cpu_second"][product] * workers) / 3600
    return f"about {draws:,.0f} draws per shard", f"about {hours:,.1f} hours per shard"


@pytest.mark.bad_input("Chianese training split of 100,000,000 simulated galaxies")
def test_training_split_the_simulated_source_cannot_give(tmp_path, earlier):
    """Days of drawing (about 286 hours per shard), and the max_galaxies limit would stop it
    after 100000 draws per shard."""
    refused_at_start_up(
        tmp_path, earlier, {"galaxies": {"split_sizes": {"chianese": {"train": 100_000_000, "val": 8, "test": 4}}}},
        "galaxies.split_sizes.chianese: {'train': 100000000, 'val': 8, 'test': 4} (100000012 galaxies, "
        "50000006 per shard of galaxies.n_shards = 2)", *simulated_estimate("chianese", 50000006, workers=2),
        "but galaxies.simulated.max_galaxies (200000, 100000 per shard) stops the preparation")


@pytest.mark.bad_input("simulated split that would outlast the preparation job's runtime")
def test_simulated_split_beyond_the_job_runtime(tmp_path, earlier):
    refused_at_start_up(
        tmp_path, earlier, {"galaxies": {"simulated": {"max_galaxies": 10**9},
                                         "split_sizes": {"lanusse": {"train": 2_000_000, "val": 4, "test": 4}}}},
        "galaxies.split_sizes.lanusse: {'train': 2000000, 'val': 4, 'test': 4}",
        *simulated_estimate("lanusse", 1000004, workers=2),
        "but resources.prepare_galaxies.runtime allows 30 minutes per job")


@pytest.mark.bad_input("simulated split without a size")
def test_simulated_split_without_a_size(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier,
                        {"galaxies": {"split_sizes": {"lanusse": {"train": None, "val": 4, "test": 4}}}},
                        "galaxies.split_sizes.lanusse: {'train': None, 'val': 4, 'test': 4} leaves "
                        "['train'] without a size")


@pytest.mark.bad_input("output_dir under a regular file")
def test_output_dir_under_a_file(tmp_path, earlier):
    (tmp_path / "a_file").write_text("not a folder")
    refused_at_start_up(tmp_path, earlier, {"output_dir": str(tmp_path / "a_file" / "results")},
                        f"output_dir: {tmp_path / 'a_file' / 'results'} cannot be written: "
                        f"{tmp_path / 'a_file'} is a file, not a folder")


@pytest.mark.bad_input("output_dir on a file system that refuses new files")
def test_output_dir_that_cannot_be_written(tmp_path, earlier):
    """/proc refuses a new file even to root (a chmod would not: root writes anyway)."""
    refused_at_start_up(tmp_path, earlier, {"output_dir": "/proc/galprior_results"},
                        "output_dir: /proc/galprior_results cannot be written: creating a file in /proc failed")


@pytest.mark.bad_input("Lanusse image size not divisible by 2**n_stages")
def test_lanusse_image_size_not_divisible_by_its_stages(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"lanusse": {"image_size": 48, "vae": {"architecture": {"n_stages": 5}}}},
                        "lanusse.image_size (48) must be divisible by 2**lanusse.vae.architecture.n_stages "
                        "(2**5 = 32)")


@pytest.mark.bad_input("Lanusse image size larger than its stamps")
def test_lanusse_image_size_larger_than_the_stamps(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"lanusse": {"image_size": 256}},
                        "lanusse.image_size (256) must be at most galaxies.lanusse.stamp_size (128)")


@pytest.mark.bad_input("S/N block not dividing the Chianese stamp")
def test_snr_block_not_dividing_the_stamp(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"galaxies": {"chianese": {"snr_block": 5}}},
                        "galaxies.chianese.snr_block (5) must divide galaxies.chianese.output_size (64)")


@pytest.mark.bad_input("VAE image size that its layers cannot halve to 4")
def test_vae_image_size_its_layers_cannot_halve(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"galaxies": {"chianese": {"output_size": 48}},
                                            "chianese": {"vae": {"architecture": {"image_size": 48}}}},
                        "chianese.vae.architecture.image_size (48) must be 4 * 2**k with k >= 1")


@pytest.mark.bad_input("VAE image size not the stamp size")
def test_vae_image_size_differs_from_the_galaxy_stamps(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"chianese": {"vae": {"architecture": {"image_size": 32}}}},
                        "chianese.vae.architecture.image_size (32) must equal galaxies.chianese.output_size (64)")


@pytest.mark.bad_input("more Chianese mock systems than test galaxies")
def test_more_chianese_mocks_than_test_galaxies(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"chianese": {"mocks": {"n_systems": 5}}},
                        "chianese.mocks.n_systems (5) must be at most galaxies.split_sizes.chianese.test (4)")


@pytest.mark.bad_input("more Adam mock systems than test galaxies")
def test_more_adam_mocks_than_test_galaxies(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"adam": {"mocks": {"n_systems": 9}}},
                        "adam.mocks.n_systems (9) must be at most galaxies.split_sizes.chianese.test (4)")


@pytest.mark.bad_input("HMC system that does not exist")
def test_hmc_system_that_does_not_exist(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"chianese": {"hmc": {"systems": [0, 99]}}},
                        "chianese.hmc.systems: system 99 does not exist; chianese.mocks.n_systems is 2")


@pytest.mark.bad_input("negative split size")
def test_negative_split_size(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier,
                        {"galaxies": {"split_sizes": {"chianese": {"train": -5, "val": 2, "test": 2}}}},
                        "On instance['galaxies']['split_sizes']['chianese']['train']",
                        "-5 is less than the minimum of 1")


@pytest.mark.bad_input("noise level 0")
def test_zero_noise_level(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, {"chianese": {"mocks": {"noise_sigma": [0.1, 0.0]}}},
                        "On instance['chianese']['mocks']['noise_sigma'][1]",
                        "0.0 is less than or equal to the minimum of 0")


@pytest.mark.bad_input("download into a folder not named after a sample")
def test_download_into_a_folder_not_named_after_a_sample(tmp_path, earlier):
    folder = tmp_path / "COSMOS_24_sample"
    refused_at_start_up(tmp_path, earlier, {"galaxies": {"extra_sources": ["cosmos"], "cosmos": {
        "lanusse": {"download": True, "directory": str(folder)}}}},
        f"galaxies.cosmos.lanusse.directory: {folder} must end in one of "
        "('COSMOS_25.2_training_sample', 'COSMOS_23.5_training_sample')")


@pytest.mark.bad_input("download of one release with the other release's catalogue")
def test_download_of_one_release_with_the_other_releases_catalogue(tmp_path, earlier):
    folder = tmp_path / "COSMOS_25.2_training_sample"
    refused_at_start_up(tmp_path, earlier, {"galaxies": {"extra_sources": ["cosmos"], "cosmos": {
        "chianese": {"download": True, "directory": str(folder)}}}},
        "galaxies.cosmos.chianese.catalogue_file: real_galaxy_catalog_23.5.fits is not in the 25.2 "
        f"archive that galaxies.cosmos.chianese.directory ({folder}) names; it holds "
        "real_galaxy_catalog_25.2.fits")


def cosmos_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cosmos"
    shutil.copytree(COSMOS_EXAMPLE, target, copy_function=shutil.copyfile)
    target.chmod(0o755)
    for path in target.iterdir():
        path.chmod(0o644)
    return target


def cosmos_overlay(directory: Path, **lanusse) -> dict:
    """The 100-galaxy COSMOS example as the Lanusse product's sample (extra source)."""
    return {"galaxies": {"extra_sources": ["cosmos"], "products": ["lanusse"], "cosmos": {"lanusse": {
        "directory": str(directory), "catalogue_file": CATALOGUE, "hlr_column": None, **lanusse}}}}


@pytest.mark.shared_data
@pytest.mark.bad_input("COSMOS sample smaller than its splits")
def test_cosmos_sample_smaller_than_its_splits(tmp_path, earlier):
    refused_at_start_up(tmp_path, earlier, cosmos_overlay(COSMOS_EXAMPLE, split_sizes={"train": 80000, "val": 500, "test": 1500}),
                        "galaxies.cosmos.lanusse.split_sizes: {'train': 80000, 'val': 500, 'test': 1500} "
                        f"requests 82000 galaxies, but the COSMOS sample {COSMOS_EXAMPLE / CATALOGUE} "
                        "holds 100 before its cuts")


@pytest.mark.shared_data
@pytest.mark.bad_input("COSMOS folder without the selection file its cut reads")
def test_cosmos_folder_without_the_selection_file_its_cut_reads(tmp_path, earlier):
    directory = cosmos_copy(tmp_path)
    (directory / "real_galaxy_catalog_25.2_format_selection.fits").unlink()
    output = refused_at_start_up(
        tmp_path, earlier, cosmos_overlay(directory, split_sizes={"train": None, "val": 4, "test": 4}),
        "1 input(s) of this configuration are missing",
        f"{directory / 'real_galaxy_catalog_25.2_format_selection.fits'} does not exist; expected the "
        "selection catalogue of the COSMOS F814W < 25.2 training sample of Lanusse et al. 2021",
        "galaxies.cosmos.lanusse.exclusion_level 'marginal' reads")
    assert "galaxies.cosmos.chianese" not in output  # not a product of this run


# -- rule inputs: a rule's own script meets a damaged file --------------------------------
def prepare_cosmos_shard(run_rule, earlier: Earlier, directory: Path, error, *words, **sample) -> str:
    """Rule prepare_galaxies on the COSMOS example as the Chianese sample (source cosmos,
    shard 0 of 1), writing over the earlier shard."""
    config = base_config()
    config["galaxies"]["cosmos"]["chianese"].update(
        directory=str(directory), catalogue_file=CATALOGUE, hlr_column=None, exclusion_level="none",
        split_sizes={"train": None, "val": 2, "test": 2}, **sample)
    config["galaxies"]["chianese"]["output_size"] = 64
    return run_rule(
        "prepare_galaxies", error, *words, input={"cosmos": []},
        output={"shard": str(earlier.results / "galaxies/cosmos/chianese/shards/0.zarr")},
        params={"split_sizes": split_sizes(config, "cosmos", "chianese"), "n_shards": 1,
                "cosmos": cosmos_options(config, "chianese"), "simulated": config["galaxies"]["simulated"],
                "product": config["galaxies"]["chianese"], "seed": config["seed"]},
        wildcards={"source": "cosmos", "product": "chianese", "shard": "0"})


@pytest.mark.shared_data
@pytest.mark.bad_input("COSMOS catalogue lacking a configured column")
def test_cosmos_catalogue_lacking_a_configured_column(run_rule, earlier):
    prepare_cosmos_shard(run_rule, earlier, COSMOS_EXAMPLE, KeyError,
                         "column 'MAG_F814W' is in none of the COSMOS catalogues",
                         "'real_galaxy_catalog_25.2_format_fits.fits': ['IDENT', 'mag_auto',",
                         f"'{CATALOGUE}': ['IDENT', 'RA', 'DEC', 'MAG',", mag_column="MAG_F814W")


@pytest.mark.shared_data
@pytest.mark.bad_input("COSMOS catalogues listing other galaxies")
def test_cosmos_catalogues_listing_other_galaxies(run_rule, earlier, tmp_path):
    directory = cosmos_copy(tmp_path)
    fit_file = directory / "real_galaxy_catalog_25.2_format_fits.fits"
    with fits.open(fit_file) as hdus:
        hdus[1].data["IDENT"][[0, 1]] = hdus[1].data["IDENT"][[1, 0]]
        hdus.writeto(fit_file, overwrite=True)
    prepare_cosmos_shard(run_rule, earlier, directory, ValueError,
                         f"{fit_file} and {directory / CATALOGUE} do not list the same IDENTs in the same order")


@pytest.mark.shared_data
@pytest.mark.bad_input("COSMOS stamp of zeros")
def test_cosmos_stamp_of_zeros(run_rule, earlier, tmp_path):
    directory = cosmos_copy(tmp_path)
    images = directory / "real_galaxy_images_extension.fits"
    catalogue = fits.getdata(directory / CATALOGUE)
    row = int(np.flatnonzero(catalogue["GAL_HDU"] == 3)[0])
    with fits.open(images) as hdus:
        hdus[3].data[...] = 0.0
        hdus.writeto(images, overwrite=True)
    prepare_cosmos_shard(run_rule, earlier, directory, ValueError,
                         f"IDENT={int(catalogue['IDENT'][row])} in {images}", "zero")


def split_shards(run_rule, earlier: Earlier, error, *words) -> str:
    """Rule split_galaxies on the earlier simulated Chianese shards, writing over the
    earlier splits."""
    folder = earlier.results / "galaxies" / "simulated" / "chianese"
    config = base_config()
    return run_rule("split_galaxies", error, *words,
                    input={"shards": [str(folder / "shards" / f"{k}.zarr") for k in (0, 1)]},
                    output={split: str(folder / f"{split}.zarr") for split in ("train", "val", "test")},
                    params={"split_sizes": split_sizes(config, "simulated", "chianese"), "seed": config["seed"]},
                    wildcards={"source": "simulated", "product": "chianese"})


@pytest.mark.bad_input("galaxy shard missing an array")
def test_galaxy_shard_missing_an_array(run_rule, earlier):
    shard = earlier.results / "galaxies/simulated/chianese/shards/1.zarr"
    shutil.rmtree(shard / "psf")
    split_shards(run_rule, earlier, StoreError, f"{shard} lacks arrays ['psf']")


@pytest.mark.bad_input("galaxy shard left incomplete by a killed writer")
def test_galaxy_shard_left_incomplete(run_rule, earlier):
    import zarr

    shard = earlier.results / "galaxies/simulated/chianese/shards/0.zarr"
    del zarr.open_group(str(shard), mode="r+").attrs["complete"]
    split_shards(run_rule, earlier, StoreError, f"{shard} is incomplete", "rerun the rule")


@pytest.mark.bad_input("galaxy shard whose array has another shape than its table")
def test_galaxy_shard_with_arrays_of_another_length(run_rule, earlier):
    import zarr

    shard = earlier.results / "galaxies/simulated/chianese/shards/1.zarr"
    group = zarr.open_group(str(shard), mode="r+")
    noise = group["noise_variance"][...]
    del group["noise_variance"]
    group.create_array("noise_variance", data=noise[:4], attributes=dict(zarr.open_group(
        str(earlier.results / "galaxies/simulated/chianese/shards/0.zarr"), mode="r")["noise_variance"].attrs))
    split_shards(run_rule, earlier, StoreError, "noise_variance", "dimension N is 4", "30")


def vae_rule(run_rule, earlier: Earlier, rule: str, error, *words) -> str:
    """A Chianese rule that loads the earlier VAE (reconstruct_galaxies), writing over its
    earlier output."""
    config = base_config()
    vae = earlier.results / "models" / "vae"
    return run_rule(rule, error, *words,
                    input={"weights": str(vae / "weights.pt"), "hyperparameters": str(vae / "hyperparameters.json"),
                           "test": str(earlier.results / "galaxies/simulated/chianese/test.zarr")},
                    output={"reconstructions": str(vae / "reconstructions.zarr")},
                    params={"n_galaxies": config["figures"]["n_galaxies"],
                            "angles": config["chianese"]["vae"]["rotation_angles"], "seed": config["seed"] + 7})


@pytest.mark.bad_input("weights of another architecture")
def test_weights_of_another_architecture(run_rule, earlier):
    import torch

    from galprior.models.vae.network import VAE

    weights = earlier.results / "models" / "vae" / "weights.pt"
    architecture = {**base_config()["chianese"]["vae"]["architecture"], "base_width": 8}
    torch.save(VAE(**architecture).state_dict(), weights)
    vae_rule(run_rule, earlier, "reconstruct_galaxies", ValueError,
             f"{weights} does not fit the 'vae' architecture")


@pytest.mark.bad_input("truncated weights file")
def test_truncated_weights_file(run_rule, earlier):
    weights = earlier.results / "models" / "vae" / "weights.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    vae_rule(run_rule, earlier, "reconstruct_galaxies", ValueError,
             f"{weights} is not a readable weights file")


@pytest.mark.bad_input("hyperparameters naming an unknown model family")
def test_hyperparameters_naming_an_unknown_family(run_rule, earlier):
    path = earlier.results / "models" / "vae" / "hyperparameters.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "model": "vea"}))
    vae_rule(run_rule, earlier, "reconstruct_galaxies", ValueError,
             f"{path} names model family 'vea'; known families")


@pytest.mark.bad_input("truncated training checkpoint")
def test_truncated_training_checkpoint(run_rule, earlier, tmp_path):
    from galprior.models.checkpoint import save_checkpoint

    config = base_config()
    checkpoints = earlier.results / "checkpoints" / "vae-earlier"
    save_checkpoint(checkpoints, {"epoch": 1, "weights": {"w": np.ones(1000)}})
    last = checkpoints / "last.pt"
    last.write_bytes(last.read_bytes()[:300])
    vae = earlier.results / "models" / "vae"
    folder = earlier.results / "galaxies" / "simulated" / "chianese"
    run_rule("train_vae", ValueError, f"{last} is not a readable checkpoint", "delete it to train from scratch",
             input={"train": str(folder / "train.zarr"), "val": str(folder / "val.zarr")},
             output={"weights": str(vae / "weights.pt"), "hyperparameters": str(vae / "hyperparameters.json"),
                     "history": str(vae / "history.csv")},
             params={"architecture": config["chianese"]["vae"]["architecture"],
                     "training": config["chianese"]["vae"]["training"], "seed": config["seed"] + 3,
                     "device": "cpu", "checkpoint_dir": str(checkpoints)})


@pytest.mark.bad_input("latent prior whose covariance is not positive definite")
def test_latent_prior_that_is_not_positive_definite(run_rule, earlier):
    config = base_config()
    vae = earlier.results / "models" / "vae"
    path = vae / "latent_prior.npz"
    with np.load(path) as data:
        arrays = dict(data)
    covariance = np.eye(len(arrays["mean"]))
    covariance[0, 1] = covariance[1, 0] = 2.0  # eigenvalue -1
    np.savez(path, **{**arrays, "covariance": covariance})
    run_rule("infer_map", ValueError, f"{path}: covariance is not positive definite (smallest eigenvalue -1",
             input={"mocks": str(earlier.results / "lenses/chianese_mocks.zarr"), "weights": str(vae / "weights.pt"),
                    "hyperparameters": str(vae / "hyperparameters.json"), "prior": str(path)},
             output={"map": str(earlier.results / "inference/chianese_map.zarr")},
             params={"priors": config["priors"], "seed": config["seed"] + 4, "device": "cpu",
                     "inference": {key: config["chianese"][key] for key in ("inference", "paper_inference", "map")}})


@pytest.mark.bad_input("CatSim catalogue lacking a band column")
def test_catsim_catalogue_lacking_a_band_column(run_rule, earlier, tmp_path):
    from astropy.table import Table

    from galprior.data.catsim import draw_catsim_catalogue

    table = draw_catsim_catalogue(50, 20.0, 24.0, seed=0)
    table.remove_column("r_ab")
    path = tmp_path / "OneDegSq.fits"
    Table(table).write(path)
    config = base_config()
    nguyen = copy.deepcopy(config["nguyen"])
    nguyen["catalogue"].update(source="file", file=str(path))
    run_rule("prepare_blends", ValueError, f"{path}: not a CatSim catalogue, missing columns ['r_ab']",
             input={"catalogue": str(path)},
             output={"shard": str(earlier.results / "nguyen/blends/lsst/shards/train-0.zarr")},
             params={"nguyen": nguyen, "seed": config["seed"] + 20},
             wildcards={"survey": "lsst", "split": "train", "shard": "0"})


@pytest.mark.bad_input("disk full while a split is written")
def test_disk_full_while_a_split_is_written(run_rule, earlier, monkeypatch):
    """The store is written to its temporary, then the disk is full: the earlier split stays
    and no temporary is left beside it."""
    from galprior.store import base as store_base

    real_append = store_base.StoreWriter.append  # the split is written shard by shard

    def fill_the_disk(self, part):
        real_append(self, part)
        raise OSError(errno.ENOSPC, "No space left on device", str(self._root.store.root))

    monkeypatch.setattr(store_base.StoreWriter, "append", fill_the_disk)
    split_shards(run_rule, earlier, OSError, "No space left on device", ".train.zarr.tmp-")
    folder = earlier.results / "galaxies" / "simulated" / "chianese"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "a temporary was left"


# -- the catalogue -----------------------------------------------------------------------
def test_the_catalogue_is_counted_from_its_collected_cases():
    """The cases are the collected tests of this module marked ``bad_input`` (pytest's own
    collection), each naming a distinct bad input; docs/development.md's count is this count."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "bad_input",
                             "-p", "no:cacheprovider", str(Path(__file__))],
                            cwd=REPO, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
    cases = [line for line in result.stdout.splitlines() if "::test_" in line]
    assert result.returncode == 0 and cases, result.stdout[-3000:] + result.stderr[-3000:]
    import inspect

    module = sys.modules[__name__]
    described = [mark.args[0] for name, function in inspect.getmembers(module, inspect.isfunction)
                 if name.startswith("test_") for mark in getattr(function, "pytestmark", [])
                 if mark.name == "bad_input"]
    assert len(cases) == len(described) == len(set(described)) >= 25, (cases, described)
