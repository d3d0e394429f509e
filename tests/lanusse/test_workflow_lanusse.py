"""Every Lanusse et al. 2021 rule through the CI preset, and its outputs read back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from galprior.models.flowvae.galsim_profile import GenerativeGalaxyModel
from galprior.store import LatentSampleSet, MorphologySampleSet

REPO = Path(__file__).resolve().parents[2]
FIGURES = ("training", "fig1_samples", "fig4_latents", "fig5_reconstructions",
           "fig6_second_moments", "fig7_conditioning", "fig8_mid", "fig9_gini_m20_id")


@pytest.mark.workflow
@pytest.mark.slow  # a second CI-preset run; tests/workflow's one run covers the rules
def test_lanusse_rules_on_the_ci_preset(tmp_path):
    results = tmp_path / "results"
    targets = [str(results / "tables/lanusse/morphology_summary.csv"),
               str(results / "tables/lanusse/two_sample_tests.csv"),
               str(results / "models/lanusse/galsim_model.json"),
               *[str(results / f"figures/lanusse/{name}.png") for name in FIGURES]]
    command = [str(Path(sys.executable).parent / "snakemake"), "--snakefile",
               str(REPO / "Snakefile"), "--cores", "2", "--directory", str(tmp_path),
               "--configfile", str(REPO / "config/presets/ci.yaml"),
               "--config", f"output_dir={results}", "--", *targets]
    run = subprocess.run(command, cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-5000:]

    summary = pd.read_csv(results / "tables/lanusse/morphology_summary.csv")
    assert list(summary["sample"]) == ["cosmos", "parametric", "flowvae"]
    assert {"sample", "n", "mean_sigma", "mean_abs_g", "gini_mean", "m20_mean",
            "distance_to_cosmos"} <= set(summary.columns)
    samples = MorphologySampleSet.load(results / "lanusse/morphology_samples.zarr")
    assert samples.has_parametric and len(samples) == summary["n"].iloc[0]
    latents = LatentSampleSet.load(results / "models/lanusse/latents.zarr")
    assert latents.encoded.shape == latents.sampled.shape
    for name in FIGURES:
        png = (results / f"figures/lanusse/{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    model = GenerativeGalaxyModel.load("lanusse", directory=results / "models")
    profiles = model.sample({"mag": [23.0], "half_light_radius": [0.3], "redshift": [0.7]})
    assert profiles[0].flux > 0
