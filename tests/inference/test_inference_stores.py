"""The Chianese inference stores keep every value they are given (seeded random values,
not zeros or ones, so that a dropped, transposed or re-typed array is seen)."""

import numpy as np
import pytest

from galprior.store import MapResultSet, PosteriorSampleSet
from galprior.store.base import StoreError


def test_posterior_sample_set_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    s, l, c, n, p = 2, 1, 3, 5, 4
    arrays = dict(
        samples=rng.normal(size=(s, l, c, n, p)).astype(np.float32), r_hat=rng.uniform(0.9, 1.2, (s, l, p)),
        ess=rng.uniform(10, 500, (s, l, p)), divergences=rng.integers(0, 9, (s, l, c)),
        grad_evals=rng.integers(1, 1024, (s, l, c, n)), tree_depth_hits=rng.integers(0, 5, (s, l, c)),
        step_size=rng.uniform(0.01, 1, (s, l, c)), wall_time=rng.uniform(1, 60, (s, l)))
    attrs = {"parameter_names": ["a", "b", "c", "d"], "hmc_config": {"num_samples": n},
             "noise_sigma": [0.1], "r_hat_method": "split"}
    back = PosteriorSampleSet.load(PosteriorSampleSet(**arrays, attrs=attrs).save(tmp_path / "post.zarr"))
    for name, value in arrays.items():
        np.testing.assert_array_equal(getattr(back, name), value, err_msg=name)
        assert getattr(back, name).dtype == value.dtype, name
    assert {key: back.attrs[key] for key in attrs} == attrs


def _posterior_part(system: int, rng: np.random.Generator, hmc_config: dict | None = None) -> PosteriorSampleSet:
    l, c, n, p = 3, 1, 5, 4
    return PosteriorSampleSet(
        samples=rng.normal(size=(1, l, c, n, p)).astype(np.float32), r_hat=rng.uniform(1, 1.1, (1, l, p)),
        ess=rng.uniform(10, 500, (1, l, p)), divergences=np.zeros((1, l, c), np.int64),
        grad_evals=np.ones((1, l, c, n), np.int64), tree_depth_hits=np.zeros((1, l, c), np.int64),
        step_size=np.ones((1, l, c)), wall_time=np.ones((1, l)),
        attrs={"parameter_names": list("abcd"), "hmc_config": hmc_config or {"num_samples": n},
               "noise_sigma": [0.3, 0.1, 0.03], "r_hat_method": "split", "systems": [system]})


def test_posterior_parts_merge_in_order(tmp_path):
    rng = np.random.default_rng(3)
    parts = [_posterior_part(3, rng), _posterior_part(0, rng)]
    back = PosteriorSampleSet.load(PosteriorSampleSet.concatenate(parts).save(tmp_path / "post.zarr"))
    assert back.attrs["systems"] == [3, 0]
    np.testing.assert_array_equal(back.samples[1], parts[1].samples[0])
    np.testing.assert_array_equal(back.ess[0], parts[0].ess[0])


def test_posterior_parts_with_other_settings_or_a_repeated_system_are_refused():
    rng = np.random.default_rng(4)
    with pytest.raises(StoreError, match="hmc_config"):
        PosteriorSampleSet.concatenate([_posterior_part(0, rng), _posterior_part(3, rng, {"num_samples": 9})])
    with pytest.raises(StoreError, match="several parts"):
        PosteriorSampleSet.concatenate([_posterior_part(0, rng), _posterior_part(0, rng)])


def test_map_result_set_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    s, l, r, t = 2, 3, 4, 5
    arrays = dict(
        lens_parameters=rng.normal(size=(s, l, 8)), source_parameters=rng.normal(size=(s, l, 4)),
        latents=rng.normal(size=(s, l, 6)), log_posterior=rng.normal(size=(s, l, r)),
        best_restart=rng.integers(0, r, (s, l)), restarts_tried=rng.integers(1, r + 1, (s, l)),
        loss_trace=rng.normal(size=(s, l, r, t)).astype(np.float32), reduced_chi2=rng.uniform(0.5, 2, (s, l)),
        wall_time=rng.uniform(1, 60, (s, l)), model_images=rng.normal(size=(s, l, 7, 7)).astype(np.float32),
        source_plane=rng.normal(size=(s, l, 5, 5)).astype(np.float32),
        source_plane_truth=rng.normal(size=(s, 5, 5)).astype(np.float32))
    attrs = {"lens_parameter_names": list("abcdefgh"), "source_parameter_names": list("wxyz"),
             "map_config": {"n_restarts": r}, "noise_sigma": [1, 2, 3]}
    back = MapResultSet.load(MapResultSet(**arrays, attrs=attrs).save(tmp_path / "map.zarr"))
    for name, value in arrays.items():
        np.testing.assert_array_equal(getattr(back, name), value, err_msg=name)
        assert getattr(back, name).dtype == value.dtype, name
    assert {key: back.attrs[key] for key in attrs} == attrs
