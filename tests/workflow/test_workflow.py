"""The whole DAG on the CI preset, the real COSMOS sample through the workflow, and
failures that stop with a message and leave earlier outputs alone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from galprior import __version__
from galprior.store import (GalaxySet, MapResultSet, MockLensSet, PosteriorSampleSet,
                                 ReconstructionSet, ScoreLensSet)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "cosmos_example"
EXAMPLE_CATALOGUE = "real_galaxy_catalog_26_extension_example.fits"
needs_cosmos = pytest.mark.shared_data

STORES = {
    "galaxies/simulated/chianese/test.zarr": GalaxySet,
    "galaxies/simulated/lanusse/train.zarr": GalaxySet,
    "lenses/chianese_mocks.zarr": MockLensSet,
    "lenses/score_mocks.zarr": ScoreLensSet,
    "models/vae/reconstructions.zarr": ReconstructionSet,
    "inference/chianese_map.zarr": MapResultSet,
    "inference/chianese_posterior.zarr": PosteriorSampleSet,
}


@pytest.mark.workflow
def test_ci_preset_writes_every_store_figure_and_table(ci_run):
    results = ci_run / "results"
    for relative, layout in STORES.items():
        store = layout.load(results / relative)
        assert store.attrs["galprior_version"] == __version__
        assert store.attrs["config_hash"]
    figures = sorted((results / "figures").rglob("*.png"))
    assert len(figures) >= 10
    for figure in figures:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    recovery = pd.read_csv(results / "tables/chianese/lens_recovery.csv")
    assert {"truth", "map", "q16", "q84", "in68", "reduced_chi2", "snr"} <= set(recovery)
    assert len(recovery) == 2 * 3 * 10  # systems x noise levels x (8 lens parameters + lens_e1, lens_e2)
    assert {"lens_e1", "lens_e2"} <= set(recovery["parameter"]) and recovery["ess"].notna().any()
    snr = pd.read_csv(results / "tables/chianese/table1_snr.csv")
    assert (snr.groupby("system")["snr"].apply(lambda s: s.is_monotonic_increasing)).all()
    provenance = yaml.safe_load((results / "tables/provenance.yaml").read_text())
    assert provenance["galprior_version"] == __version__
    assert (results / "models/vae/hyperparameters.json").exists()
    assert list((results / "logs").glob("*/*.log"))


@pytest.mark.workflow
def test_ci_preset_runs_every_rule_of_every_system(ci_run, snakemake_command):
    """One end-to-end run covers the whole workflow: every rule but the opt-in ones
    (downloads, and the real-DES rules that need the user's files) wrote its log."""
    listed = subprocess.run([*snakemake_command, "--list-rules"], cwd=ci_run, capture_output=True,
                            text=True, timeout=120, check=True).stdout.split()
    opt_in = {"all", "download_cosmos"} | {r for r in listed if "des_real" in r or r.endswith("real_des")}
    ran = {p.name for p in (ci_run / "results" / "logs").iterdir()}
    missing = sorted(set(listed) - opt_in - ran)
    assert not missing, f"rules that the CI preset never ran: {missing}"
    assert {"chianese", "adam", "nguyen", "lanusse"} <= {p.name for p in (ci_run / "results" / "figures").iterdir()}


def _overlay(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _cosmos_config(directory: Path) -> dict:
    """The cosmos_example preset, pointed at ``directory`` by an absolute path."""
    return {"galaxies": {"cosmos": {product: {"directory": str(directory)}
                                    for product in ("chianese", "lanusse")}}}


def _run(snakemake_command, workdir: Path, overlay: Path, *targets: str,
         presets: tuple[str, ...] = ("ci.yaml", "cosmos_example.yaml")):
    folder = Path(__file__).resolve().parents[2] / "config" / "presets"
    command = [*snakemake_command, *targets, "--cores", "2", "--directory", str(workdir),
               "--configfile", *(str(folder / name) for name in presets), str(overlay)]
    return subprocess.run(command, cwd=workdir, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=900)


@pytest.mark.workflow
def test_another_seed_trains_in_its_own_checkpoint_folder(tmp_path, snakemake_command):
    """A new master seed reruns the training, from scratch, in a checkpoint folder of its own.

    The folders were named by the settings without the seed: the rerun met the old run's
    checkpoint, which the VAE refused (the workflow stopped) and the score model resumed
    (the old seed's model stood in for the new one)."""
    for seed in (1, 2):
        result = _run(snakemake_command, tmp_path, _overlay(tmp_path, {"seed": seed}),
                      "results/models/vae/weights.pt", presets=("ci.yaml",))
        assert result.returncode == 0, result.stdout[-4000:]
        log = (tmp_path / "results/logs/train_vae/all.log").read_text()
        assert "training from scratch" in log and "resumed" not in log, log[-2000:]
    folders = [p.name for p in (tmp_path / "results/checkpoints").iterdir()]
    assert len(folders) == 2 and all(name.startswith("vae-") for name in folders)


@pytest.mark.workflow
@needs_cosmos
def test_real_cosmos_sample_gives_stores_of_the_simulated_layout(tmp_path, snakemake_command):
    overlay = _overlay(tmp_path, _cosmos_config(SHARED))
    targets = [f"results/figures/galaxies/{source}_{product}.png"
               for source in ("cosmos", "simulated") for product in ("chianese", "lanusse")]
    result = _run(snakemake_command, tmp_path, overlay, *targets)
    assert result.returncode == 0, result.stdout[-4000:]
    for product in ("chianese", "lanusse"):
        real = GalaxySet.load(tmp_path / f"results/galaxies/cosmos/{product}/test.zarr")
        fake = GalaxySet.load(tmp_path / f"results/galaxies/simulated/{product}/test.zarr")
        assert real.images.shape[1:] == fake.images.shape[1:]
        assert real.psf.shape[1:] == fake.psf.shape[1:]
        assert set(real.attrs) == set(fake.attrs)
        assert real.attrs["noiseless_is_truth"] is False and fake.attrs["noiseless_is_truth"]
        assert list(real.properties.columns) == list(fake.properties.columns)


@pytest.mark.workflow
@needs_cosmos
def test_corrupted_fits_stops_naming_the_file_and_keeps_earlier_outputs(tmp_path,
                                                                       snakemake_command):
    broken = tmp_path / "broken_cosmos"
    shutil.copytree(SHARED, broken, copy_function=shutil.copyfile)  # writable copies
    broken.chmod(0o755)  # copytree keeps the read-only mode of the shared/ folder
    images = broken / "real_galaxy_images_extension.fits"
    images.write_bytes(images.read_bytes()[:5000] + b"\x00garbage" * 100)
    overlay = _overlay(tmp_path, _cosmos_config(broken))
    earlier = "results/figures/galaxies/simulated_lanusse.png"
    assert _run(snakemake_command, tmp_path, overlay, earlier).returncode == 0
    before = {p: p.read_bytes() for p in (tmp_path / "results/galaxies").rglob("*") if p.is_file()}

    result = _run(snakemake_command, tmp_path, overlay,
                  "results/galaxies/cosmos/lanusse/test.zarr")
    assert result.returncode != 0
    logs = (tmp_path / "results/logs/prepare_galaxies").glob("cosmos_lanusse_shard*.log")
    assert any("real_galaxy_images_extension.fits" in log.read_text() for log in logs)
    after = {p: p.read_bytes() for p in (tmp_path / "results/galaxies").rglob("*") if p.is_file()}
    assert after == before  # the simulated stores are untouched, no cosmos store appeared


@pytest.mark.workflow
def test_the_scorecard_has_every_systems_headlines(ci_run):
    """rule tabulate_scorecard: one row per headline number, at least three per system."""
    from galprior.metrics.scorecard import COLUMNS, read_scorecard

    card = read_scorecard(ci_run / "results" / "tables" / "scorecard.csv")
    assert list(card.columns) == list(COLUMNS)
    assert (card["system"].value_counts() >= 3).all()
    assert set(card["system"]) == {"chianese", "adam", "nguyen", "lanusse"}
    assert set(card["meets"]) <= {"yes", "no", "n/a"}
