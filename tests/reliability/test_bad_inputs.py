"""The bad-input catalogue: every bad input refused by name, earlier outputs untouched.

Each test feeds one named bad input to the code a rule runs (or to the workflow's
start-up checks: the schema, ``galprior.config.check_config`` and
``check_resources``, exactly as the Snakefile calls them), checks that the error names
the offending key, file or value and what was expected, and checks that a folder of
earlier outputs (a complete store, a model, a table) is byte-for-byte and
mtime-for-mtime unchanged. ``BAD_INPUTS`` names them all (docs/development.md counts them).
"""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
import yaml
from astropy.io import fits
from astropy.table import Table

from galprior.config import ConfigError, check_config, check_resources
from galprior.store import ArraySpec, Store, StoreError
from galprior.store import base as store_base

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SHARED = REPO.parent / "shared" / "data"
COSMOS_EXAMPLE = SHARED / "cosmos_example"
CATALOGUE = "real_galaxy_catalog_26_extension_example.fits"
COSMOS_OPTIONS = {"catalogue_file": CATALOGUE, "mag_column": "MAG", "redshift_column": "ZPHOT",
                  "hlr_column": None, "exclusion_level": "none"}
needs_cosmos = pytest.mark.shared_data


# -- a toy layout and a folder of earlier outputs --------------------------------------
@dataclass
class ToySet(Store):
    """A two-array layout for the store tests (not a layout of the workflow)."""

    LAYOUT: ClassVar[str] = "toy_set"
    LAYOUT_VERSION: ClassVar[int] = 3
    ENTRY_AXIS: ClassVar[str] = "N"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("images", ("N", "H", "W"), "float32", "image", "toy images"),
        ArraySpec("flux", ("N",), "float64", "1", "toy fluxes"),
    )
    images: np.ndarray
    flux: np.ndarray


@dataclass
class OtherSet(ToySet):
    LAYOUT: ClassVar[str] = "other_set"


def toy(n: int = 3, value: float = 1.0) -> ToySet:
    return ToySet(images=np.full((n, 4, 4), value, np.float32), flux=np.arange(n, dtype=np.float64))


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Content hash and mtime of every file under ``folder``."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def earlier(tmp_path):
    """A results folder with outputs of an earlier run; yields a check that nothing changed."""
    results = tmp_path / "results"
    toy().save(results / "galaxies" / "toy.zarr", seed=1, config={"a": 1})
    (results / "tables").mkdir(parents=True)
    (results / "tables" / "table.csv").write_text("a,b\n1,2\n")
    before = snapshot(results)

    def unchanged():
        assert snapshot(results) == before, "an earlier output was modified"

    unchanged.results = results
    return unchanged


