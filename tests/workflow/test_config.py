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
def test_every_preset_lists_its_dag(tmp_path, preset):
    if preset.endswith("paper.yaml"):
        # the paper preset reads the user's own CatSim catalogue (it cannot be fetched here);
        # a dry run only needs the file to exist
        catalogue = tmp_path / yaml.safe_load((ROOT / preset).read_text())["nguyen"]["catalogue"]["file"]
        catalogue.parent.mkdir(parents=True, exist_ok=True)
        catalogue.touch()
        # and the user's PROBES cut-outs (galprior.config.missing_inputs: a FITS file of the band)
        probes = tmp_path / yaml.safe_load((ROOT / preset).read_text())["adam"]["probes"]["directory"]
        probes.mkdir(parents=True, exist_ok=True)
        (probes / "PROBES_0000_g.fits").touch()
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
    result = dry_run(tmp_path, config={"galaxies": {"source": "cosmos",
                                                    "cosmos": {"directory": str(missing)}}})
    assert result.returncode != 0
    assert "galaxies.cosmos.directory" in result.stdout
    assert str(missing) in result.stdout


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
