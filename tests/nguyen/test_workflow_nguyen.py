"""The Nguyen 2025 rules end to end on the CI preset, with the options the default run leaves off.

The CI run of the whole DAG (tests/workflow) covers the default (LSST-trained networks, empty
DES u band). This run switches to networks trained on DES-like simulations and adds real
DES data made here, so that every Nguyen rule runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.workflow
def test_des_training_and_real_des_through_the_ci_preset(tmp_path, write_des_files):
    catalogue, cutouts = write_des_files(tmp_path, True)
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"systems": ["nguyen"], "nguyen": {
        "des": {"u_band": "des_training", "real": {"catalogue": str(catalogue), "cutouts": str(cutouts)}},
        "blends": {"sizes": {"des": {"train": 48, "val": 16}}}}}))
    results = tmp_path / "results"
    command = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--cores", "2",
               "--directory", str(tmp_path), "--configfile", str(REPO / "config" / "presets" / "ci.yaml"), str(extra),
               "--config", f"output_dir={results}", "--", str(results / "tables" / "nguyen" / "deblending_metrics.csv"),
               str(results / "figures" / "nguyen" / "fig15_17_ellipticity_des_real.png"),
               str(results / "figures" / "nguyen" / "fig22_23_losses_des.png")]
    run = subprocess.run(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-5000:]
    table = pd.read_csv(results / "tables" / "nguyen" / "deblending_metrics.csv")
    assert set(table["survey"]) == {"lsst", "des", "des_real"}
    assert set(table["stage"]) == {"t1", "t2"}
    real = table[table["survey"] == "des_real"]
    assert real["ssim_mean"].isna().all() and (real["n"] == 2).all()
    assert (results / "models" / "nguyen" / "des" / "t3" / "weights.pt").is_file()