# -- the configuration as the Snakefile checks it at start-up ---------------------------
def base_config() -> dict:
    """config/config.yaml with the CI preset over it (the test suite's configuration)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    preset = yaml.safe_load((REPO / "config" / "presets" / "ci.yaml").read_text()) or {}

    def merge(a, b):
        for key, value in b.items():
            a[key] = merge(a.get(key, {}), value) if isinstance(value, dict) and isinstance(a.get(key), dict) else value
        return a

    return merge(config, preset)


def start_up(config: dict) -> None:
    """What the Snakefile runs before building the DAG."""
    from snakemake.utils import validate

    validate(config, str(SCHEMA))
    check_config(config)
    check_resources(config, RULES)


RULES = sorted({line.split()[1].rstrip(":") for smk in (REPO / "workflow" / "rules").glob("*.smk")
                for line in smk.read_text().splitlines() if line.startswith("rule ")})


def with_value(dotted: str, value) -> dict:
    config = copy.deepcopy(base_config())
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return config


def refused(config: dict, *words: str) -> str:
    from snakemake.exceptions import WorkflowError

    with pytest.raises((WorkflowError, ConfigError, ValueError)) as err:
        start_up(config)
    message = str(err.value)
    for word in words:
        assert word in message, f"{word!r} not in the message:\n{message}"
    return message


def test_base_configuration_passes():
    start_up(base_config())  # the catalogue below changes one thing at a time


def test_misspelt_top_level_key(earlier):
    config = base_config()
    config["sed"] = 3
    refused(config, "'sed' was unexpected")
    earlier()


def test_misspelt_nested_key(earlier):
    refused(with_value("chianese.mocks.n_system", 4), "n_system")
    earlier()


def test_wrong_type_of_a_key(earlier):
    refused(with_value("galaxies.n_shards", "four"), "'four' is not of type 'integer'", "n_shards")
    earlier()


def test_negative_split_size(earlier):
    refused(with_value("galaxies.split_sizes.chianese", {"train": -5, "val": 2, "test": 2}),
            "-5", "train")
    earlier()


def test_zero_noise_level(earlier):
    refused(with_value("chianese.mocks.noise_sigma", [0.1, 0.0]), "noise_sigma", "0.0")
    earlier()


def test_empty_noise_level_list(earlier):
    refused(with_value("chianese.mocks.noise_sigma", []), "noise_sigma", "[]")
    earlier()


def test_vae_image_size_differs_from_the_galaxy_stamps(earlier):
    config = with_value("chianese.vae.architecture.image_size", 48)
    refused(config, "chianese.vae.architecture.image_size (48)", "galaxies.chianese.output_size")
    earlier()


def test_hmc_system_that_does_not_exist(earlier):
    refused(with_value("chianese.hmc.systems", [0, 99]), "chianese.hmc.systems", "system 99")
    earlier()


def test_resources_for_a_rule_that_does_not_exist(earlier):
    config = base_config()
    config["resources"] = {**config["resources"], "train_vea": {"mem_mb": 10}}
    refused(config, "['train_vea']", "name no rule")
    earlier()


def test_cosmos_source_without_a_folder(earlier):
    """One error listing each product's missing sample: what it is, its key, how to get it."""
    message = refused(with_value("galaxies.extra_sources", ["cosmos"]),
                      "2 input(s) of this configuration are missing",
                      "galaxies.cosmos.chianese.directory is null",
                      "the COSMOS F814W < 23.5 training sample of Chianese et al. 2020",
                      "galaxies.cosmos.chianese.download: true",
                      "galsim_download_cosmos -s 23.5 -d resources/",
                      "https://zenodo.org/records/3242143/files/COSMOS_23.5_training_sample.tar.gz",
                      "galaxies.cosmos.lanusse.directory is null",
                      "the COSMOS F814W < 25.2 training sample of Lanusse et al. 2021",
                      "galsim_download_cosmos -s 25.2 -d resources/")
    assert message.count("\n- ") == 2, message
    earlier()


def test_missing_cosmos_folder(earlier, tmp_path):
    config = with_value("galaxies.extra_sources", ["cosmos"])
    config["galaxies"]["products"] = ["lanusse"]
    config["galaxies"]["cosmos"]["lanusse"]["directory"] = str(tmp_path / "nowhere")
    refused(config, "galaxies.cosmos.lanusse.directory", str(tmp_path / "nowhere"),
            "is not a directory", "F814W < 25.2")
    earlier()


def test_cosmos_folder_without_its_catalogue_files(earlier, tmp_path):
    """The catalogue, its _fits file and (for GalSim's 'marginal') its _selection file: one
    message each."""
    (tmp_path / "cosmos").mkdir()
    config = with_value("galaxies.extra_sources", ["cosmos"])
    config["galaxies"]["products"] = ["lanusse"]
    config["galaxies"]["cosmos"]["lanusse"]["directory"] = str(tmp_path / "cosmos")
    message = refused(config, "3 input(s)", "galaxies.cosmos.lanusse.catalogue_file",
                      "real_galaxy_catalog_25.2.fits does not exist",
                      "real_galaxy_catalog_25.2_fits.fits does not exist",
                      "real_galaxy_catalog_25.2_selection.fits does not exist",
                      "galaxies.cosmos.lanusse.exclusion_level 'marginal' reads")
    assert message.count("\n- ") == 3, message
    earlier()


@needs_cosmos
def test_cosmos_folder_without_the_selection_file_its_cut_reads(earlier, tmp_path):
    directory = cosmos_copy(tmp_path)
    (directory / "real_galaxy_catalog_25.2_format_selection.fits").unlink()
    config = with_value("galaxies.extra_sources", ["cosmos"])
    for product, level in (("chianese", "viable_sersic"), ("lanusse", "marginal")):
        config["galaxies"]["cosmos"][product].update(
            directory=str(directory), catalogue_file="real_galaxy_catalog_25.2_format.fits",
            exclusion_level=level)
    message = refused(config, "1 input(s)", "real_galaxy_catalog_25.2_format_selection.fits",
                      "galaxies.cosmos.lanusse.exclusion_level 'marginal'")
    assert "chianese" not in message  # its cut reads no _selection file
    earlier()


