"""Configuration errors stop the workflow at start-up with a message naming the key."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]


def dry_run(tmp_path: Path, *configfiles: Path, config: dict | None = None):
    args = [*SNAKEMAKE, "-n", "--directory", str(tmp_path)]
    if config is not None:
        override = tmp_path / "override.yaml"
        override.write_text(yaml.safe_dump(config))
        configfiles = (*configfiles, override)
    if configfiles:
        args += ["--configfile", *map(str, configfiles)]
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120)


@pytest.mark.parametrize("preset", ["config/config.yaml", "config/presets/ci.yaml",
                                    "config/presets/paper.yaml"])
def test_every_preset_lists_its_dag(tmp_path, preset, paper_inputs):
    if preset.endswith("paper.yaml"):
        paper_inputs(tmp_path)
    result = dry_run(tmp_path, ROOT / preset)
    assert result.returncode == 0, result.stdout
    assert "prepare_galaxies" in result.stdout


@pytest.mark.parametrize(
    "config, named",
    [
        ({"galaxies": {"sourse": "cosmos"}}, "sourse"),
        ({"galaxies": {"chianese": {"snr_mni": 3}}}, "snr_mni"),
        ({"seed": "forty-two"}, "forty-two"),
        ({"galaxies": {"products": ["chianesse"]}}, "chianesse"),
    ],
)
def test_misspelt_key_or_wrong_type_stops_the_run_naming_it(tmp_path, config, named):
    result = dry_run(tmp_path, config=config)
    assert result.returncode != 0
    assert "Error validating config file" in result.stdout
    assert named in result.stdout


def test_missing_cosmos_directory_stops_the_run_naming_it(tmp_path):
    missing = tmp_path / "no-such-cosmos"
    result = dry_run(tmp_path, config={"galaxies": {"source": "cosmos", "products": ["lanusse"],
                                                    "cosmos": {"lanusse": {"directory": str(missing)}}}})
    assert result.returncode != 0
    assert "galaxies.cosmos.lanusse.directory" in result.stdout
    assert str(missing) in result.stdout


def test_paper_preset_without_the_cosmos_files_lists_each_missing_input(tmp_path, paper_inputs):
    """The paper preset with its downloads off and no COSMOS folders: one message per
    sample (what it is, the key that points at it, how to get it) at start-up."""
    paper_inputs(tmp_path)
    result = dry_run(tmp_path, ROOT / "config/presets/paper.yaml",
                     config={"galaxies": {"cosmos": {"chianese": {"download": False},
                                                     "lanusse": {"download": False}}}})
    assert result.returncode != 0
    out = result.stdout
    assert "2 input(s) of this configuration are missing" in out, out[-3000:]
    for product, release, paper in (("chianese", "23.5", "Chianese et al. 2020"),
                                    ("lanusse", "25.2", "Lanusse et al. 2021")):
        assert (f"galaxies.cosmos.{product}.directory: resources/COSMOS_{release}_training_sample "
                "is not a directory") in out
        assert f"the COSMOS F814W < {release} training sample of {paper}" in out
        assert f"galaxies.cosmos.{product}.download: true" in out
        assert f"galsim_download_cosmos -s {release} -d resources/" in out


def test_paper_preset_downloads_each_cosmos_sample(tmp_path, paper_inputs):
    """With downloads on (the preset), rule download_cosmos makes both releases' folders."""
    paper_inputs(tmp_path)
    result = dry_run(tmp_path, ROOT / "config/presets/paper.yaml")
    assert result.returncode == 0, result.stdout[-3000:]
    for release in ("23.5", "25.2"):
        assert f"resources/COSMOS_{release}_training_sample" in result.stdout


def test_lint_reports_nothing(tmp_path):
    result = subprocess.run([*SNAKEMAKE, "--lint", "--directory", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
    assert "Congratulations" in result.stdout + result.stderr


def test_a_resources_entry_naming_no_rule_stops_the_run(tmp_path):
    result = dry_run(tmp_path, config={"resources": {"train_vea": {"mem_mb": 1000}}})
    assert result.returncode != 0
    assert "train_vea" in result.stdout and "name no rule" in result.stdout


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_stops_at_start_up(tmp_path):
    result = dry_run(tmp_path, config={"device": "cuda"})
    assert result.returncode != 0
    assert "device: cuda, but no CUDA device is visible" in result.stdout


def test_device_auto_falls_back_to_cpu_and_says_so(caplog):
    import logging

    from galprior.device import resolve_device

    with caplog.at_level(logging.INFO, logger="galprior.device"):
        device = resolve_device("auto")
    if device.type == "cpu":
        assert "device: auto -> cpu (no CUDA device visible)" in caplog.text
    else:
        assert "device: auto -> cuda" in caplog.text


def test_the_configuration_reference_is_generated_from_the_schema_and_current():
    from galprior.config import schema_markdown, schema_defaults

    text = schema_markdown()
    on_disk = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert on_disk == text, ("docs/configuration.md is stale: "
                             ".venv/bin/python -m galprior.config > docs/configuration.md")
    # every leaf key of the defaults is documented
    def leaves(value, prefix=""):
        if isinstance(value, dict) and value:
            for key, sub in value.items():
                yield from leaves(sub, f"{prefix}{key}.")
        else:
            yield prefix[:-1]
    missing = [key for key in leaves(schema_defaults()) if f"`{key}`" not in text]
    assert not missing, f"keys with a default but no row: {missing}"


def test_the_paper_preset_names_every_missing_nguyen_input(tmp_path):
    """Without the CatSim catalogue and the real DES files, the paper preset lists each of them
    with its key and where to get it; with them present, nothing is missing."""
    from galprior.config import CATSIM_URL, load_config, missing_nguyen_inputs

    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "config" / "config.yaml", root / "config" / "presets" / "paper.yaml",
                         check=False)
    messages = missing_nguyen_inputs(config)
    assert len(messages) == 3, messages
    catsim, catalogue, cutouts = messages
    assert "nguyen.catalogue.file: resources/OneDegSq.fits does not exist" in catsim and CATSIM_URL in catsim
    assert "nguyen.des.real.catalogue: resources/des/im3shape_sva1.fits" in catalogue and "im3shape" in catalogue
    assert "nguyen.des.real.cutouts: resources/des/cutouts" in cutouts and "datalab.noirlab.edu" in cutouts
    (tmp_path / "OneDegSq.fits").write_bytes(b"")
    (tmp_path / "im3shape.fits").write_bytes(b"")
    (tmp_path / "cutouts").mkdir()
    config["nguyen"]["catalogue"]["file"] = str(tmp_path / "OneDegSq.fits")
    config["nguyen"]["des"]["real"].update(catalogue=str(tmp_path / "im3shape.fits"),
                                           cutouts=str(tmp_path / "cutouts"))
    assert missing_nguyen_inputs(config) == []
    config["systems"] = ["chianese"]
    config["nguyen"]["catalogue"]["file"] = str(tmp_path / "absent.fits")
    assert missing_nguyen_inputs(config) == []  # a system that does not run needs nothing
