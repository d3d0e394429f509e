"""The scorecard of the four papers, computed from tables whose answers are known, and the
results page made from a scorecard."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galprior.metrics.scorecard import COLUMNS, HEADLINES, read_scorecard, results_markdown, scorecard

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tables(tmp_path):
    """Small tables of the four systems in the layout the workflow writes them."""
    d = tmp_path / "tables"
    for system in ("chianese", "adam", "nguyen", "lanusse"):
        (d / system).mkdir(parents=True)
    errors = [0.001, -0.004, 0.008, 0.030, -0.002, 0.005, -0.015, 0.009]   # |.| median 0.0065
    rows = [{"system": s, "noise_sigma": 0.0333, "parameter": "einstein_radius", "truth": 2.0,
             "map_rel_error": e, "q16": 1.98, "q84": 2.02, "diagnostics_flag": np.nan}
            for s, e in enumerate(errors)]
    rows += [{"system": 0, "noise_sigma": 0.1, "parameter": "einstein_radius", "truth": 2.0,
              "map_rel_error": 0.02, "q16": np.nan, "q84": np.nan, "diagnostics_flag": np.nan},
             {"system": 1, "noise_sigma": 0.0333, "parameter": "slope", "truth": 2.0,
              "map_rel_error": 0.5, "q16": 1.0, "q84": 3.0, "diagnostics_flag": np.nan}]
    pd.DataFrame(rows).to_csv(d / "chianese/lens_recovery.csv", index=False)
    pd.DataFrame({"noise_sigma": [0.0333] * 2, "parameter": ["einstein_radius", "slope"],
                  "coverage68": [0.5, 1.0], "coverage95": [1.0, 1.0], "n_posteriors": [2, 6],
                  "n_flagged": [0, 0]}).to_csv(d / "chianese/interval_coverage.csv", index=False)
    pd.DataFrame({"system": range(3), "noise_sigma": [0.0333] * 3, "snr": [400.0, 803.0, 3000.0]}
                 ).to_csv(d / "chianese/table1_snr.csv", index=False)
    pd.DataFrame({"solver": ["euler_maruyama"] * 3 + ["heun"], "lens": ["known"] * 4,
                  "chi2_nu_source_pixels_median": [1.1, 1.3, 0.9, 9.0], "chi2_nu_median": [1.0] * 4,
                  "std_magnification_spearman": [-0.2, 0.1, -0.4, 0.9]}
                 ).to_csv(d / "adam/sde_summary.csv", index=False)
    pd.DataFrame({"quantity": ["flux", "size", "ellipticity"], "ks_statistic": [0.1, 0.12, 0.3]}
                 ).to_csv(d / "adam/prior_moments.csv", index=False)
    # Euler-Maruyama: coverage 0.5 and 0.6 against 0.62 with errors 0.03 and 0.04 -> z = -0.07 / 0.025
    pd.DataFrame({"system": [0, 1, 0, 0], "solver": ["euler_maruyama"] * 3 + ["imex_euler_maruyama"],
                  "lens": ["known"] * 4, "width_std": [1.0, 1.0, 2.0, 1.0], "coverage": [0.5, 0.6, 0.1, 0.61],
                  "expected": [0.62, 0.62, 0.9, 0.62], "mc_error": [0.03, 0.04, 0.01, 0.02]}
                 ).to_csv(d / "adam/pixel_coverage.csv", index=False)
    pd.DataFrame({"system": range(3), "eigenvalue_max": [1.5, 11.0, 3.0]}).to_csv(d / "adam/operator_checks.csv",
                                                                                 index=False)
    pd.DataFrame({"survey": ["lsst", "lsst"], "stage": ["t1", "t2"], "ssim_mean": [0.8, 0.931],
                  "cosine_mean": [0.9, 0.95], "e_rmse_reconstruction": [0.2, 0.14],
                  "e_rmse_regressor": [np.nan, 0.07], "roundness_regressor": [np.nan, 0.5],
                  "colour_gr_abs_median": [0.5, 0.04], "colour_ri_abs_median": [0.02, 0.3]}
                 ).to_csv(d / "nguyen/deblending_metrics.csv", index=False)
    pd.DataFrame({"sample": ["cosmos", "parametric", "flowvae"], "rel_diff_sigma": [0.0, -0.03, 0.015],
                  "rel_diff_abs_g": [0.0, 0.0, -0.08],
                  "p_value_second_order": [np.nan, 0.001, 0.2], "p_value_gini_m20": [np.nan, 0.03, 0.5],
                  "p_value_mid": [np.nan, 0.001, 0.02],
                  "difference_low_gini_m20": [np.nan, np.nan, -0.001],
                  "difference_low_mid": [np.nan, np.nan, 0.009]}).to_csv(d / "lanusse/morphology_summary.csv",
                                                                         index=False)
    pd.DataFrame({"sample": ["parametric", "flowvae"] * 2, "statistic": ["gini", "gini", "m20", "m20"],
                  "energy_distance": [0.004, 0.002, 0.01, 0.02]}).to_csv(d / "lanusse/two_sample_tests.csv",
                                                                          index=False)
    return d


def test_each_headline_is_computed_and_judged(tables):
    card = scorecard(tables).set_index("quantity")
    assert list(scorecard(tables).columns) == list(COLUMNS)
    row = card.loc["median |MAP r_Ein error| at sigma = 0.0333"]
    assert row["ours"] == pytest.approx(0.0065) and row["meets"] == "yes"
    assert card.loc["fraction of systems with |MAP r_Ein error| <= 2 % at sigma = 0.0333", "ours"] == 7 / 8
    assert card.loc["posterior half-width of r_Ein (relative) at sigma = 0.0333", "ours"] == pytest.approx(0.01)
    assert card.loc["posterior half-width of r_Ein (relative) at sigma = 0.333", "meets"] == "n/a"
    assert card.loc["median S/N at sigma = 0.0333 over Table 1's", "ours"] == pytest.approx(1.0)
    assert card.loc["coverage of the 68 % intervals of the lens parameters", "ours"] == pytest.approx(7 / 8)
    assert card.loc["median chi2_nu over the source-seen pixels, Euler-Maruyama, true lens", "ours"] == 1.1
    assert card.loc["Spearman correlation of posterior std with magnification", "ours"] == -0.2
    ks = card.loc["largest KS statistic, prior samples against training galaxies (flux, size, ellipticity)"]
    assert ks["ours"] == 0.3 and ks["meets"] == "no"
    em = card.loc["per-pixel 1-std coverage in the source region minus a calibrated posterior's, in Monte-Carlo "
                  "errors, Euler-Maruyama, true lens"]
    assert em["ours"] == pytest.approx(-0.07 / 0.025) and em["meets"] == "no"
    assert card.loc["per-pixel 1-std coverage in the source region minus a calibrated posterior's, in Monte-Carlo "
                    "errors, implicit Euler-Maruyama, true lens", "meets"] == "yes"
    assert card.loc["largest eigenvalue of A^T A (eq. 19 assumes A A^T ~ 1)", "ours"] == 3.0
    assert card.loc["SSIM after training 2, LSST", "meets"] == "yes"
    assert card.loc["cosine similarity after training 2, LSST", "meets"] == "no"
    assert card.loc["regressor RMS ellipticity error over the reconstructions'", "ours"] == pytest.approx(0.5)
    assert card.loc["median |g - r colour error| after training 2, LSST", "ours"] == pytest.approx(0.04)
    assert card.loc["median |g - r colour error| after training 2, LSST", "meets"] == "yes"
    assert card.loc["median |r - i colour error| after training 2, LSST", "meets"] == "no"
    assert card.loc["mean |g| of Flow-VAE samples against COSMOS", "meets"] == "no"
    twins = card.loc["statistic families in which the parametric twins are told from COSMOS (p < 0.01)"]
    assert twins["ours"] == 2 and twins["meets"] == "yes"
    assert card.loc["Flow-VAE's margin over the parametric twins, Gini-M20: lower end of its interval",
                    "meets"] == "no"
    assert card.loc["Flow-VAE's margin over the parametric twins, MID: lower end of its interval",
                    "ours"] == pytest.approx(0.009)


def test_at_least_three_headlines_per_system_and_only_the_systems_that_ran(tables):
    counts = pd.Series([h.system for h in HEADLINES]).value_counts()
    assert (counts >= 3).all() and set(counts.index) == {"chianese", "adam", "nguyen", "lanusse"}
    assert set(scorecard(tables, systems=["nguyen"])["system"]) == {"nguyen"}


def test_a_table_without_a_column_is_named(tables):
    frame = pd.read_csv(tables / "nguyen/deblending_metrics.csv").drop(columns="ssim_mean")
    frame.to_csv(tables / "nguyen/deblending_metrics.csv", index=False)
    with pytest.raises(KeyError, match="SSIM after training 2, LSST"):
        scorecard(tables, systems=["nguyen"])


def test_the_results_page_is_the_scorecard_it_embeds():
    """docs/results.md was made by results_markdown from the CSV it embeds (after a run of the
    quick default): rendering that CSV again gives the page."""
    page = (ROOT / "docs" / "results.md").read_text()
    csv_text = page.split("```csv\n", 1)[1].split("\n```", 1)[0] + "\n"
    card = read_scorecard(io.StringIO(csv_text))
    assert list(card.columns) == list(COLUMNS) and len(card) >= 12
    assert results_markdown(card, csv_text) == page