def test_download_into_a_folder_not_named_after_a_sample(earlier, tmp_path):
    config = with_value("galaxies.extra_sources", ["cosmos"])
    config["galaxies"]["cosmos"]["lanusse"].update(download=True,
                                                   directory=str(tmp_path / "COSMOS_24_sample"))
    refused(config, "galaxies.cosmos.lanusse.directory", "COSMOS_24_sample",
            "COSMOS_25.2_training_sample", "COSMOS_23.5_training_sample")
    earlier()


def test_download_of_one_release_with_the_other_releases_catalogue(earlier, tmp_path):
    config = with_value("galaxies.extra_sources", ["cosmos"])
    config["galaxies"]["cosmos"]["chianese"].update(
        download=True, directory=str(tmp_path / "COSMOS_25.2_training_sample"))
    refused(config, "galaxies.cosmos.chianese.catalogue_file",
            "real_galaxy_catalog_23.5.fits is not in the 25.2 archive",
            "real_galaxy_catalog_25.2.fits")
    earlier()


def test_axis_ratio_prior_outside_zero_one(earlier, defaults):
    from galprior.lensing.priors import LensSourcePrior

    block = {**defaults["priors"], "axis_ratio": [0.5, 0.5, 0.0, 1.2]}
    with pytest.raises(ValueError, match=r"axis_ratio|\bq\b") as err:
        LensSourcePrior.from_config(block)
    assert "1.2" in str(err.value) or "(0, 1]" in str(err.value), str(err.value)
    earlier()


def test_split_sizes_larger_than_the_data(earlier):
    from galprior.data.splits import split_indices

    with pytest.raises(ValueError, match=r"not enough galaxies: the splits .*'train': 90.* need 100"):
        split_indices(50, {"train": 90, "val": 5, "test": 5}, seed=0)
    earlier()


def test_a_preset_for_a_system_whose_inputs_are_missing(earlier, tmp_path):
    """The workflow itself: the nguyen system with a CatSim file that is not there."""
    overlay = tmp_path / "overlay.yaml"
    missing = tmp_path / "OneDegSq_missing.fits"
    overlay.write_text(yaml.safe_dump({"systems": ["nguyen"], "output_dir": str(earlier.results),
                                       "nguyen": {"catalogue": {"source": "file", "file": str(missing)}}}))
    command = [str(Path(sys.executable).parent / "snakemake"), "-n", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(tmp_path), "--configfile", str(REPO / "config/presets/ci.yaml"), str(overlay)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert str(missing) in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]
    earlier()


# -- COSMOS files -------------------------------------------------------------------
def cosmos_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cosmos"
    shutil.copytree(COSMOS_EXAMPLE, target, copy_function=shutil.copyfile)
    target.chmod(0o755)
    return target


def read_all(directory: Path, **options):
    from galprior.data.cosmos import iter_cosmos_stamps

    for _ in iter_cosmos_stamps(directory, **{**COSMOS_OPTIONS, **options}):
        pass


@needs_cosmos
def test_unreadable_cosmos_catalogue(earlier, tmp_path):
    directory = cosmos_copy(tmp_path)
    (directory / CATALOGUE).write_bytes(b"this is not a FITS file" * 200)
    with pytest.raises(OSError, match=CATALOGUE):
        read_all(directory)
    earlier()


@needs_cosmos
def test_cosmos_catalogue_lacking_a_configured_column(earlier):
    with pytest.raises(KeyError, match="'MAG_F814W'"):
        read_all(COSMOS_EXAMPLE, mag_column="MAG_F814W")
    earlier()


@needs_cosmos
def test_truncated_cosmos_image_file(earlier, tmp_path):
    directory = cosmos_copy(tmp_path)
    images = directory / "real_galaxy_images_extension.fits"
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(OSError, match="real_galaxy_images_extension.fits"):
        read_all(directory)
    earlier()


def _edit_stamp(directory: Path, value) -> int:
    images = directory / "real_galaxy_images_extension.fits"
    with fits.open(images) as hdus:
        hdus[3].data[...] = value if np.isscalar(value) else hdus[3].data
        if not np.isscalar(value):
            hdus[3].data[5, 5] = np.nan
        hdus.writeto(images, overwrite=True)
    return int(fits.getdata(directory / CATALOGUE)["IDENT"][3])


