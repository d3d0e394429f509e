"""Morphology statistics against analytic profiles and closed forms; two-sample tests."""

import galsim
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from galprior.metrics import morphology as mo

SCALE = 0.03
SEGMENTATION = {"threshold_nsigma": 1.5, "npixels": 5, "smoothing_sigma": 1.0,
                "centre_radius": 5.0}


def _draw(profile, n=64):
    return profile.drawImage(nx=n, ny=n, scale=SCALE, method="no_pixel").array


def test_hsm_moments_of_a_sheared_gaussian():
    """Shear preserves area: the determinant radius stays sigma, |g| is the shear."""
    image = _draw(galsim.Gaussian(sigma=0.15, flux=10.0).shear(g1=0.24, g2=-0.18))
    row = mo.hsm_moments(image, SCALE)
    assert row["sigma"] == pytest.approx(0.15, rel=2e-3)
    assert row["abs_g"] == pytest.approx(0.3, abs=2e-3)
    assert row["g1"] == pytest.approx(0.24, abs=2e-3) and row["hsm_flag"] == 0
    assert row["flux"] == pytest.approx(10.0, rel=1e-3)


def test_statmorph_on_analytic_profiles():
    rng = np.random.default_rng(0)
    noise = 1e-4

    def measure(profile):
        image = _draw(profile) + rng.normal(scale=noise, size=(64, 64))
        return mo.statmorph_statistics(image, noise, **SEGMENTATION)

    expo = measure(galsim.Exponential(half_light_radius=0.25, flux=5.0))
    devauc = measure(galsim.DeVaucouleurs(half_light_radius=0.25, flux=5.0))
    pair = measure(galsim.Add(galsim.Gaussian(sigma=0.08, flux=2.5).shift(-0.15, 0),
                              galsim.Gaussian(sigma=0.08, flux=2.5).shift(0.15, 0)))
    # a de Vaucouleurs profile concentrates its light more than an exponential one
    assert devauc["gini"] > expo["gini"] + 0.05
    assert devauc["m20"] < expo["m20"]
    # single symmetric profiles: unimodal, centred; two equal nuclei: M and I near 1 and
    # the brightest peak far from the centroid (large D)
    for single in (expo, devauc):
        assert single["multimode"] < 0.2 and single["deviation"] < 0.05
    assert pair["multimode"] > 0.8 and pair["intensity"] > 0.8 and pair["deviation"] > 0.2
    assert max(r["statmorph_flag"] for r in (expo, devauc, pair)) <= 1


def test_five_statistics_equal_full_statmorph():
    """Computing only Gini, M20, M, I, D gives statmorph's values and flag bit for bit."""
    import statmorph

    rng = np.random.default_rng(5)
    noise = 1e-3
    for profile in (galsim.Sersic(n=1.5, half_light_radius=0.2, flux=3.0).shear(g1=0.3, g2=0.1),
                    galsim.Add(galsim.Exponential(half_light_radius=0.3, flux=2.0),
                               galsim.Gaussian(sigma=0.05, flux=0.5).shift(0.2, 0.1))):
        image = _draw(profile) + rng.normal(scale=noise, size=(64, 64))
        segmap, label = mo.central_segment(image, noise, **SEGMENTATION)
        weights = np.full_like(image, noise)
        full = statmorph.SourceMorphology(image, segmap, label, weightmap=weights,
                                          sersic_maxiter=1, min_cutout_size=48)
        row = mo.statmorph_statistics(image, noise, **SEGMENTATION)
        assert [row[c] for c in mo.HIGHER_ORDER] == [float(full[c]) for c in mo.HIGHER_ORDER]
        assert row["statmorph_flag"] == full.flag


def test_no_source_gives_nan_and_flag():
    row = mo.statmorph_statistics(np.zeros((32, 32)), 1.0,
                                  **SEGMENTATION)
    assert row["statmorph_flag"] == 5 and np.isnan(row["gini"])


def test_energy_distance_matches_scipy_in_one_dimension():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=80), rng.normal(0.4, 1.3, size=60)
    assert mo.energy_distance(x, y) == pytest.approx(scipy.stats.energy_distance(x, y) ** 2,
                                                     rel=1e-10)
    assert mo.energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)


def test_two_sample_test_separates_shifted_samples():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 2))
    same = mo.two_sample_test(x, rng.normal(size=(150, 2)), n_bootstrap=50,
                              n_permutations=99, seed=0, alpha=0.01)
    shifted = mo.two_sample_test(x, rng.normal(0.5, 1.0, size=(150, 2)), n_bootstrap=50,
                                 n_permutations=99, seed=0, alpha=0.01)
    assert shifted["p_value"] <= 0.02 and same["p_value"] > 0.05
    assert shifted["distance"] > same["distance"] + shifted["distance_std"]
    assert abs(same["distance"]) < 3 * same["distance_std"]


def test_summary_columns_and_relative_differences():
    rng = np.random.default_rng(4)
    rows = []
    for sample, scale in (("cosmos", 1.0), ("parametric", 1.2), ("flowvae", 1.0)):
        frame = pd.DataFrame({c: rng.normal(1.0, 0.1, 40) for c in mo.HIGHER_ORDER})
        frame["sigma"] = rng.normal(0.2 * scale, 0.02, 40)
        frame["abs_g"] = rng.normal(0.3, 0.05, 40)
        rows.append(frame.assign(sample=sample))
    summary, tests = mo.morphology_summary(pd.concat(rows), n_bootstrap=50, n_permutations=99,
                                           seed=0, alpha=0.05, power=0.8, confidence=0.9)
    assert list(summary["sample"]) == ["cosmos", "parametric", "flowvae"]
    assert {"sample", "n", "mean_sigma", "mean_abs_g", "gini_mean", "m20_mean",
            "distance_to_cosmos"} <= set(summary.columns)
    assert summary.set_index("sample").loc["parametric", "rel_diff_sigma"] == pytest.approx(
        0.2, abs=0.03)
    assert set(tests["statistic"]) >= {"gini", "m20", "mid", "gini_m20", "higher_order",
                                       "second_order"}
    assert set(tests["sample"]) == {"parametric", "flowvae"}
    # the twins' sizes differ from the data's (a shift of 2 stds), the Flow-VAE's do not
    size = tests[tests["statistic"] == "sigma"].set_index("sample")
    assert size.loc["parametric", "decided"] and not size.loc["flowvae", "decided"]
    assert size.loc["flowvae", "difference_low"] > 0  # the Flow-VAE is closer
    assert {"distance_gini_m20", "distance_low_mid", "p_value_second_order",
            "difference_to_parametric_mid"} <= set(summary.columns)


def test_conditioning_numbers():
    table = pd.DataFrame({"delta_sigma": [0.1, -0.1, 0.0, 0.2, np.nan],
                          "delta_mag": [0.3, 0.3, 0.3, 0.3, 0.3]})
    numbers = mo.conditioning_numbers(table)
    assert numbers["conditioning_size_median"] == pytest.approx(0.05)
    assert numbers["conditioning_size_scatter"] == pytest.approx(1.4826 * 0.1)
    assert numbers["conditioning_mag_median"] == pytest.approx(0.3)
    assert numbers["conditioning_mag_scatter"] == 0.0
