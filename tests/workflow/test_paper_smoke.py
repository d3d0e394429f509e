"""The paper preset end to end, on real-format inputs, with only its counts shrunk.

``config/presets/paper.yaml`` is what a researcher runs on a GPU cluster; here it runs on
2 CPU cores with ``config/presets/paper_smoke.yaml`` over it (counts only: galaxies,
blends, systems, epochs, steps, samples, batch sizes) and a third file that points the
inputs at small files in the published formats: the 100 real COSMOS galaxies in the
25.2 release's format (``../shared/data/cosmos_example``) for both papers' samples, the
100-row CatSim catalogue, and PROBES cut-outs and a DES im3shape catalogue with its
cutouts written by the test. Every rule of the paper preset's DAG must run (but the
COSMOS download, whose folders are given here), with the paper's architectures, stamp
sizes, cuts, solvers and inference modes.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from galprior.config import load_config

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
PAPER = ROOT / "config" / "presets" / "paper.yaml"
SMOKE = ROOT / "config" / "presets" / "paper_smoke.yaml"
TIMEOUT = 1500  # s; about 10 min on 2 idle cores

pytestmark = [pytest.mark.workflow, pytest.mark.shared_data]


def leaves(value, prefix=""):
    """Every leaf of a nested mapping as (dotted key, value)."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from leaves(sub, f"{prefix}{key}.")
    else:
        yield prefix[:-1], value


def test_the_smoke_preset_changes_only_counts():
    """Every key the smoke preset sets is a count (a size, a number of steps, epochs, samples,
    shards, systems or examples): nothing else of the paper preset changes."""
    counts = re.compile(r"(^|\.|_)(n_[a-z_]+|split_sizes\..*|sizes\..*|epochs(\..*)?|steps(\..*)?|"
                        r"[a-z_]*_steps|num_[a-z_]+|batch_size|max_batch|chunk_size|n_shards|"
                        r"n_restarts|lbfgs_iterations|checkpoint_every|warmup_steps|"
                        r"n_bootstrap|n_permutations|n_examples|n_galaxies|n_systems|n_proposals)$")
    smoke = yaml.safe_load(SMOKE.read_text())
    not_counts = [key for key, _ in leaves(smoke) if not counts.search(key)]
    assert not not_counts, f"the smoke preset changes settings that are not counts: {not_counts}"
    for key, value in leaves(smoke):
        assert isinstance(value, int) and not isinstance(value, bool) or value is None, (key, value)


def inputs_overlay(workdir: Path, write_probes, write_des_files) -> Path:
    """Where the paper preset's inputs are on this machine: small files in their formats."""
    probes = write_probes(workdir / "inputs" / "PROBES", n_galaxies=6, size=256, n_extname=1)
    des = workdir / "inputs" / "des"
    des.mkdir(parents=True)
    catalogue, cutouts = write_des_files(des, east_left=True)
    cosmos = {"directory": str(SHARED / "cosmos_example"), "download": False,
              "catalogue_file": "real_galaxy_catalog_25.2_format.fits"}
    inputs = {
        "galaxies": {"cosmos": {"chianese": cosmos, "lanusse": cosmos}},
        "nguyen": {"catalogue": {"file": str(SHARED / "catsim" / "sample_input_catalog.fits")},
                   "des": {"real": {"catalogue": str(catalogue), "cutouts": str(cutouts)}}},
        "adam": {"probes": {"directory": str(probes)}},
    }
    path = workdir / "inputs.yaml"
    path.write_text(yaml.safe_dump(inputs))
    return path


def paper_dag_rules(workdir: Path, snakemake_command, paper_inputs) -> set[str]:
    """The rules of the paper preset's own DAG (a dry run with stand-ins for its inputs)."""
    paper_inputs(workdir)
    result = subprocess.run([*snakemake_command, "-n", "--directory", str(workdir),
                             "--configfile", str(PAPER)], cwd=workdir, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    table = result.stdout.split("Job stats:", 1)[1]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, re.M)} - {"all", "total"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, snakemake_command, write_probes, write_des_files):
    workdir = tmp_path_factory.mktemp("paper_smoke")
    inputs = inputs_overlay(workdir, write_probes, write_des_files)
    command = [*snakemake_command, "--cores", "2", "--directory", str(workdir),
               "--configfile", str(PAPER), str(SMOKE), str(inputs)]
    result = subprocess.run(command, cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT)
    (workdir / "smoke.log").write_text(result.stdout)
    assert result.returncode == 0, result.stdout[-8000:]
    return workdir, load_config(ROOT / "config" / "config.yaml", PAPER, SMOKE, inputs, check=False)


def test_every_rule_of_the_paper_dag_runs(smoke_run, tmp_path, snakemake_command, paper_inputs):
    workdir, _ = smoke_run
    expected = paper_dag_rules(tmp_path, snakemake_command, paper_inputs) - {"download_cosmos"}
    ran = {p.name for p in (workdir / "results" / "logs").iterdir()}
    assert expected, "the paper preset's DAG has no rule"
    assert not expected - ran, f"rules of the paper DAG the smoke run never ran: {sorted(expected - ran)}"


def test_the_models_have_the_papers_sizes(smoke_run):
    """The networks trained are the paper preset's, not shrunk ones."""
    workdir, config = smoke_run
    models = workdir / "results" / "models"
    vae = json.loads((models / "vae" / "hyperparameters.json").read_text())
    assert vae["base_width"] == 64 and vae["latent_dim"] == 64 and vae["image_size"] == 64  # Tables D1-D2
    flowvae = json.loads((models / "lanusse" / "flowvae" / "hyperparameters.json").read_text())
    assert flowvae["n_stages"] == 7 and flowvae["max_depth"] == 512 and flowvae["latent_dim"] == 16  # Table 1
    score = json.loads((models / "score" / "hyperparameters.json").read_text())
    assert score["base_width"] == 128 and score["image_size"] == 256  # NCSN++ at 256^2
    assert config["adam"]["source_size"] == 256 and config["lanusse"]["image_size"] == 128


def test_the_tables_of_the_four_systems_are_written(smoke_run):
    workdir, config = smoke_run
    tables = workdir / "results" / "tables"
    recovery = pd.read_csv(tables / "chianese" / "lens_recovery.csv")
    assert set(recovery["system"]) == set(range(config["chianese"]["mocks"]["n_systems"]))
    assert len(pd.read_csv(tables / "adam" / "sde_summary.csv")) > 0
    metrics = pd.read_csv(tables / "nguyen" / "deblending_metrics.csv")
    assert {("lsst", "simulated"), ("des", "simulated"), ("des_real", "real")} <= set(
        zip(metrics["survey"], metrics["data"]))  # the report's real DES evaluation included
    assert len(pd.read_csv(tables / "lanusse" / "morphology_summary.csv")) > 0