@needs_cosmos
def test_cosmos_stamp_with_nan(earlier, tmp_path):
    directory = cosmos_copy(tmp_path)
    ident = _edit_stamp(directory, None)
    with pytest.raises(ValueError, match=f"IDENT={ident} in .*real_galaxy_images_extension.fits.*NaN"):
        read_all(directory)
    earlier()


@needs_cosmos
def test_cosmos_stamp_of_zeros(earlier, tmp_path):
    directory = cosmos_copy(tmp_path)
    ident = _edit_stamp(directory, 0.0)
    with pytest.raises(ValueError, match=f"IDENT={ident} in .*real_galaxy_images_extension.fits.*zero"):
        read_all(directory)
    earlier()


# -- stores -----------------------------------------------------------------------
def test_store_of_another_layout(earlier):
    with pytest.raises(StoreError, match="has layout 'toy_set', expected 'other_set'"):
        OtherSet.load(earlier.results / "galaxies" / "toy.zarr")
    earlier()


def test_store_of_an_older_layout_version(earlier, tmp_path):
    path = toy().save(tmp_path / "old.zarr")
    import zarr

    zarr.open_group(str(path), mode="r+").attrs["layout_version"] = 2
    with pytest.raises(StoreError, match=r"old.zarr was written with layout version 2 of 'toy_set'; "
                                         r"this version reads 3: rerun"):
        ToySet.load(path)
    earlier()


def test_store_missing_an_array(earlier, tmp_path):
    path = toy().save(tmp_path / "holed.zarr")
    shutil.rmtree(path / "flux")
    with pytest.raises(StoreError, match=r"holed.zarr lacks arrays \['flux'\]"):
        ToySet.load(path)
    earlier()


def test_store_left_incomplete_by_a_killed_writer(earlier, tmp_path):
    path = toy().save(tmp_path / "killed.zarr")
    import zarr

    del zarr.open_group(str(path), mode="r+").attrs["complete"]
    with pytest.raises(StoreError, match="killed.zarr is incomplete .*rerun the rule"):
        ToySet.load(path)
    earlier()


def test_store_data_of_the_wrong_dtype_is_not_written(earlier):
    with pytest.raises(StoreError, match="toy_set: array 'flux' has dtype int64, expected float64"):
        ToySet(images=np.zeros((2, 4, 4), np.float32), flux=np.zeros(2, np.int64))
    earlier()


def test_disk_full_during_a_store_write_leaves_the_previous_store(earlier, monkeypatch):
    target = earlier.results / "galaxies" / "toy.zarr"
    real_write = store_base.Store._write

    def fill_the_disk(self, tmp, attrs):
        real_write(self, tmp, attrs)  # most of the store is written ...
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))  # ... then the disk is full

    monkeypatch.setattr(store_base.Store, "_write", fill_the_disk)
    with pytest.raises(OSError, match="No space left on device"):
        toy(value=7.0).save(target)
    monkeypatch.undo()
    earlier()  # the previous store is byte-for-byte where it was
    assert ToySet.load(target).images.max() == 1.0
    assert sorted(p.name for p in target.parent.iterdir()) == ["toy.zarr"]  # no temporary left


# -- models, checkpoints, priors ----------------------------------------------------------
def _tiny_vae(**changes):
    from galprior.config import schema_defaults
    from galprior.models.vae.network import VAE

    architecture = {**schema_defaults()["chianese"]["vae"]["architecture"], "image_size": 16,
                    "base_width": 4, **changes}
    return VAE(**architecture)


def test_weights_of_another_architecture(earlier, tmp_path):
    from galprior.models.registry import load_model, save_model

    save_model(_tiny_vae(), tmp_path / "a")
    save_model(_tiny_vae(base_width=8), tmp_path / "b")
    shutil.copy(tmp_path / "b" / "weights.pt", tmp_path / "a" / "weights.pt")
    with pytest.raises(ValueError, match=r"a/weights.pt does not fit the 'vae' architecture"):
        load_model(tmp_path / "a")
    earlier()


def test_truncated_weights_file(earlier, tmp_path):
    from galprior.models.registry import load_model, save_model

    save_model(_tiny_vae(), tmp_path / "m")
    weights = tmp_path / "m" / "weights.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"m/weights.pt is not a readable weights file"):
        load_model(tmp_path / "m")
    earlier()


def test_truncated_training_checkpoint(earlier, tmp_path):
    from galprior.models.checkpoint import load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path, {"epoch": 3, "weights": {"w": torch.ones(1000)}})
    last = tmp_path / "last.pt"
    last.write_bytes(last.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"last.pt is not a readable checkpoint .*delete it"):
        load_checkpoint(tmp_path)
    earlier()


