"""The PROBES route of Adam et al. 2022 through the rules: PROBES-format files written by the test
(<galaxy>_<band>.fits and EXTNAME bands), the paper's smith2022 units and a source size above 64
(128, above the 64-pixel crop too: the galaxies are resampled up once, by rule prepare_score_galaxies)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from galprior.store import (OodSampleSet, ScoreGalaxySet, ScoreLensSet, ScorePriorSampleSet, SdeEvaluationSet,
                            SdePosteriorSet)

ROOT = Path(__file__).resolve().parents[2]
SIZE = 128


@pytest.mark.workflow
def test_probes_route_at_128_squared_through_the_rules(tmp_path, write_probes):
    probes = write_probes(tmp_path / "probes", n_galaxies=9, size=80, n_extname=2)
    override = {
        "systems": ["adam"],
        "adam": {
            "training_product": "probes", "normalisation": "smith2022", "source_size": SIZE,
            "probes": {"directory": str(probes), "crop": 64, "split_sizes": {"val": 2, "test": 2}},
            "mocks": {"n_systems": 2, "n_render": 64, "field_of_view": 5.12, "noise_reference": "brightness_unit"},
            "unknown_lens": {"enabled": False},
            # a 128^2 source is above the dense spectrum's 64^2 limit of the exact and Tweedie forms
            "sde": {"solvers": ["euler_maruyama", "imex_euler_maruyama"], "likelihood": {"covariance": "identity"}},
            "ood": {"solver": "euler_maruyama", "n_samples": 1},
        },
    }
    (tmp_path / "override.yaml").write_text(yaml.safe_dump(override))
    results = tmp_path / "results"
    targets = [results / "tables/adam/sde_summary.csv", results / "figures/adam/fig2_ood.png",
               results / "figures/adam/prior_samples.png", results / "figures/adam/fig3_gallery.png",
               results / "figures/adam/mock_lenses.png"]
    command = [sys.executable, "-m", "snakemake", *(str(t.relative_to(tmp_path)) for t in targets), "--snakefile", str(ROOT / "Snakefile"),
               "--cores", "1", "--directory", str(tmp_path), "--configfile", str(ROOT / "config/presets/ci.yaml"),
               str(tmp_path / "override.yaml")]
    result = subprocess.run(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=1200)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "prepare_galaxies" not in result.stdout   # no galaxy product is made on this route

    splits = {s: ScoreGalaxySet.load(results / f"galaxies/score/{s}.zarr") for s in ("train", "val", "test")}
    assert {s: len(g) for s, g in splits.items()} == {"train": 5, "val": 2, "test": 2}
    for galaxies in splits.values():
        assert galaxies.images.shape[1:] == (SIZE, SIZE) and galaxies.attrs["normalisation"] == "smith2022"
        assert galaxies.images.min() >= -1 and galaxies.images.max() <= 1
    names = sum((g.attrs["names"] for g in splits.values()), [])
    assert sorted(names) == [f"PROBES_{i:04d}" for i in range(9)]   # both file layouts, each galaxy once

    # the mock sources are the held-out test galaxies as brightness, at the prior's resolution
    mocks = ScoreLensSet.load(results / "lenses/score_mocks.zarr")
    np.testing.assert_allclose(mocks.sources, (splits["test"].images[mocks.galaxy_index] + 1) / 2, atol=1e-7)
    np.testing.assert_allclose(mocks.noise_sigma, 0.01)
    # the prior's samples are compared with the training galaxies, same size and units
    prior = ScorePriorSampleSet.load(results / "models/score/prior_samples.zarr")
    np.testing.assert_array_equal(prior.training, splits["train"].images[:len(prior.training)])
    assert prior.samples.shape[1:] == (SIZE, SIZE)
    # posterior samples and the evaluation's truth at the same resolution as the mock sources
    run = SdePosteriorSet.load(results / "inference/adam/sde_euler_maruyama_known.zarr")
    assert run.samples.shape[:1] + run.samples.shape[2:] == (2, SIZE, SIZE) and np.isfinite(run.samples).all()
    evaluation = SdeEvaluationSet.load(results / "inference/adam/evaluation.zarr")
    np.testing.assert_array_equal(evaluation.truth, mocks.sources)
    summary = pd.read_csv(results / "tables/adam/sde_summary.csv")
    assert set(summary["solver"]) == {"euler_maruyama", "imex_euler_maruyama"} and len(summary) == 4
    ood = OodSampleSet.load(results / "inference/adam/ood.zarr")
    assert ood.attrs["solver"] == "euler_maruyama" and ood.samples.shape[-1] == SIZE
