"""Every Lanusse et al. 2021 rule in the session's run of the CI preset, and its outputs read back."""

from __future__ import annotations

import pandas as pd
import pytest

from galprior.models.flowvae.galsim_profile import GenerativeGalaxyModel
from galprior.store import LatentSampleSet, MorphologySampleSet

FIGURES = ("training", "fig1_samples", "fig4_latents", "fig5_reconstructions",
           "fig6_second_moments", "fig7_conditioning", "fig8_mid", "fig9_gini_m20_id")


@pytest.mark.workflow
def test_lanusse_rules_on_the_ci_preset(ci_run):
    """The Lanusse outputs of the session's run of the CI preset, read back."""
    results = ci_run / "results"
    summary = pd.read_csv(results / "tables/lanusse/morphology_summary.csv")
    assert list(summary["sample"]) == ["cosmos", "parametric", "flowvae"]
    assert {"sample", "n", "mean_sigma", "mean_abs_g", "gini_mean", "m20_mean",
            "distance_to_cosmos"} <= set(summary.columns)
    assert {f"{column}_{family}" for column in ("distance", "distance_low", "distance_high",
                                                "p_value", "n_for_power")
            for family in ("second_order", "gini_m20", "mid")} <= set(summary.columns)
    assert "difference_to_parametric_mid" in summary.columns
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