def test_hyperparameters_naming_an_unknown_family(earlier, tmp_path):
    from galprior.models.registry import load_model, save_model

    save_model(_tiny_vae(), tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "hyperparameters.json").read_text())
    (tmp_path / "m" / "hyperparameters.json").write_text(json.dumps({**meta, "model": "vea"}))
    with pytest.raises(ValueError, match=r"names model family 'vea'; known families"):
        load_model(tmp_path / "m")
    earlier()


def test_latent_prior_with_a_covariance_that_is_not_positive_definite(earlier, tmp_path):
    from galprior.models.vae.latent_prior import load_latent_prior, save_latent_prior

    path = tmp_path / "latent_prior.npz"
    covariance = np.diag([1.0, 1.0, 1.0])
    save_latent_prior(path, np.zeros(3), covariance)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["covariance"] = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # eigenvalue -1
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"latent_prior.npz: covariance is not positive definite "
                                         r"\(smallest eigenvalue -1"):
        load_latent_prior(path)
    earlier()


# -- inference inputs ----------------------------------------------------------------
def _posterior_inputs(defaults):
    from galprior.lensing.priors import LensSourcePrior
    from galprior.lensing.simulator import LensSimulator

    simulator = LensSimulator(n_pix=16, pixel_scale=0.1)
    return simulator, LensSourcePrior.from_config(defaults["priors"])


@pytest.mark.parametrize("observation, words", [
    (torch.zeros(2, 12, 12), ["observation", "(2, 12, 12)", "16"]),
    (torch.zeros(2, 16, 16, dtype=torch.int64), ["observation", "torch.int64", "floating"]),
    (torch.zeros(16, 16), ["observation", "(16, 16)", "(B, H, W)"]),
], ids=["wrong-shape", "wrong-dtype", "no-batch-axis"])
def test_observation_of_the_wrong_shape_or_dtype_given_to_inference(earlier, defaults, observation, words):
    from galprior.inference.potential import FlatPosterior

    simulator, priors = _posterior_inputs(defaults)
    decoder = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Unflatten(-1, (8, 8)))
    import pyro.distributions as dist

    latent = dist.MultivariateNormal(torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError) as err:
        FlatPosterior(observation, 0.1, simulator, decoder, latent, priors, n_whiten=8)
    for word in words:
        assert word in str(err.value), str(err.value)
    earlier()


# -- blends -----------------------------------------------------------------------
def test_btk_catalogue_lacking_a_band_column(earlier, tmp_path):
    from galprior.data.catsim import draw_catsim_catalogue, read_catsim_catalogue

    table = draw_catsim_catalogue(20, 20.0, 24.0, seed=0)
    table.remove_column("r_ab")
    path = tmp_path / "catalogue.fits"
    Table(table).write(path)
    with pytest.raises(ValueError, match=r"catalogue.fits: not a CatSim catalogue, missing columns \['r_ab'\]"):
        read_catsim_catalogue(path)
    earlier()


#: Every bad input of this module, as docs/development.md lists them.
BAD_INPUTS = [
    "misspelt top-level key", "misspelt nested key", "wrong-typed key", "negative split size",
    "noise level 0", "empty noise-level list", "VAE image size not the stamp size",
    "HMC system that does not exist", "resources for an unknown rule", "COSMOS source without a folder",
    "missing COSMOS folder", "COSMOS folder without its catalogue", "download folder not named after a sample",
    "axis-ratio prior outside (0, 1]", "split sizes larger than the data",
    "preset for a system whose inputs are missing", "unreadable COSMOS catalogue",
    "COSMOS catalogue lacking a configured column", "truncated COSMOS FITS file", "COSMOS stamp with NaN",
    "COSMOS stamp of zeros", "store of another layout", "store of an older layout version",
    "store missing an array", "store left incomplete", "store data of the wrong dtype",
    "disk full during a store write", "weights of another architecture", "truncated weights file",
    "truncated training checkpoint", "unknown model family", "non-positive-definite latent prior",
    "observation of the wrong shape", "observation of the wrong dtype", "observation without a batch axis",
    "BTK catalogue lacking a band column",
]


def test_the_catalogue_holds_at_least_25_bad_inputs():
    assert len(BAD_INPUTS) == len(set(BAD_INPUTS)) >= 25
