"""Every rule of the Adam et al. 2022 system through the CI preset (slow: a few minutes)."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ci_preset_runs_every_adam_rule(tmp_path):
    command = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(REPO / "Snakefile"),
               "--cores", "2", "--directory", str(tmp_path), "--configfile",
               str(REPO / "config" / "presets" / "ci.yaml"), "--config", "systems=[adam]"]
    result = subprocess.run(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-6000:]
    results = tmp_path / "results"
    summary = pd.read_csv(results / "tables/adam/sde_summary.csv")
    assert {"system", "solver", "n_steps", "n_samples", "chi2_nu_median", "wall_time_s"} <= set(summary.columns)
    # the CI preset's 2 systems x (3 solvers with the true lens + 1 with the MAP lens)
    assert set(summary["lens"]) == {"known", "map"} and len(summary) == 2 * 4
    for name in ("score_training", "prior_samples", "fig1_system0", "fig1_system1", "fig2_ood", "fig3_gallery",
                 "known_vs_map_lens", "mock_lenses"):
        assert (results / "figures/adam" / f"{name}.png").stat().st_size > 10_000
    for rule in ("train_score_model", "sample_score_prior", "infer_sde", "infer_sde_map_lens", "infer_ood",
                 "evaluate_sde"):
        assert (results / "benchmarks" / rule).is_dir()
