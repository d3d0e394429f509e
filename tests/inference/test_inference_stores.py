import numpy as np

from galprior.store import MapResultSet, PosteriorSampleSet


def test_posterior_sample_set_round_trip(tmp_path):
    s, l, c, n, p = 2, 1, 2, 5, 3
    store = PosteriorSampleSet(
        samples=np.zeros((s, l, c, n, p), np.float32), r_hat=np.ones((s, l, p)), ess=np.ones((s, l, p)),
        divergences=np.zeros((s, l, c), np.int64), grad_evals=np.ones((s, l, c, n), np.int64),
        tree_depth_hits=np.zeros((s, l, c), np.int64), step_size=np.ones((s, l, c)), wall_time=np.ones((s, l)),
        attrs={"parameter_names": ["a", "b", "c"], "hmc_config": {}, "noise_sigma": [0.1],
               "r_hat_method": "split"})
    back = PosteriorSampleSet.load(store.save(tmp_path / "post.zarr"))
    assert back.samples.shape == (s, l, c, n, p) and back.attrs["parameter_names"] == ["a", "b", "c"]


def test_map_result_set_round_trip(tmp_path):
    s, l, r, t = 2, 3, 4, 5
    store = MapResultSet(
        lens_parameters=np.zeros((s, l, 8)), source_parameters=np.zeros((s, l, 4)), latents=np.zeros((s, l, 6)),
        log_posterior=np.zeros((s, l, r)), best_restart=np.zeros((s, l), np.int64), restarts_tried=np.full((s, l), r, np.int64),
        loss_trace=np.zeros((s, l, r, t), np.float32), reduced_chi2=np.ones((s, l)), wall_time=np.ones((s, l)),
        model_images=np.zeros((s, l, 7, 7), np.float32), source_plane=np.zeros((s, l, 5, 5), np.float32),
        source_plane_truth=np.zeros((s, 5, 5), np.float32),
        attrs={"lens_parameter_names": [], "source_parameter_names": [], "map_config": {}, "noise_sigma": [1, 2, 3]})
    back = MapResultSet.load(store.save(tmp_path / "map.zarr"))
    assert back.loss_trace.shape == (s, l, r, t) and back.source_plane.shape == (s, l, 5, 5)
