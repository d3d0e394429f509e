"""The score prior's training images prepared a chunk at a time into a Zarr array, and
training streamed from it, give what the same images in memory give."""

import numpy as np
import pandas as pd
import torch

from galprior.models.score.data import prepare_training_images, write_training_images
from galprior.models.score.sde import largest_pairwise_distance
from galprior.models.score.training import ScoreTrainingConfig, fit_score_model
from galprior.store import GalaxySet


def test_prepared_images_sigma_max_and_training_from_zarr_equal_those_in_memory(tmp_path, tiny_architecture):
    n = 300  # two chunks of the store (256 + 44)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:16, 0:16] - 7.5
    stamps = (np.exp(-0.5 * ((x[None] - rng.uniform(-2, 2, (n, 1, 1))) ** 2 + y[None] ** 2) / 4.0)
              + rng.normal(0, 0.02, (n, 16, 16))).astype(np.float32)
    props = pd.DataFrame({"ident": np.arange(n), "mag": 22.0, "half_light_radius": 0.5, "flux_radius": 0.5,
                          "redshift": 1.0})
    galaxies = GalaxySet(images=stamps, noiseless=stamps, psf=np.full((n, 3, 3), 1 / 9, np.float32),
                         noise_variance=np.full(n, 4e-4, np.float32), pixel_scale=np.full(n, 0.03, np.float32),
                         properties=props, attrs={"source": "simulated", "product": "chianese", "band": "F814W",
                                                  "image_unit": "1", "noiseless_is_truth": True})
    reader = GalaxySet.open(galaxies.save(tmp_path / "train.zarr"))
    on_disk = write_training_images(reader, 8, tmp_path / "prepared.zarr")
    in_memory = prepare_training_images(stamps, 8)
    np.testing.assert_array_equal(on_disk[...], in_memory)
    assert largest_pairwise_distance(on_disk, chunk=64) == largest_pairwise_distance(in_memory, chunk=64)
    config = ScoreTrainingConfig(steps=25, batch_size=16, lr=1e-3, warmup_steps=2, grad_clip=1.0, ema_decay=0.9,
                                 checkpoint_every=25, augment=True, n_validation=4)  # 25 steps: past one epoch
    a, history_a = fit_score_model(in_memory, in_memory[:4], tiny_architecture, 0.01, 3.0, config, tmp_path / "a", seed=1)
    b, history_b = fit_score_model(on_disk, in_memory[:4], tiny_architecture, 0.01, 3.0, config, tmp_path / "b", seed=1)
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert history_a.equals(history_b)
