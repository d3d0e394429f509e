"""Every rule of the Adam et al. 2022 system, in the session's run of the CI preset."""

import pandas as pd
import pytest


@pytest.mark.workflow
def test_ci_preset_runs_every_adam_rule(ci_run):
    results = ci_run / "results"
    summary = pd.read_csv(results / "tables/adam/sde_summary.csv")
    assert {"system", "solver", "n_steps", "n_samples", "chi2_nu_median", "wall_time_s"} <= set(summary.columns)
    # the CI preset's 2 systems x (3 solvers with the true lens + 1 with the MAP lens)
    assert set(summary["lens"]) == {"known", "map"} and len(summary) == 2 * 4
    for name in ("score_training", "prior_samples", "fig1_system0", "fig1_system1", "fig2_ood", "fig3_gallery",
                 "known_vs_map_lens", "mock_lenses"):
        assert (results / "figures/adam" / f"{name}.png").stat().st_size > 10_000
    for rule in ("prepare_score_galaxies", "train_score_model", "sample_score_prior", "infer_sde",
                 "infer_sde_map_lens", "infer_ood", "evaluate_sde"):
        assert (results / "logs" / rule).is_dir(), rule
