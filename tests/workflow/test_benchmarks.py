"""The benchmarks run on the outputs of the CI preset (tiny arguments)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.workflow  # reads the outputs of the session's CI-preset run

REPO = Path(__file__).resolve().parents[2]


def test_bench_inference_runs_on_workflow_outputs(ci_run, tmp_path):
    results = ci_run / "results"
    # the paper mode's 50 NUTS warm-up steps at tree depth 10 take minutes: tiny ones here
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(yaml.safe_dump({"chianese": {"paper_inference": {"num_warmup": 3, "max_tree_depth": 4}}}))
    command = [sys.executable, str(REPO / "benchmarks" / "bench_inference.py"),
               "--config", str(REPO / "config" / "presets" / "ci.yaml"), str(tiny),
               "--checkpoint", str(results / "models" / "vae"),
               "--mocks", str(results / "lenses" / "chianese_mocks.zarr"),
               "--modes", "paper", "--paper-adam-steps", "5", "--paper-samples", "5", "--sample", "0",
               "--threads", "2"]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]
    report = result.stdout[result.stdout.index("== mode paper"):]
    for word in ("MAP s", "r_Ein error", "min ESS (lens)"):
        assert word in report, report


def test_bench_flowvae_seeds_runs_on_workflow_galaxies(ci_run, tmp_path):
    """Two training seeds of the CI preset's Flow-VAE on its galaxies: a table and a spread."""
    galaxies = ci_run / "results" / "galaxies" / "simulated" / "lanusse"
    command = [sys.executable, str(REPO / "benchmarks" / "bench_flowvae_seeds.py"),
               "--seeds", "1", "2", "--galaxies", str(galaxies), "--out", str(tmp_path),
               "--configfile", str(REPO / "config" / "config.yaml"),
               str(REPO / "config" / "presets" / "ci.yaml")]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]
    table = pd.read_csv(tmp_path / "flowvae_seeds.csv")
    assert list(table["seed"]) == [1, 2] and table[["rel_diff_sigma", "rel_diff_abs_g"]].notna().all().all()
    assert "rel_diff_abs_g:" in result.stdout and "over 2 seeds" in result.stdout


def test_chianese_control_and_e0_run_on_workflow_outputs(ci_run):
    """Issue 32's E1 control (decoder-output mocks, truth-started mode included) and E0 (the
    fitted s against the mock recipe) on the CI preset's VAE and stores, tiny settings."""
    results = ci_run / "results"
    configs = [str(REPO / "config" / "config.yaml"), str(REPO / "config" / "presets" / "ci.yaml")]
    tiny = ('{"n_restarts": 2, "n_candidates": 4, "screen_steps": 3, "n_steps_lens": 3, "n_steps_all": 3, '
            '"lbfgs_iterations": 3}')
    control = subprocess.run([sys.executable, str(REPO / "benchmarks" / "chianese_control.py"), "--results",
                              str(results), "--configfile", *configs, "--n-systems", "2", "--map", tiny,
                              "--truth-iterations", "3", "--threads", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert control.returncode == 0, control.stdout[-4000:]
    assert "E1 control" in control.stdout and "within 1 %:" in control.stdout, control.stdout[-2000:]
    e0 = subprocess.run([sys.executable, str(REPO / "benchmarks" / "chianese_e0.py"), "--results", str(results),
                         "--configfile", *configs],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert e0.returncode == 0, e0.stdout[-4000:]
    assert "s prior" in e0.stdout and "zoom" in e0.stdout, e0.stdout[-2000:]


def test_chianese_e2_runs_on_workflow_outputs(ci_run):
    """Issue 32's E2 (the best free-pixel source at the true lens) on the CI preset's mocks."""
    e2 = subprocess.run([sys.executable, str(REPO / "benchmarks" / "chianese_e2.py"), "--results",
                         str(ci_run / "results"), "--iterations", "10", "--factors", "1.0", "0.5"],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert e2.returncode == 0, e2.stdout[-4000:]
    assert "below sqrt(2N)" in e2.stdout and "best grid per system" in e2.stdout, e2.stdout[-2000:]
