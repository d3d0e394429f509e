"""Honest sampler diagnostics: R-hat only where defined, tree-depth hits, flags in the tables."""

from __future__ import annotations

import numpy as np
import pytest

from galprior.inference.hmc import chain_diagnostics
from galprior.inference.mocks import r_hat_method, tree_depth_hits
from galprior.metrics.lens_recovery import (POSTERIOR_COLUMNS, flag_posteriors, recovery_summary,
                                            recovery_table, trusted_coverage, trusted_posteriors)
from galprior.store import PosteriorSampleSet, StoreError


def _posterior(r_hat, ess, divergences, hits, n=10, systems=(0, 2)):
    s, l, c, p = len(systems), 2, 1, 2
    return PosteriorSampleSet(
        samples=np.zeros((s, l, c, n, p), np.float32), r_hat=np.asarray(r_hat, float),
        ess=np.asarray(ess, float), divergences=np.asarray(divergences, np.int64),
        tree_depth_hits=np.asarray(hits, np.int64), grad_evals=np.ones((s, l, c, n), np.int64),
        step_size=np.ones((s, l, c)), wall_time=np.ones((s, l)),
        attrs={"parameter_names": ["theta_E", "q"], "hmc_config": {}, "noise_sigma": [0.1, 0.01],
               "systems": list(systems), "r_hat_method": r_hat_method(c)})


def test_undefined_r_hat_is_stored_as_missing_not_as_one(tmp_path):
    r_hat = np.full((2, 2, 2), np.nan)
    store = _posterior(r_hat, np.ones((2, 2, 2)), np.zeros((2, 2, 1)), np.zeros((2, 2, 1)))
    back = PosteriorSampleSet.load(store.save(tmp_path / "p.zarr"))
    assert np.isnan(back.r_hat).all()
    assert "ONE chain" in back.attrs["r_hat_method"] and "split R-hat" in back.attrs["r_hat_method"]
    store.samples[0, 0, 0, 3, 1] = np.nan  # NaN only where the layout allows it
    with pytest.raises(StoreError, match=r"array 'samples' holds a non-finite value \(first at index \[0, 0, 0, 3, 1\]\)"):
        store.save(tmp_path / "q.zarr")
    assert not (tmp_path / "q.zarr").exists()


def test_split_r_hat_of_a_stuck_chain_is_nan_and_of_a_drifting_one_large():
    rng = np.random.default_rng(0)
    stuck = np.zeros((1, 50, 1))
    drifting = np.linspace(0, 10, 100)[None, :, None] + rng.normal(size=(1, 100, 1))
    mixing = rng.normal(size=(2, 400, 1))
    assert np.isnan(chain_diagnostics(stuck)[0]).all()
    assert chain_diagnostics(drifting)[0][0] > 1.5  # the two halves disagree
    assert abs(chain_diagnostics(mixing)[0][0] - 1.0) < 0.02
    assert r_hat_method(4).endswith("4 chains, 8 half-chains")


def test_tree_depth_hits_count_samples_at_the_step_cap(hmc_config):
    nuts = hmc_config(sampler="nuts", max_tree_depth=3)
    evals = np.array([[7, 3, 7, 1], [2, 2, 2, 6]])  # NUTS depth 3: at most 2^3 - 1 = 7 steps
    np.testing.assert_array_equal(tree_depth_hits(evals, nuts), [2, 0])
    hmc = hmc_config(sampler="hmc", max_tree_depth=3)  # HMC: at most 2^3 = 8 steps
    np.testing.assert_array_equal(tree_depth_hits(np.array([[7, 8, 8, 1]]), hmc), [2])


def _table():
    """A recovery table of systems 0-2 at two noise levels; system 1 was not sampled."""
    rng = np.random.default_rng(1)
    table = recovery_table(np.ones((3, 2)), np.full((3, 2, 2), 1.01), rng.normal(1.0, 0.1, (3, 2, 200, 2)),
                           ["theta_E", "q"], [0.1, 0.01])
    unsampled = table["system"] == 1
    table[[c for c in POSTERIOR_COLUMNS if c in table]] = table[
        [c for c in POSTERIOR_COLUMNS if c in table]].astype(float)
    table.loc[unsampled, [c for c in POSTERIOR_COLUMNS if c in table]] = np.nan
    return table.assign(snr=20.0)


THRESHOLDS = {"r_hat_max": 1.1, "ess_min": 100, "divergences_max": 0,
              "tree_depth_hit_fraction_max": 0.1}


def test_failing_posteriors_are_flagged_by_name_and_left_out_of_coverage_and_summary():
    r_hat = np.ones((2, 2, 2))
    r_hat[1, 0, 0] = 1.5          # system 2, sigma 0.1, theta_E
    r_hat[0, 1, :] = np.nan       # system 0, sigma 0.01: undefined, not a failure by itself
    ess = np.full((2, 2, 2), 500.0)
    ess[0, 1, 1] = 20.0           # system 0, sigma 0.01, q
    divergences = np.zeros((2, 2, 1))
    divergences[1, 1, 0] = 3      # system 2, sigma 0.01 (every parameter)
    hits = np.zeros((2, 2, 1))
    table = flag_posteriors(_table(), _posterior(r_hat, ess, divergences, hits), THRESHOLDS)
    flag = table.set_index(["system", "noise_sigma", "parameter"])["diagnostics_flag"]
    assert flag[2, 0.1, "theta_E"] == "r_hat>1.1"
    assert flag[2, 0.1, "q"] == ""
    assert flag[0, 0.01, "theta_E"] == "" and np.isnan(table.set_index(
        ["system", "noise_sigma", "parameter"])["r_hat"][0, 0.01, "theta_E"])
    assert flag[0, 0.01, "q"] == "ess<100"
    assert flag[2, 0.01, "theta_E"] == flag[2, 0.01, "q"] == "divergences>0"
    assert (flag[1] == "").all()  # not sampled: nothing to flag

    coverage = trusted_coverage(table).set_index(["noise_sigma", "parameter"])
    assert coverage.loc[(0.1, "theta_E"), "n_posteriors"] == 1
    assert coverage.loc[(0.1, "theta_E"), "n_flagged"] == 1
    assert coverage.loc[(0.01, "q"), "n_posteriors"] == 0 and np.isnan(coverage.loc[(0.01, "q"), "coverage68"])
    summary = recovery_summary(trusted_posteriors(table.assign(q16=0.5)))
    blanked = trusted_posteriors(table)
    assert blanked.loc[blanked["diagnostics_flag"] != "", "q16"].isna().all()
    assert set(summary["n_systems"]) == {3}  # MAP rows of every system stay in the summary


def test_too_many_tree_depth_hits_are_flagged():
    hits = np.zeros((2, 2, 1))
    hits[0, 0, 0] = 2  # 2 of 10 samples > 10 %
    table = flag_posteriors(_table(), _posterior(np.ones((2, 2, 2)), np.full((2, 2, 2), 500.0),
                                                 np.zeros((2, 2, 1)), hits), THRESHOLDS)
    assert set(table.loc[(table.system == 0) & (table.noise_sigma == 0.1), "diagnostics_flag"]) == {
        "tree_depth_hits>0.1"}
