"""The Flow-VAE trained from a galaxy store opened lazily (stamps cropped batch by batch)
ends with the same weights as trained from the same galaxies cropped in memory."""

import numpy as np
import pandas as pd
import torch

from galprior.models.flowvae.network import FlowVAE
from galprior.models.flowvae.products import data_of
from galprior.models.flowvae.training import VAETrainingSettings, encode_posteriors, fit_flow_vae
from galprior.store import GalaxySet


def _galaxy_store(simulated_stamps, tmp_path, first, stop):
    images, psf, power, conditions, stamps = simulated_stamps
    sl = slice(first, stop)
    props = pd.DataFrame({"ident": np.arange(first, stop), "mag": conditions[sl, 0],
                          "half_light_radius": conditions[sl, 1], "flux_radius": conditions[sl, 1],
                          "redshift": conditions[sl, 2]})
    galaxies = GalaxySet(images=images[sl], noiseless=images[sl], psf=psf[sl], noise_power=power[sl],
                         noise_variance=np.full(stop - first, 1e-4, np.float32),
                         pixel_scale=np.full(stop - first, 0.03, np.float32), properties=props,
                         attrs={"source": "simulated", "product": "lanusse", "band": "F814W", "image_unit": "1",
                                "noiseless_is_truth": True})
    return galaxies, GalaxySet.open(galaxies.save(tmp_path / f"g{first}.zarr"))


def test_training_from_a_store_equals_training_in_memory(tmp_path, defaults, tiny_architecture, simulated_stamps):
    train_set, train_reader = _galaxy_store(simulated_stamps, tmp_path, 0, 8)
    val_set, val_reader = _galaxy_store(simulated_stamps, tmp_path, 8, 12)
    settings = VAETrainingSettings(**{**defaults["vae"]["training"], "epochs": 2, "batch_size": 4, "augment": True})
    models = []
    for name, (train, val) in {"memory": (train_set, val_set), "store": (train_reader, val_reader)}.items():
        torch.manual_seed(0)
        model = FlowVAE(image_size=16, **tiny_architecture)  # a crop of the 32^2 stamps, batch by batch
        fit_flow_vae(model, data_of(train, 16), data_of(val, 16), settings, checkpoint_dir=tmp_path / name,
                     device=torch.device("cpu"), seed=1, progress=False)
        models.append(model)
    for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    q_memory = encode_posteriors(models[0], data_of(train_set, 16), 3, torch.device("cpu"))
    q_store = encode_posteriors(models[0], data_of(train_reader, 16), 3, torch.device("cpu"))
    torch.testing.assert_close(q_memory.mean, q_store.mean, rtol=0, atol=0)
