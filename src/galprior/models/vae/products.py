"""Workflow products of the VAE: training from galaxy stores, reconstructions of tests."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd
import torch

from galprior.store import GalaxySet, ReconstructionSet, StoreReader
from galprior.models.registry import save_model
from galprior.models.vae.network import VAE
from galprior.models.vae.reconstruction import reconstruct, rotation_reconstructions
from galprior.models.vae.training import fit_vae, vae_history_frame

logger = logging.getLogger(__name__)


def train_vae_on_galaxies(
    train: GalaxySet | StoreReader, val: GalaxySet | StoreReader, *, architecture: dict[str, Any],
    training: dict[str, Any], seed: int, checkpoint_dir: str | os.PathLike,
    model_dir: str | os.PathLike, device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """Build and train a VAE on ``device``, save it to ``model_dir``; return the loss history.

    ``train`` and ``val``: galaxy sets, or their stores opened lazily (:meth:`GalaxySet.open`:
    the images are then streamed chunk by chunk).
    """
    torch.manual_seed(seed)  # weight initialisation
    model = VAE(**architecture)
    options = dict(training)
    options["betas"] = tuple(options["betas"])
    history = fit_vae(model, _images(train), _images(val), checkpoint_dir=checkpoint_dir,
                      seed=seed, device=device, **options)
    save_model(model, model_dir)
    return vae_history_frame(history)


def _images(galaxies: GalaxySet | StoreReader):
    return galaxies if isinstance(galaxies, StoreReader) else galaxies.images


def reconstruction_set(model: VAE, test: GalaxySet, n_galaxies: int,
                       angles: tuple[float, ...], seed: int) -> ReconstructionSet:
    """Reconstructions (Fig. 2) and the rotation test (Fig. 3) of the first test galaxies."""
    index = np.arange(min(n_galaxies, len(test)))
    images = test.images[index]
    noise_sigma = np.sqrt(np.asarray(test.noise_variance[index], np.float64))
    rotated_inputs, rotated_recons, derotated = rotation_reconstructions(
        model, images, noise_sigma, angles, seed=seed)
    return ReconstructionSet(
        images=images,
        reconstructions=reconstruct(model, images, sample=True, seed=seed).astype(np.float32),
        rotated_inputs=rotated_inputs, rotated_reconstructions=rotated_recons, rotated=derotated,
        galaxy_index=index.astype(np.int64),
        attrs={"angles": [float(a) for a in angles], "galaxy_source": test.attrs["source"]},
    )
