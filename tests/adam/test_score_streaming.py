"""The score prior trains on its galaxies streamed from the score-galaxy store (rule
train_score_model opens it lazily: a shuffle buffer of chunks at a time), with exactly the
weights and history that the same images in memory give, and sigma_max computed block by
block equal to the in-memory value."""

import numpy as np
import torch

from galprior.models.score.sde import largest_pairwise_distance
from galprior.models.score.training import ScoreTrainingConfig, fit_score_model
from galprior.store import ScoreGalaxySet


def test_training_streamed_from_the_store_equals_training_in_memory(tmp_path, tiny_architecture):
    n = 300  # two chunks of the store (256 + 44)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:8, 0:8] - 3.5
    images = (np.exp(-0.5 * ((x[None] - rng.uniform(-2, 2, (n, 1, 1))) ** 2 + y[None] ** 2) / 2.0)
              + rng.normal(0, 0.02, (n, 8, 8))).astype(np.float32)
    galaxies = ScoreGalaxySet(images=images, source_index=np.arange(n, dtype=np.int64),
                              attrs={"source": "test", "split": "train", "normalisation": "unit_peak",
                                     "source_size": 8, "names": [str(i) for i in range(n)]})
    reader = ScoreGalaxySet.open(galaxies.save(tmp_path / "train.zarr"))
    on_disk = reader.array("images")  # a Zarr array: nothing read until indexed
    assert largest_pairwise_distance(on_disk, chunk=64) == largest_pairwise_distance(images, chunk=64)
    config = ScoreTrainingConfig(steps=25, batch_size=16, lr=1e-3, warmup_steps=2, grad_clip=1.0, ema_decay=0.9,
                                 checkpoint_every=25, augment=True, n_validation=4)  # 25 steps: past one epoch
    a, history_a = fit_score_model(images, images[:4], tiny_architecture, 0.01, 3.0, config, tmp_path / "a", seed=1)
    b, history_b = fit_score_model(on_disk, images[:4], tiny_architecture, 0.01, 3.0, config, tmp_path / "b", seed=1)
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert history_a.equals(history_b)


def test_sigma_max_is_chosen_from_a_zarr_array(tmp_path):
    """rule train_score_model hands train_score_prior the store's Zarr array, not numpy."""
    from galprior.models.score.products import choose_sigma_max

    images = np.random.default_rng(1).normal(size=(5, 4, 4)).astype(np.float32)
    galaxies = ScoreGalaxySet(images=images, source_index=np.arange(5, dtype=np.int64),
                              attrs={"source": "test", "split": "train", "normalisation": "unit_peak",
                                     "source_size": 4, "names": [str(i) for i in range(5)]})
    array = ScoreGalaxySet.open(galaxies.save(tmp_path / "train.zarr")).array("images")
    assert choose_sigma_max(array, None) == largest_pairwise_distance(images)
    assert choose_sigma_max(array, 263.4) == 263.4
